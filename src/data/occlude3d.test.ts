/**
 * 3-D-consistent occlusion: adjacency and patch growth, TRELLIS cameras, cross-view consistency through the face-id
 * buffers, GPU vs CPU renders, byte-identical outputs for a seed, input errors.
 */

import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { requireGpu } from '../../test/helpers/gpu.ts';
import { viewFileNames } from '../../test/helpers/views.ts';
import { runOcclude3d } from '../cli/occlude3d.ts';
import { type Mesh, readMesh } from './mesh-io.ts';
import {
  cameraFrame,
  faceAdjacency,
  type Occlude3dResult,
  occlude3d,
  projectFaces,
  selectOccludedFaces,
  sphereHammersley,
  trellisCameras,
} from './occlude3d.ts';
import { Rng } from './prng.ts';
import { NO_FACE } from './raster.cpu.ts';

const ASSETS = fileURLToPath(new URL('../../assets/meshes/', import.meta.url));
const RES = 96;

/** An n x n grid of quads in the z = 0 plane (2 n^2 faces, one connected component). */
function gridMesh(n: number, z = 0, x0 = 0): Mesh {
  const pos: number[] = [];
  const faces: number[] = [];
  for (let j = 0; j <= n; j++) for (let i = 0; i <= n; i++) pos.push(x0 + i / n, j / n, z);
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      const a = j * (n + 1) + i;
      faces.push(a, a + 1, a + n + 2, a, a + n + 2, a + n + 1);
    }
  }
  return { positions: new Float32Array(pos), faces: new Uint32Array(faces) };
}

test('faceAdjacency: shared edges, welded soups, non-manifold edges', () => {
  // Two triangles sharing edge (1, 2), stored as a soup (6 vertices).
  const soup: Mesh = {
    positions: new Float32Array([0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1, 1, 0]),
    faces: new Uint32Array([0, 1, 2, 3, 5, 4]),
  };
  const a = faceAdjacency(soup);
  assert.deepEqual([...a.offsets], [0, 1, 2]);
  assert.deepEqual([...a.neighbors], [1, 0]);
  // Three faces on one edge (0, 1) plus a face sharing only a vertex.
  const fan: Mesh = {
    positions: new Float32Array([0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, -1, 0, 2, 0, 0, 2, 1, 0]),
    faces: new Uint32Array([0, 1, 2, 0, 1, 3, 1, 0, 4, 1, 5, 6]),
  };
  const b = faceAdjacency(fan);
  const nb = (f: number) => [...b.neighbors.subarray(b.offsets[f]!, b.offsets[f + 1]!)];
  assert.deepEqual(nb(0), [1, 2]);
  assert.deepEqual(nb(1), [0, 2]);
  assert.deepEqual(nb(2), [0, 1]);
  assert.deepEqual(nb(3), []);
  const g = faceAdjacency(gridMesh(3));
  assert.equal(g.faces, 18);
  // Interior faces of a triangulated grid have 3 neighbours, edge ones fewer.
  for (let f = 0; f < 18; f++) {
    const d = g.offsets[f + 1]! - g.offsets[f]!;
    assert.ok(d >= 1 && d <= 3);
  }
});

test('selectOccludedFaces: int(F * ratio) faces, one connected patch when the component suffices, restarts otherwise', () => {
  const mesh = gridMesh(20); // 800 faces, connected
  const adj = faceAdjacency(mesh);
  for (let s = 0; s < 5; s++) {
    const r = selectOccludedFaces(adj, new Rng(s));
    assert.ok(r.ratio >= 0.2 && r.ratio < 0.5);
    assert.equal(r.target, Math.floor(800 * r.ratio));
    assert.equal(
      r.occluded.reduce((a, v) => a + v, 0),
      r.target,
    );
    assert.equal(r.starts, 1);
    // The patch is connected: a BFS inside it from one selected face reaches all of it.
    const first = r.occluded.indexOf(1);
    const seen = new Uint8Array(800);
    const q = [first];
    seen[first] = 1;
    let n = 0;
    while (q.length) {
      const f = q.pop()!;
      n++;
      for (let i = adj.offsets[f]!; i < adj.offsets[f + 1]!; i++) {
        const g = adj.neighbors[i]!;
        if (r.occluded[g] && !seen[g]) {
          seen[g] = 1;
          q.push(g);
        }
      }
    }
    assert.equal(n, r.target, 'patch connected');
  }
  // 50 separate 2-face squares: every component is exhausted after 2 faces, so the BFS must restart.
  const parts: number[] = [];
  const faces: number[] = [];
  for (let k = 0; k < 50; k++) {
    const m = gridMesh(1, 0, 2 * k);
    faces.push(...[...m.faces].map((v) => v + parts.length / 3));
    parts.push(...m.positions);
  }
  const islands = faceAdjacency({ positions: new Float32Array(parts), faces: new Uint32Array(faces) });
  const r = selectOccludedFaces(islands, new Rng(3));
  assert.equal(
    r.occluded.reduce((a, v) => a + v, 0),
    r.target,
  );
  assert.ok(r.starts > 10, `starts ${r.starts}`);
  assert.throws(() => selectOccludedFaces(adj, new Rng(0), [0.6, 0.5]), /ratio range/);
});

