/**
 * Voxelisation against TRELLIS' voxelize.py run with Open3D (tools/fixtures/voxelize_trellis.py ->
 * test/fixtures/voxelize/trellis.json): the shipped meshes and a stress mesh of lattice-aligned triangles that touch
 * voxel faces, edges and corners exactly. The PLY layout is checked against the header utils3d/plyfile writes.
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';
import { parsePly } from './mesh-io.ts';
import { VOXEL_RESOLUTION, voxelizeMesh, voxelPly } from './voxelize.ts';

interface FixtureCase {
  name: string;
  vertices: number[];
  faces: number[];
  count: number;
  occupancy: string;
}

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/voxelize/trellis.json', import.meta.url));

test('voxelizeMesh equals TRELLIS voxelize.py (Open3D) voxel for voxel', () => {
  const doc = JSON.parse(readFileSync(FIXTURE, 'utf8')) as { resolution: number; cases: FixtureCase[] };
  assert.equal(doc.resolution, VOXEL_RESOLUTION);
  const R = doc.resolution;
  for (const c of doc.cases) {
    const bits = inflateSync(Buffer.from(c.occupancy, 'base64'));
    const grid = voxelizeMesh({ positions: new Float32Array(c.vertices), faces: new Uint32Array(c.faces) });
    assert.equal(grid.resolution, R);
    const ours = new Uint8Array(R * R * R);
    for (let v = 0; v < grid.count; v++) {
      const [i, j, k] = [grid.indices[v * 3]!, grid.indices[v * 3 + 1]!, grid.indices[v * 3 + 2]!];
      ours[(i * R + j) * R + k] = 1;
    }
    let missing = 0;
    let extra = 0;
    for (let v = 0; v < ours.length; v++) {
      const want = (bits[v >> 3]! >> (7 - (v & 7))) & 1;
      if (want && !ours[v]) missing++;
      if (!want && ours[v]) extra++;
    }
    // Exact: the test is a predicate on f64 values computed in Open3D's order; a single flip is a bug.
    assert.equal(missing + extra, 0, `${c.name}: ${missing} voxels missing, ${extra} extra of ${c.count}`);
    assert.equal(grid.count, c.count, c.name);
  }
});

test('voxelPly: float x/y/z voxel centres, sorted, readable as a PLY', () => {
  const mesh = {
    positions: new Float32Array([-0.5, -0.5, -0.5, -0.49, -0.5, -0.5, -0.5, -0.49, -0.5]),
    faces: new Uint32Array([0, 1, 2]),
  };
  const grid = voxelizeMesh(mesh);
  assert.equal(grid.count, 1);
  assert.deepEqual([...grid.indices], [0, 0, 0]);
  const ply = voxelPly(grid);
  const header = new TextDecoder().decode(ply.subarray(0, 120));
  assert.ok(
    header.startsWith(
      'ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\nend_header\n',
    ),
  );
  const back = parsePly(ply);
  const c = 0.5 / 64 - 0.5;
  assert.deepEqual([...back.positions], [c, c, c].map(Math.fround));
  assert.throws(() => voxelizeMesh(mesh, { resolution: 0 }), /resolution must be an integer/);
});
