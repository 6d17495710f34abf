/** Mesh input: OBJ/PLY parsing, degenerate faces, limits, normalisation, axis conversion, GLB without the package. */

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  dropDegenerateFaces,
  finishMesh,
  MeshInputError,
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

test('readMesh: OBJ is Y-up (turned Z-up as Blender), PLY kept; missing material warns; GLB needs the package', async () => {
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
    let hasGltf = true;
    try {
      const name = '@gltf-transform/core';
      await import(name);
    } catch {
      hasGltf = false;
    }
    if (!hasGltf) await assert.rejects(readMesh(glb), /npm install @gltf-transform\/core/);
    else await assert.rejects(readMesh(glb), MeshInputError);
    await assert.rejects(readMesh(join(dir, 'nope.ply')), /cannot read the file \(ENOENT\)/);
    await writeFile(join(dir, 'm.stl'), 'solid');
    await assert.rejects(readMesh(join(dir, 'm.stl')), /unsupported mesh format "\.stl"/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('procedural assets load clean and normalised', async () => {
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
  }
});