test('TRELLIS cameras: Hammersley directions, radius 2, fov 40, looking at the origin with Z up', () => {
  assert.deepEqual(sphereHammersley(0, 4, [0, 0]), [0, -Math.PI / 2]);
  const [yaw, pitch] = sphereHammersley(1, 4, [0.5, 0.25]);
  // u = 1/4 + 0.5/4 = 0.375 -> 2/3 u + 1/3; v = radical_inverse(2, 1) + 0.25 = 0.75.
  assert.ok(Math.abs(yaw - 0.75 * 2 * Math.PI) < 1e-12);
  assert.ok(Math.abs(pitch - (Math.acos(1 - 2 * ((2 / 3) * 0.375 + 1 / 3)) - Math.PI / 2)) < 1e-12);
  for (const cam of trellisCameras(7, [0.37, 0.81])) {
    const m = cam.transform;
    const col = (c: number) => [m[0]![c]!, m[1]![c]!, m[2]![c]!];
    const dot = (a: number[], b: number[]) => a[0]! * b[0]! + a[1]! * b[1]! + a[2]! * b[2]!;
    const [x, y, z, p] = [col(0), col(1), col(2), col(3)];
    assert.ok(Math.abs(Math.hypot(...p) - 2) < 1e-12, 'radius 2');
    assert.ok(Math.abs(cam.fov - (40 * Math.PI) / 180) < 1e-15);
    for (const [u, v, e] of [
      [x, x, 1],
      [y, y, 1],
      [z, z, 1],
      [x, y, 0],
      [y, z, 0],
      [x, z, 0],
    ] as const) {
      assert.ok(Math.abs(dot(u, v) - e) < 1e-12, 'orthonormal');
    }
    assert.ok(Math.abs(dot(z, p) - 2) < 1e-12, '-Z looks at the origin');
    assert.ok(y[2]! > 0, 'camera up has a world-up component');
    assert.ok(Math.abs(x[2]!) < 1e-12, 'no roll');
    assert.deepEqual(m[3], [0, 0, 0, 1]);
  }
  // The origin projects to the image centre; +X world appears to the right for a camera on -Y looking at it.
  const cam = cameraFrame(-Math.PI / 2, 0, 2, (40 * Math.PI) / 180);
  const tri = projectFaces(
    { positions: new Float32Array([0, 0, 0, 0.5, 0, 0, 0, 0, 0.5]), faces: new Uint32Array([0, 1, 2]) },
    cam,
    100,
  );
  assert.ok(Math.abs(tri[0]! - 50) < 1e-4 && Math.abs(tri[1]! - 50) < 1e-4);
  assert.ok(tri[3]! > 50 && Math.abs(tri[4]! - 50) < 1e-4, '+X to the right');
  assert.ok(tri[7]! < 50, '+Z up (smaller row)');
  assert.ok(Math.abs(tri[2]! - 0.5) < 1e-7, '1/depth');
});

/** Checks one rendered result: three mask values, per-pixel rule, and cross-view agreement by reprojection. */
function checkConsistency(mesh: Mesh, r: Occlude3dResult): number {
  const F = mesh.faces.length / 3;
  for (const v of r.views) {
    for (let p = 0; p < RES * RES; p++) {
      const id = v.ids[p]!;
      const m = v.mask.data[p]!;
      assert.ok(m === 0 || m === 188 || m === 255, `mask value ${m}`);
      if (id === NO_FACE) assert.equal(m, 255);
      else assert.equal(m, r.occluded[id] ? 0 : 188);
      if (m === 0) assert.deepEqual([...v.image.data.subarray(p * 4, p * 4 + 3)], [0, 0, 0]);
      assert.equal(v.image.data[p * 4 + 3], m === 255 ? 0 : 255);
    }
  }
  // Reprojection: each face's centroid, projected into every view; where the id buffer says the face is what is
  // seen there, all such views must agree on its mask value.
  let checks = 0;
  const centroids: Mesh = {
    positions: new Float32Array(F * 9),
    faces: new Uint32Array(F * 3).map((_, i) => i),
  };
  for (let f = 0; f < F; f++) {
    const c = [0, 1, 2].map(
      (k) =>
        (mesh.positions[mesh.faces[f * 3]! * 3 + k]! +
          mesh.positions[mesh.faces[f * 3 + 1]! * 3 + k]! +
          mesh.positions[mesh.faces[f * 3 + 2]! * 3 + k]!) /
        3,
    );
    for (let k = 0; k < 3; k++) centroids.positions.set(c, f * 9 + k * 3);
  }
  const seen = new Map<number, number>();
  for (const v of r.views) {
    const tri = projectFaces(centroids, v.camera, RES);
    for (let f = 0; f < F; f++) {
      const x = Math.floor(tri[f * 9]!);
      const y = Math.floor(tri[f * 9 + 1]!);
      if (x < 0 || y < 0 || x >= RES || y >= RES || v.ids[y * RES + x] !== f) continue;
      const m = v.mask.data[y * RES + x]!;
      const prev = seen.get(f);
      if (prev !== undefined) {
        assert.equal(m, prev, `face ${f} seen with mask ${prev} and ${m}`);
        checks++;
      } else seen.set(f, m);
    }
  }
  return checks;
}

