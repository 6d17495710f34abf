/**
 * Writes the procedural test meshes of assets/meshes/ as binary little-endian PLY (Z up as Blender's world, so they
 * load without axis conversion) and as GLB (Y up, as glTF; readMesh turns it Z up like Blender's importer): a chair (boxes), a mug (open cylinder with wall thickness, rim, bottom and a torus
 * handle) and a toy (ellipsoid body, head, ears and limbs). Shared vertices are welded, so faces of one part are
 * edge-connected (the 3-D occlusion grows patches over shared edges).
 *
 * Usage: node --import tsx tools/make-meshes.ts
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Document, NodeIO } from '@gltf-transform/core';
import { type Mesh, writePlyBinary } from '../src/data/mesh-io.ts';

type V3 = [number, number, number];

/** Collects triangles, welding vertices with equal (rounded) coordinates. */
class Builder {
  private readonly pos: number[] = [];
  private readonly faces: number[] = [];
  private readonly index = new Map<string, number>();

  vertex(p: V3): number {
    const q = p.map((c) => Math.round(c * 1e6) / 1e6) as V3;
    const key = q.join(',');
    let i = this.index.get(key);
    if (i === undefined) {
      i = this.pos.length / 3;
      this.pos.push(...q);
      this.index.set(key, i);
    }
    return i;
  }

  tri(a: V3, b: V3, c: V3): void {
    const ia = this.vertex(a);
    const ib = this.vertex(b);
    const ic = this.vertex(c);
    if (ia !== ib && ib !== ic && ia !== ic) this.faces.push(ia, ib, ic);
  }

  quad(a: V3, b: V3, c: V3, d: V3): void {
    this.tri(a, b, c);
    this.tri(a, c, d);
  }

  /** A parametric surface on a (nu x nv) grid. */
  grid(nu: number, nv: number, f: (u: number, v: number) => V3): void {
    for (let i = 0; i < nu; i++) {
      for (let j = 0; j < nv; j++) {
        this.quad(
          f(i / nu, j / nv),
          f((i + 1) / nu, j / nv),
          f((i + 1) / nu, (j + 1) / nv),
          f(i / nu, (j + 1) / nv),
        );
      }
    }
  }

  /** Axis-aligned box from `lo` to `hi`, each side split n x n. */
  box(lo: V3, hi: V3, n: number): void {
    const at = (a: number, t: number) => lo[a]! + (hi[a]! - lo[a]!) * t;
    for (let axis = 0; axis < 3; axis++) {
      const u = (axis + 1) % 3;
      const w = (axis + 2) % 3;
      for (const side of [0, 1]) {
        this.grid(n, n, (s, t) => {
          const p: V3 = [0, 0, 0];
          p[axis] = at(axis, side);
          p[u] = at(u, side ? s : t);
          p[w] = at(w, side ? t : s);
          return p;
        });
      }
    }
  }

  /** Ellipsoid with radii r around c (UV sphere, poles welded). */
  ellipsoid(c: V3, r: V3, seg: number, rings: number): void {
    this.grid(seg, rings, (u, v) => {
      const phi = u * 2 * Math.PI;
      const th = v * Math.PI;
      return [
        c[0] + r[0] * Math.sin(th) * Math.cos(phi),
        c[1] + r[1] * Math.sin(th) * Math.sin(phi),
        c[2] - r[2] * Math.cos(th),
      ];
    });
  }

  mesh(): Mesh {
    return { positions: new Float32Array(this.pos), faces: new Uint32Array(this.faces) };
  }
}

function chair(): Mesh {
  const b = new Builder();
  b.box([-0.4, -0.4, 0.45], [0.4, 0.4, 0.52], 4);
  for (const x of [-0.37, 0.31])
    for (const y of [-0.37, 0.31]) b.box([x, y, 0], [x + 0.06, y + 0.06, 0.45], 2);
  b.box([-0.4, 0.34, 0.52], [0.4, 0.4, 1.1], 3);
  return b.mesh();
}

