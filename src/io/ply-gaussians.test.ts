/**
 * Binary PLY writer/reader: header text byte-for-byte as plyfile writes it, round trips of awkward sizes, the
 * 3DGS layout guard, occupancy point conversion, and malformed input errors.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Gaussians } from '../representations/gaussians.ts';
import {
  encodePly,
  GAUSSIAN_PLY_PROPERTIES,
  occupancyPointProperties,
  PlyError,
  parsePly,
  rowsToProperties,
  writeGaussiansPly,
} from './ply-gaussians.ts';

function rand(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 4 - 2;
  }
  return out;
}

test('encodePly: plyfile header, interleaved little-endian float32 body', () => {
  const bytes = encodePly([
    { name: 'x', data: new Float32Array([1, 2]) },
    { name: 'y', data: new Float32Array([3, 4]) },
  ]);
  const header =
    'ply\nformat binary_little_endian 1.0\nelement vertex 2\nproperty float x\nproperty float y\nend_header\n';
  assert.equal(new TextDecoder().decode(bytes.subarray(0, header.length)), header);
  const body = new DataView(bytes.buffer, bytes.byteOffset + header.length);
  assert.deepEqual(
    [0, 4, 8, 12].map((o) => body.getFloat32(o, true)),
    [1, 3, 2, 4],
  );
  assert.equal(bytes.byteLength, header.length + 16);
});

test('parsePly round trip: 17 properties, 1 and 1237 vertices, comments', () => {
  for (const n of [1, 1237]) {
    const props = GAUSSIAN_PLY_PROPERTIES.map((name, j) => ({ name, data: rand(n, j + 7) }));
    const p = parsePly(encodePly(props, ['made by a test']));
    assert.equal(p.vertexCount, n);
    assert.deepEqual(p.names, [...GAUSSIAN_PLY_PROPERTIES]);
    assert.deepEqual(p.comments, ['made by a test']);
    for (const pr of props) assert.deepEqual(p.properties.get(pr.name), pr.data);
  }
});

test('parsePly reads mixed types (uchar colours, double) and rejects malformed files', () => {
  const head =
    'ply\nformat binary_little_endian 1.0\nelement vertex 2\nproperty double a\nproperty uchar r\nend_header\n';
  const h = new TextEncoder().encode(head);
  const buf = new Uint8Array(h.length + 18);
  buf.set(h);
  const dv = new DataView(buf.buffer, h.length);
  dv.setFloat64(0, 1.5, true);
  dv.setUint8(8, 200);
  dv.setFloat64(9, -2.25, true);
  dv.setUint8(17, 7);
  const p = parsePly(buf);
  assert.deepEqual([...p.properties.get('a')!], [1.5, -2.25]);
  assert.deepEqual([...p.properties.get('r')!], [200, 7]);
  assert.throws(() => parsePly(buf.subarray(0, buf.length - 1)), /data bytes/);
  assert.throws(
    () => parsePly(new TextEncoder().encode('ply\nformat ascii 1.0\nend_header\n')),
    /binary_little_endian/,
  );
  assert.throws(() => parsePly(new TextEncoder().encode('hello')), PlyError);
  assert.throws(
    () =>
      encodePly([
        { name: 'x', data: new Float32Array(2) },
        { name: 'y', data: new Float32Array(3) },
      ]),
    /has 3 values/,
  );
  assert.throws(() => encodePly([{ name: 'bad name', data: new Float32Array(1) }]), /invalid property name/);
});

test('writeGaussiansPly writes Gaussians.toPlyProperties and refuses other layouts', async () => {
  const n = 5;
  const g = new Gaussians({
    xyz: rand(n * 3, 1).map((v) => 0.25 + 0.1 * v),
    featuresDc: rand(n * 3, 2),
    scaling: rand(n * 3, 3),
    rotation: rand(n * 4, 4),
    opacity: rand(n, 5),
  });
  const { mkdtemp, readFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = await mkdtemp(join(tmpdir(), 'ply-'));
  try {
    const path = join(dir, 'g.ply');
    assert.equal(await writeGaussiansPly(path, g), n);
    const p = parsePly(new Uint8Array(await readFile(path)));
    const expected = rowsToProperties(g.toPlyProperties());
    for (const e of expected) assert.deepEqual(p.properties.get(e.name), e.data);
    // Normals are zero in the official layout.
    assert.deepEqual([...p.properties.get('nx')!], new Array(n).fill(0));
    await assert.rejects(
      writeGaussiansPly(path, [{ name: 'x', data: new Float32Array(1) }]),
      /not the 3DGS layout/,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('occupancyPointProperties: voxel centres in [-0.5, 0.5], Z-up -> Y-up', () => {
  const coords = Int32Array.from([0, 0, 0, 0, 0, 63, 10, 31]);
  const [x, y, z] = occupancyPointProperties(coords, 64);
  const c = (i: number) => (i + 0.5) / 64 - 0.5;
  assert.deepEqual([...x.data], [c(0), c(63)].map(Math.fround));
  // y' = -z, z' = y
  assert.deepEqual([...y.data], [-c(0), -c(31)].map(Math.fround));
  assert.deepEqual([...z.data], [c(0), c(10)].map(Math.fround));
  assert.throws(() => occupancyPointProperties(Int32Array.from([1, 2, 3]), 64), /multiple of 4/);
});
