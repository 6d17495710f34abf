import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openSafetensorsFile } from '../io/safetensors.node.ts';
import { extractMesh, FLEXICUBES_CHANNELS } from './flexicubes.ts';

const FIXTURE = 'test/fixtures/flexicubes/ci/outputs.safetensors';

for (const [path, options] of [
  ['dense tables', {}],
  // denseGridLimit 0 forces the hash-map path (used when the voxels' box exceeds the limit, e.g. R = 1024).
  ['hash maps', { denseGridLimit: 0 }],
] as const) {
  test(`extractMesh matches the official SparseFeatures2Mesh (R = 32 fixture) index by index (${path})`, async () => {
    const r = await openSafetensorsFile(FIXTURE);
    try {
      const coords = await r.readInt32('coords');
      const feats = await r.readFloat32('feats');
      const wantV = await r.readFloat32('vertices');
      const wantF = await r.readInt32('faces');
      const wantA = await r.readFloat32('vertex_attrs');
      const t0 = performance.now();
      const mesh = extractMesh(coords, feats, { resolution: 32, ...options });
      const ms = performance.now() - t0;
      assert.equal(mesh.vertices.length, wantV.length, 'vertex count');
      assert.equal(mesh.faces.length, wantF.length, 'face count');
      let dv = 0;
      for (let i = 0; i < wantV.length; i++) dv = Math.max(dv, Math.abs(mesh.vertices[i] - wantV[i]));
      let da = 0;
      for (let i = 0; i < wantA.length; i++) da = Math.max(da, Math.abs(mesh.vertexAttrs[i] - wantA[i]));
      let faceMismatch = 0;
      for (let i = 0; i < wantF.length; i++) if (mesh.faces[i] !== wantF[i]) faceMismatch++;
      console.log(JSON.stringify(mesh.stats));
      // The fixture must exercise the sparse re-creation of the dense grid's defaults and the ambiguity rule.
      assert.ok(mesh.stats.surfaceCubesWithoutVoxel > 0, 'fixture has surface cubes without a voxel');
      assert.ok(mesh.stats.ambiguousResolved > 0, 'fixture has resolved C16/C19 ambiguities');
      console.log(
        `flexicubes parity: ${wantV.length / 3} vertices, ${wantF.length / 3} faces, max |dv| ${dv.toExponential(2)}, ` +
          `max |dattr| ${da.toExponential(2)}, face index mismatches ${faceMismatch}, ${ms.toFixed(1)} ms`,
      );
      // Issue goal: positions <= 1e-4. The port computes in float64 against a float32 reference, so the real gap
      // is ~1e-7 (a few float32 ulps of values in [-0.5, 0.5]); the attrs (sigmoid colours in [0, 1]) likewise.
      assert.ok(dv <= 1e-5, `vertex max abs diff ${dv}`);
      assert.ok(da <= 1e-5, `attr max abs diff ${da}`);
      assert.equal(faceMismatch, 0, 'faces must equal the official ones index by index (same order)');
    } finally {
      await r.close();
    }
  });
}

/** Deterministic pseudo-random numbers in [-0.5, 0.5) (LCG; the values only need to be awkward, not good). */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32 - 0.5;
  };
}

/** Voxels of a spherical shell |d - radius| < width with the exact corner sdf and random other channels. */
function shell(R: number, centre: number[], radius: number, width: number, seed: number) {
  const rnd = lcg(seed);
  const vox: number[] = [];
  const lo = (c: number): number => Math.max(0, Math.floor(c - radius - width - 1));
  const hi = (c: number): number => Math.min(R, Math.ceil(c + radius + width + 1));
  for (let x = lo(centre[0]); x < hi(centre[0]); x++)
    for (let y = lo(centre[1]); y < hi(centre[1]); y++)
      for (let z = lo(centre[2]); z < hi(centre[2]); z++) {
        const d = Math.hypot(x + 0.5 - centre[0], y + 0.5 - centre[1], z + 0.5 - centre[2]);
        if (Math.abs(d - radius) < width) vox.push(x, y, z);
      }
  const n = vox.length / 3;
  const coords = new Int32Array(n * 4);
  const feats = new Float32Array(n * FLEXICUBES_CHANNELS);
  for (let i = 0; i < n; i++) {
    coords.set([0, vox[i * 3], vox[i * 3 + 1], vox[i * 3 + 2]], i * 4);
    for (let k = 0; k < 8; k++) {
      const c = [vox[i * 3] + (k & 1), vox[i * 3 + 1] + ((k >> 1) & 1), vox[i * 3 + 2] + ((k >> 2) & 1)];
      feats[i * FLEXICUBES_CHANNELS + k] =
        (Math.hypot(c[0] - centre[0], c[1] - centre[1], c[2] - centre[2]) - radius) / R;
    }
    for (let c = 8; c < FLEXICUBES_CHANNELS; c++) feats[i * FLEXICUBES_CHANNELS + c] = rnd() * 4;
  }
  return { coords, feats, n };
}