test('occlude3d (CPU twin): exact 3-level masks, consistent across views, occluded fraction in range', async () => {
  const loaded = await readMesh(join(ASSETS, 'chair.ply'));
  const r = await occlude3d(loaded, { views: 6, resolution: RES, seed: 7 });
  const F = loaded.mesh.faces.length / 3;
  assert.ok(r.ratio >= 0.2 && r.ratio < 0.5);
  assert.equal(r.transforms.occlusion.occluded_faces, Math.floor(F * r.ratio));
  const checks = checkConsistency(loaded.mesh, r);
  console.log(`chair: ${checks} cross-view reprojection checks`);
  assert.ok(checks > 50, `too few cross-view checks (${checks})`);
  // Both labels occur in some view.
  const all = new Set(r.views.flatMap((v) => [...new Set(v.mask.data)]));
  assert.deepEqual(
    [...all].sort((a, b) => a - b),
    [0, 188, 255],
  );
  assert.equal(r.transforms.frames.length, 6);
  assert.equal(r.transforms.frames[2]!.file_path, '002.png');
  assert.deepEqual(r.transforms.frames[2]!.transform_matrix, r.views[2]!.camera.transform);
});

test('occlude3d: WebGPU renders agree with the CPU twin (>= 99.5% of pixels)', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  for (const name of ['mug', 'toy']) {
    const loaded = await readMesh(join(ASSETS, `${name}.ply`));
    const cpu = await occlude3d(loaded, { views: 3, resolution: RES, seed: 2 });
    const g = await occlude3d(loaded, { views: 3, resolution: RES, seed: 2, gpu });
    assert.equal(g.backend, 'webgpu');
    let same = 0;
    let total = 0;
    for (let i = 0; i < 3; i++) {
      for (let p = 0; p < RES * RES; p++) {
        total++;
        if (
          cpu.views[i]!.ids[p] === g.views[i]!.ids[p] &&
          cpu.views[i]!.mask.data[p] === g.views[i]!.mask.data[p]
        )
          same++;
      }
    }
    // Same tolerance argument as raster.test.ts: only FMA contraction on the GPU can move a pixel.
    console.log(`${name}: GPU/CPU pixel agreement ${same / total}`);
    assert.ok(same / total >= 0.995, `${name}: agreement ${same / total}`);
    checkConsistency(loaded.mesh, g);
  }
});

test('CLI: same seed gives byte-identical files, transforms.json without paths or timestamps; errors', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'occ3d-'));
  try {
    const mesh = join(ASSETS, 'toy.ply');
    const opts = { mesh, views: '3', seed: '5', resolution: '64', cpu: true };
    await runOcclude3d({ ...opts, out: join(dir, 'a') });
    await runOcclude3d({ ...opts, out: join(dir, 'b') });
    await runOcclude3d({ ...opts, seed: '6', out: join(dir, 'c') });
    const files = (await readdir(join(dir, 'a'))).sort();
    assert.deepEqual(files, viewFileNames(3, 'transforms.json'));
    for (const f of files)
      assert.deepEqual(await readFile(join(dir, 'a', f)), await readFile(join(dir, 'b', f)), f);
    assert.notDeepEqual(
      await readFile(join(dir, 'a', '000_mask.png')),
      await readFile(join(dir, 'c', '000_mask.png')),
    );
    const text = await readFile(join(dir, 'a', 'transforms.json'), 'utf8');
    assert.ok(!text.includes(dir) && !text.includes(ASSETS), 'no absolute paths');
    assert.ok(!/\d{4}-\d{2}-\d{2}T/.test(text), 'no timestamps');
    const tj = JSON.parse(text);
    assert.deepEqual(tj.aabb, [
      [-0.5, -0.5, -0.5],
      [0.5, 0.5, 0.5],
    ]);
    assert.equal(tj.frames[0].camera_angle_x, (40 / 180) * Math.PI);
    await assert.rejects(
      runOcclude3d({ ...opts, views: '0', out: join(dir, 'd') }),
      /--views must be an integer >= 1/,
    );
    await assert.rejects(
      runOcclude3d({ ...opts, mesh: join(dir, 'none.obj'), out: join(dir, 'd') }),
      /cannot read the file/,
    );
    await assert.rejects(
      occlude3d({ positions: new Float32Array(0), faces: new Uint32Array(0) }),
      /no faces/,
    );
    await assert.rejects(occlude3d(gridMesh(2), { views: 2.5 }), /views must be an integer/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
