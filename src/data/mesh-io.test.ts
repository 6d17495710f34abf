/**
 * Mesh input: OBJ/PLY parsing, degenerate faces, limits, normalisation, axis conversion; GLB/glTF written with
 * @gltf-transform/core (node hierarchy with transforms, several primitives, non-triangle primitives, missing
 * textures) and read back.
 */

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Document, NodeIO } from '@gltf-transform/core';
import {
  dropDegenerateFaces,
  finishMesh,
  normalizeMesh,
  parseObj,
  parsePly,
  readMesh,
  writePlyBinary,
} from './mesh-io.ts';

const ASSETS = fileURLToPath(new URL('../../assets/meshes/', import.meta.url));

test('OBJ: quads fan-triangulated, negative and slashed indices, clear errors with line numbers', () => {
  const { mesh } = parseObj('v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1/1/1 2/2/2 3//3 4\nf -4 -3 -1\n');
  assert.deepEqual([...mesh.faces], [0, 1, 2, 0, 2, 3, 0, 1, 3]);
  assert.equal(mesh.positions.length, 12);
  assert.throws(() => parseObj('v 0 0 0\nf 1 2 3\n', 'x.obj'), /x\.obj:2: face index 2 out of range/);
  assert.throws(() => parseObj('v 0 0\n', 'x.obj'), /x\.obj:1: vertex needs 3 coordinates/);
  assert.throws(() => parseObj('v 0 0 0\nv 1 0 0\nf 1 2\n'), /fewer than 3 vertices/);
  assert.throws(
    () => parseObj('v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\nf 1 2 3\n', 'big.obj', 1),
    /2 triangles exceed the limit of 1 \(MESH_FACE_LIMIT\)/,
  );
});