/** Each directed edge exactly once and its reverse exactly once (closed, consistently oriented 2-manifold). */
function assertClosedOriented(faces: Uint32Array, nv: number): void {
  const directed = new Map<number, number>();
  for (let f = 0; f < faces.length; f += 3) {
    for (let j = 0; j < 3; j++) {
      const key = faces[f + j] * nv + faces[f + ((j + 1) % 3)];
      directed.set(key, (directed.get(key) ?? 0) + 1);
    }
  }
  for (const [key, count] of directed) {
    assert.equal(count, 1, `directed edge ${key} used ${count} times`);
    const a = Math.floor(key / nv);
    const b = key % nv;
    assert.equal(directed.get(b * nv + a), 1, `edge ${a}-${b} has no opposite half-edge (hole)`);
  }
}

function signedVolume(v: Float32Array, faces: Uint32Array): number {
  let vol = 0;
  for (let f = 0; f < faces.length; f += 3) {
    const [a, b, c] = [faces[f] * 3, faces[f + 1] * 3, faces[f + 2] * 3];
    vol +=
      v[a] * (v[b + 1] * v[c + 2] - v[b + 2] * v[c + 1]) -
      v[a + 1] * (v[b] * v[c + 2] - v[b + 2] * v[c]) +
      v[a + 2] * (v[b] * v[c + 1] - v[b + 1] * v[c]);
  }
  return vol / 6;
}

test('extractMesh: one inside voxel alone -> closed box of 24 quads around it, outward winding', () => {
  const R = 7; // odd size, voxel off-centre
  const coords = new Int32Array([0, 2, 3, 4]);
  const feats = new Float32Array(FLEXICUBES_CHANNELS);
  feats.fill(-0.3, 0, 8); // all 8 corners inside; every other grid vertex is untouched (sdf 1)
  const m = extractMesh(coords, feats, { resolution: R });
  assert.equal(m.stats.surfaceCubes, 26);
  assert.equal(m.stats.surfaceCubesWithoutVoxel, 26);
  assert.equal(m.stats.surfaceEdges, 24);
  assert.equal(m.faces.length / 3, 48);
  assertClosedOriented(m.faces, m.vertices.length / 3);
  assert.ok(signedVolume(m.vertices, m.faces) > 0, 'normals point to positive sdf (outward)');
  // untouched corners: colour sigmoid(0) = 0.5; touched ones sigmoid(0) too here -> all attrs 0.5
  for (const a of m.vertexAttrs) assert.ok(Math.abs(a - 0.5) < 1e-7);
});

test('extractMesh: spherical shell at R = 40 is closed, outward, with the expected volume', () => {
  const R = 40;
  const radius = 11.3;
  const { coords, feats } = shell(R, [19.6, 20.2, 18.9], radius, 1.6, 3);
  const m = extractMesh(coords, feats, { resolution: R });
  assertClosedOriented(m.faces, m.vertices.length / 3);
  const vol = signedVolume(m.vertices, m.faces);
  const want = (4 / 3) * Math.PI * (radius / R) ** 3;
  // Random deform (up to half a cell) and weights move the surface by < 1 cell: volume within ~3 cells of radius.
  assert.ok(vol > 0 && Math.abs(vol - want) / want < (3 * 3) / radius, `volume ${vol} vs sphere ${want}`);
  for (const x of m.vertices) assert.ok(Math.abs(x) <= 0.5, 'vertices inside [-0.5, 0.5]');
  for (const a of m.vertexAttrs) assert.ok(a >= 0 && a <= 1, 'attrs are sigmoid colours');
});