function mug(): Mesh {
  const b = new Builder();
  const seg = 24;
  const ring = (r: number, z: number, u: number): V3 => [
    r * Math.cos(u * 2 * Math.PI),
    r * Math.sin(u * 2 * Math.PI),
    z,
  ];
  b.grid(seg, 3, (u, v) => ring(0.4, 0.9 * v, u)); // outer wall
  b.grid(seg, 3, (u, v) => ring(0.36, 0.9 - 0.84 * v, u)); // inner wall, top to bottom
  b.grid(seg, 1, (u, v) => ring(0.36 + 0.04 * v, 0.9, u)); // rim
  b.grid(seg, 1, (u, v) => ring(0.4 * (1 - v), 0, u)); // outer bottom
  b.grid(seg, 1, (u, v) => ring(0.36 * v, 0.06, u)); // inner bottom
  // Handle: a torus in the x-z plane beside the wall.
  b.grid(16, 6, (u, v) => {
    const a = u * 2 * Math.PI;
    const t = v * 2 * Math.PI;
    const rr = 0.22 + 0.05 * Math.cos(t);
    return [0.42 + rr * Math.cos(a), 0.05 * Math.sin(t), 0.45 + rr * Math.sin(a)];
  });
  return b.mesh();
}

function toy(): Mesh {
  const b = new Builder();
  b.ellipsoid([0, 0, 0.35], [0.26, 0.22, 0.3], 12, 8); // body
  b.ellipsoid([0, 0, 0.82], [0.2, 0.19, 0.19], 12, 8); // head
  for (const s of [-1, 1]) {
    b.ellipsoid([s * 0.14, 0, 1.0], [0.07, 0.04, 0.07], 8, 6); // ears
    b.ellipsoid([s * 0.3, 0, 0.45], [0.07, 0.07, 0.18], 8, 6); // arms
    b.ellipsoid([s * 0.13, -0.05, 0.08], [0.08, 0.12, 0.08], 8, 6); // feet
  }
  b.ellipsoid([0, -0.19, 0.8], [0.06, 0.05, 0.05], 8, 6); // snout
  return b.mesh();
}

export const PROCEDURAL_MESHES: Record<string, () => Mesh> = { chair, mug, toy };

/**
 * The mesh as a GLB (one node, one indexed TRIANGLES primitive, no material). glTF is Y-up: positions are written
 * as (x, z, -y), which Blender's importer (and readMesh) turns back into (x, y, z).
 */
async function toGlb(m: Mesh): Promise<Uint8Array> {
  const doc = new Document();
  const buf = doc.createBuffer();
  const p = new Float32Array(m.positions.length);
  for (let i = 0; i < p.length; i += 3) {
    p[i] = m.positions[i]!;
    p[i + 1] = m.positions[i + 2]!;
    p[i + 2] = 0 - m.positions[i + 1]!; // 0 - y keeps +0 for 0
  }
  const prim = doc
    .createPrimitive()
    .setAttribute('POSITION', doc.createAccessor().setType('VEC3').setArray(p).setBuffer(buf))
    .setIndices(doc.createAccessor().setType('SCALAR').setArray(new Uint16Array(m.faces)).setBuffer(buf));
  doc.createScene().addChild(doc.createNode().setMesh(doc.createMesh().addPrimitive(prim)));
  return new NodeIO().writeBinary(doc);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = fileURLToPath(new URL('../assets/meshes/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  for (const [name, make] of Object.entries(PROCEDURAL_MESHES)) {
    const m = make();
    const bytes = writePlyBinary(m);
    writeFileSync(join(dir, `${name}.ply`), bytes);
    const glb = await toGlb(m);
    writeFileSync(join(dir, `${name}.glb`), glb);
    console.log(
      `${name}: ${m.positions.length / 3} vertices, ${m.faces.length / 3} faces; .ply ${bytes.length} bytes, .glb ${glb.length} bytes`,
    );
  }
}