test('PLY: binary round trip, ASCII with extra properties, unsupported and truncated files', () => {
  const mesh = {
    positions: new Float32Array([0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1.5]),
    faces: new Uint32Array([0, 1, 2, 0, 1, 3]),
  };
  const back = parsePly(writePlyBinary(mesh));
  assert.deepEqual(back.positions, mesh.positions);
  assert.deepEqual(back.faces, mesh.faces);
  const ascii =
    'ply\nformat ascii 1.0\ncomment test\nelement vertex 4\nproperty float x\nproperty float nx\nproperty float y\n' +
    'property float z\nproperty uchar red\nelement face 1\nproperty uchar flags\nproperty list uchar int vertex_indices\n' +
    'element extra 1\nproperty list int int stuff\nend_header\n' +
    '0 9 0 0 1\n1 9 0 0 2\n1 9 1 0 3\n0 9 1 0 4\n7 4 0 1 2 3\n2 5 6\n';
  const a = parsePly(new TextEncoder().encode(ascii));
  assert.deepEqual([...a.faces], [0, 1, 2, 0, 2, 3]);
  assert.deepEqual([...a.positions.subarray(6, 9)], [1, 1, 0]);
  const be = ascii.replace('format ascii 1.0', 'format binary_big_endian 1.0');
  assert.throws(() => parsePly(new TextEncoder().encode(be), 'b.ply'), /binary_big_endian" is not supported/);
  const bin = writePlyBinary(mesh);
  assert.throws(() => parsePly(bin.subarray(0, bin.length - 5), 't.ply'), /t\.ply: file ends early/);
  assert.throws(() => parsePly(new TextEncoder().encode('hello'), 'n.ply'), /not a PLY file/);
  const badIdx = writePlyBinary({ positions: mesh.positions, faces: new Uint32Array([0, 1, 7]) });
  assert.throws(() => parsePly(badIdx, 'i.ply'), /face 0 refers to vertex 7, but there are 4 vertices/);
});

test('degenerate faces are dropped and counted; meshes without faces are refused', () => {
  const positions = new Float32Array([0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 1, 0]);
  const faces = new Uint32Array([0, 1, 3, 0, 0, 1, 0, 1, 2]); // ok, repeated corner, collinear (zero area)
  const r = dropDegenerateFaces({ positions, faces });
  assert.equal(r.dropped, 2);
  assert.deepEqual([...r.mesh.faces], [0, 1, 3]);
  const loaded = finishMesh('m', { positions, faces });
  assert.equal(loaded.degenerateFaces, 2);
  assert.match(loaded.warnings.join('\n'), /dropped 2 degenerate face/);
  assert.throws(
    () => finishMesh('empty', { positions, faces: new Uint32Array(0) }),
    /empty: the mesh has no faces/,
  );
  const nan = new Float32Array(positions);
  nan[4] = Number.NaN;
  assert.throws(
    () => finishMesh('nan', { positions: nan, faces }),
    /nan: 3 face corner\(s\) use vertices with NaN/,
  );
  assert.throws(
    () => finishMesh('flat', { positions, faces: new Uint32Array([0, 1, 2]) }),
    /all 1 faces are degenerate/,
  );
});

test('normalisation: largest side 1, centred, p * scale + offset', () => {
  const positions = new Float32Array([1, 2, 3, 5, 2, 3, 1, 4, 4, 100, 100, 100]); // last vertex unused
  const faces = new Uint32Array([0, 1, 2]);
  const n = normalizeMesh({ positions, faces });
  assert.equal(n.scale, 0.25);
  assert.deepEqual(n.offset, [-0.75, -0.75, -0.875]);
  const p = n.mesh.positions;
  assert.deepEqual([...p.subarray(0, 9)], [-0.5, -0.25, -0.125, 0.5, -0.25, -0.125, -0.5, 0.25, 0.125]);
});

test('readMesh: OBJ is Y-up (turned Z-up as Blender), PLY kept; missing material warns; corrupt GLB refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'meshio-'));
  try {
    const obj = join(dir, 'm.obj');
    await writeFile(obj, 'mtllib gone.mtl\nv 0 0 0\nv 1 0 0\nv 0 2 0\nf 1 2 3\n');
    const r = await readMesh(obj, { normalize: false });
    assert.deepEqual([...r.mesh.positions.subarray(6, 9)], [0, 0, 2]); // (0, 2, 0) Y-up -> (0, 0, 2) Z-up
    assert.match(r.warnings.join('\n'), /material library gone\.mtl not found/);
    const keep = await readMesh(obj, { normalize: false, up: 'z' });
    assert.deepEqual([...keep.mesh.positions.subarray(6, 9)], [0, 2, 0]);
    const glb = join(dir, 'm.glb');
    await writeFile(glb, new Uint8Array(16));
    await assert.rejects(readMesh(glb), /m\.glb: not a readable glTF\/GLB file/);
    await assert.rejects(readMesh(join(dir, 'nope.ply')), /cannot read the file \(ENOENT\)/);
    await writeFile(join(dir, 'm.stl'), 'solid');
    await assert.rejects(readMesh(join(dir, 'm.stl')), /unsupported mesh format "\.stl"/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('procedural assets (PLY and GLB) load clean, normalised and equal', async () => {
  for (const name of ['chair', 'mug', 'toy']) {
    const r = await readMesh(join(ASSETS, `${name}.ply`));
    assert.equal(r.degenerateFaces, 0, name);
    assert.deepEqual(r.warnings, []);
    assert.ok(r.mesh.faces.length / 3 > 300, `${name} faces`);
    let side = 0;
    for (let c = 0; c < 3; c++) {
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (let i = c; i < r.mesh.positions.length; i += 3) {
        lo = Math.min(lo, r.mesh.positions[i]!);
        hi = Math.max(hi, r.mesh.positions[i]!);
      }
      // Centred to f32 precision (positions are stored as f32 after scale and offset in f64).
      assert.ok(Math.abs(lo + hi) < 1e-6, `${name} axis ${c} centred: ${lo} ${hi}`);
      side = Math.max(side, hi - lo);
    }
    assert.ok(Math.abs(side - 1) < 1e-6, `${name} side ${side}`);
    // The GLB twin (Y up) reads to the same normalised mesh: equal values (=== : the PLY keeps a few -0 where the
    // GLB's axis flip gives +0).
    const g = await readMesh(join(ASSETS, `${name}.glb`));
    assert.deepEqual(g.warnings, []);
    assert.deepEqual(g.mesh.faces, r.mesh.faces, `${name}.glb faces`);
    assert.equal(g.mesh.positions.length, r.mesh.positions.length);
    const differ = r.mesh.positions.filter((v, i) => v !== g.mesh.positions[i]).length;
    assert.equal(differ, 0, `${name}.glb positions`);
  }
});

/** 4x4 column-major matrix (glTF layout) applied to a point. */
function apply(m: readonly number[], p: readonly number[]): number[] {
  return [0, 1, 2].map((r) => m[r]! * p[0]! + m[4 + r]! * p[1]! + m[8 + r]! * p[2]! + m[12 + r]!);
}

test('GLB/glTF: written with gltf-transform, read back with node transforms, primitives and warnings', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'meshio-gltf-'));
  try {
    // The procedural chair, split into two primitives (indexed u16 and non-indexed) of one mesh on a child node.
    const chair = parsePly(await readFile(join(ASSETS, 'chair.ply')));
    const F = chair.faces.length / 3;
    const half = Math.floor(F / 2);
    const doc = new Document();
    const buf = doc.createBuffer();
    const accessor = (type: 'VEC3' | 'SCALAR', array: Float32Array | Uint16Array) =>
      doc.createAccessor().setType(type).setArray(array).setBuffer(buf);
    const prim1 = doc
      .createPrimitive()
      .setAttribute('POSITION', accessor('VEC3', chair.positions))
      .setIndices(accessor('SCALAR', new Uint16Array(chair.faces.subarray(0, half * 3))));
    const soup = new Float32Array((F - half) * 9);
    for (let t = half; t < F; t++)
      for (let k = 0; k < 3; k++)
        soup.set(
          chair.positions.subarray(chair.faces[t * 3 + k]! * 3, chair.faces[t * 3 + k]! * 3 + 3),
          (t - half) * 9 + k * 3,
        );
    const prim2 = doc.createPrimitive().setAttribute('POSITION', accessor('VEC3', soup));
    const points = doc
      .createPrimitive()
      .setMode(0)
      .setAttribute('POSITION', accessor('VEC3', new Float32Array(3)));
    const mesh = doc.createMesh('chair').addPrimitive(prim1).addPrimitive(prim2).addPrimitive(points);
    // A texture whose image is missing.
    const tex = doc.createTexture('wood').setURI('wood.png').setMimeType('image/png');
    prim1.setMaterial(doc.createMaterial('m').setBaseColorTexture(tex));
    const child = doc.createNode('child').setMesh(mesh).setTranslation([0.5, -1, 2]).setScale([2, 2, 2]);
    const parent = doc
      .createNode('parent')
      .setRotation([0, 0, Math.SQRT1_2, Math.SQRT1_2]) // 90 degrees about Z
      .setTranslation([10, 0, 0])
      .addChild(child);
    // A second root node with one triangle and no transform.
    const tri = doc
      .createPrimitive()
      .setAttribute('POSITION', accessor('VEC3', new Float32Array([0, 0, 0, 1, 0, 0, 0, 0, 1])));
    const lone = doc.createNode('lone').setMesh(doc.createMesh().addPrimitive(tri));
    doc.createScene('s').addChild(parent).addChild(lone);
    const io = new NodeIO();
    const glb = join(dir, 'chair.glb');
    await writeFile(glb, await io.writeBinary(doc));
    const gltf = join(dir, 'chair.gltf');
    await io.write(gltf, doc);

    // Expected world positions, computed here from the node transforms.
    const world = parent.getWorldMatrix();
    const worldChild = child.getWorldMatrix();
    assert.deepEqual(
      apply(world, [1, 0, 0]).map((v) => Math.round(v * 1e6) / 1e6),
      [10, 1, 0],
      'rotation + translation',
    );
    const expected: number[][] = [];
    for (let t = 0; t < F; t++)
      for (let k = 0; k < 3; k++) {
        const v = chair.faces[t * 3 + k]!;
        expected.push(apply(worldChild, [...chair.positions.subarray(v * 3, v * 3 + 3)]));
      }
    expected.push([0, 0, 0], [1, 0, 0], [0, 0, 1]);

    for (const file of [glb, gltf]) {
      const r = await readMesh(file, { normalize: false, up: 'z' });
      assert.equal(r.mesh.faces.length / 3, F + 1, file);
      for (let t = 0; t <= F; t++)
        for (let k = 0; k < 3; k++) {
          const v = r.mesh.faces[t * 3 + k]!;
          const got = [...r.mesh.positions.subarray(v * 3, v * 3 + 3)];
          const want = expected[t * 3 + k]!.map(Math.fround);
          // f32 storage of f64 products: within 2 ulp at |x| <= 12.
          for (let c = 0; c < 3; c++)
            assert.ok(Math.abs(got[c]! - want[c]!) < 4e-6, `${file} face ${t} corner ${k}`);
        }
      const w = r.warnings.join('\n');
      assert.match(w, /skipped 1 non-triangle primitive/);
      assert.match(w, /texture image\(s\) not found: wood(\.png)?; ignored/);
      // Default: Y-up turned Z-up as Blender imports glTF, then normalised to the unit cube.
      const n = await readMesh(file);
      let side = 0;
      for (let c = 0; c < 3; c++) {
        let lo = Number.POSITIVE_INFINITY;
        let hi = Number.NEGATIVE_INFINITY;
        for (let i = c; i < n.mesh.positions.length; i += 3) {
          lo = Math.min(lo, n.mesh.positions[i]!);
          hi = Math.max(hi, n.mesh.positions[i]!);
        }
        side = Math.max(side, hi - lo);
      }
      assert.ok(Math.abs(side - 1) < 1e-6);
    }
    const zUp = await readMesh(glb, { normalize: false });
    const v0 = zUp.mesh.faces[0]!;
    const e = expected[0]!;
    assert.ok(Math.abs(zUp.mesh.positions[v0 * 3 + 1]! + e[2]!) < 4e-6, 'y = -z');
    assert.ok(Math.abs(zUp.mesh.positions[v0 * 3 + 2]! - e[1]!) < 4e-6, 'z = y');

    // Above the face limit: refused while reading, before anything is written.
    await assert.rejects(
      readMesh(glb, { maxFaces: 100 }),
      /chair\.glb: \d+ triangles exceed the limit of 100/,
    );
    // A glTF whose buffer file is missing cannot give geometry: refused with the file named.
    await rm(join(dir, 'chair.bin'));
    await assert.rejects(readMesh(gltf), /chair\.gltf: its buffer file chair\.bin is missing/);
    // A scene without triangles.
    const empty = new Document();
    empty.createScene().addChild(empty.createNode('nothing'));
    const emptyGlb = join(dir, 'empty.glb');
    await writeFile(emptyGlb, await io.writeBinary(empty));
    await assert.rejects(readMesh(emptyGlb), /empty\.glb: the mesh has no faces/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