test('extractMesh: voxel order does not matter (same faces, positions within float32 rounding)', () => {
  const R = 24;
  const { coords, feats, n } = shell(R, [11.5, 12.3, 12.8], 6.2, 1.4, 7);
  const a = extractMesh(coords, feats, { resolution: R });
  const rnd = lcg(11);
  const perm = Array.from({ length: n }, (_, i) => i).sort(() => rnd());
  const c2 = new Int32Array(n * 4);
  const f2 = new Float32Array(n * FLEXICUBES_CHANNELS);
  perm.forEach((src, dst) => {
    c2.set(coords.subarray(src * 4, src * 4 + 4), dst * 4);
    f2.set(
      feats.subarray(src * FLEXICUBES_CHANNELS, (src + 1) * FLEXICUBES_CHANNELS),
      dst * FLEXICUBES_CHANNELS,
    );
  });
  const b = extractMesh(c2, f2, { resolution: R });
  assert.deepEqual([...b.faces], [...a.faces]);
  let d = 0;
  for (let i = 0; i < a.vertices.length; i++) d = Math.max(d, Math.abs(a.vertices[i] - b.vertices[i]));
  // only the float32 summation order of vertex means changes: a few ulps of 1/R-sized values
  assert.ok(d < 1e-6, `max diff ${d}`);
});

test('extractMesh: nothing inside -> empty mesh; bad shapes and coordinates are named', () => {
  const coords = new Int32Array([0, 1, 1, 1]);
  const feats = new Float32Array(FLEXICUBES_CHANNELS).fill(0.5);
  const m = extractMesh(coords, feats, { resolution: 4 });
  assert.equal(m.vertices.length, 0);
  assert.equal(m.faces.length, 0);
  const none = extractMesh(new Int32Array(0), new Float32Array(0), { resolution: 256 });
  assert.equal(none.faces.length, 0);
  assert.throws(() => extractMesh(coords, new Float32Array(100), { resolution: 4 }), /feats \[100\]/);
  assert.throws(
    () => extractMesh(new Int32Array([0, 4, 0, 0]), feats, { resolution: 4 }),
    /outside the 4\^3 grid/,
  );
  assert.throws(() => extractMesh(coords, feats, { resolution: 0 }), /resolution/);
});

test('extractMesh at R = 256: translating a blob by whole cells shifts the vertices by offset / R, same faces', () => {
  const R = 256;
  const a = shell(R, [8.4, 7.7, 8.9], 5.1, 1.5, 5);
  const off = [240, 239, 241]; // puts the largest voxel coordinate at 254/255: grid-vertex keys near 257^3
  const c2 = a.coords.slice();
  for (let i = 0; i < a.n; i++) for (let j = 0; j < 3; j++) c2[i * 4 + 1 + j] += off[j];
  let maxCoord = 0;
  for (let i = 0; i < a.n; i++) for (let j = 1; j < 4; j++) maxCoord = Math.max(maxCoord, c2[i * 4 + j]);
  assert.ok(maxCoord >= 254, `blob reaches the far faces (max coordinate ${maxCoord})`);
  const m0 = extractMesh(a.coords, a.feats, { resolution: R });
  const m1 = extractMesh(c2, a.feats, { resolution: R });
  assert.ok(m0.faces.length > 0);
  assert.deepEqual([...m1.faces], [...m0.faces]);
  assertClosedOriented(m1.faces, m1.vertices.length / 3);
  let d = 0;
  for (let i = 0; i < m0.vertices.length; i++)
    d = Math.max(d, Math.abs(m1.vertices[i] - m0.vertices[i] - off[i % 3] / R));
  // float32 storage of values near -0.47 vs +0.47: 2 ulps ~ 6e-8, plus the exact-arithmetic shift
  assert.ok(d < 1e-6, `translation error ${d}`);
});

test('extractMesh: a blob cut by the grid boundary gives an open mesh (no quads on edges with < 4 cubes)', () => {
  const R = 20;
  const { coords, feats } = shell(R, [17.5, 10.2, 9.8], 5.3, 1.5, 9);
  const m = extractMesh(coords, feats, { resolution: R });
  assert.ok(m.stats.quads < m.stats.surfaceEdges, 'boundary edges make no quads');
  assert.throws(() => assertClosedOriented(m.faces, m.vertices.length / 3), /hole/);
});
