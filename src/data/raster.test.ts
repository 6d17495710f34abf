/** WGSL face rasteriser vs its CPU twin on random scenes (awkward sizes, chunked faces), depth order and ties. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FORCED_SMALL_BINDING, requireGpu } from '../../test/helpers/gpu.ts';
import { Rng } from './prng.ts';
import { NO_FACE, TRI_STRIDE } from './raster.cpu.ts';
import { renderFacesCpu, renderFacesGpu } from './raster.ts';

const BG = 0x00ff0000;

/** Random screen-space triangles: mostly small, some large, some off-screen, behind the camera or degenerate. */
function randomScene(
  rng: Rng,
  faces: number,
  w: number,
  h: number,
): { tri: Float32Array; info: Uint32Array } {
  const tri = new Float32Array(faces * TRI_STRIDE);
  const info = new Uint32Array(faces);
  for (let t = 0; t < faces; t++) {
    const kind = rng.random();
    const size = t === 0 || kind < 0.05 ? Math.max(w, h) : kind < 0.5 ? 8 : 2.5;
    // Face 0 is a large one in the middle, so every scene covers pixels.
    const cx = t === 0 ? w / 2 : rng.uniform(-0.2 * w, 1.2 * w);
    const cy = t === 0 ? h / 2 : rng.uniform(-0.2 * h, 1.2 * h);
    for (let k = 0; k < 3; k++) {
      tri[t * 9 + k * 3] = cx + rng.uniform(-size, size);
      tri[t * 9 + k * 3 + 1] = cy + rng.uniform(-size, size);
      tri[t * 9 + k * 3 + 2] = rng.uniform(0.3, 0.7);
    }
    if (kind > 0.97) tri[t * 9 + 2] = -1; // behind the camera: skipped
    if (kind > 0.94 && kind <= 0.97) {
      tri[t * 9 + 3] = tri[t * 9]!; // degenerate: corners 0 and 1 coincide
      tri[t * 9 + 4] = tri[t * 9 + 1]!;
    }
    info[t] = (t * 2654435761) >>> 8;
  }
  return { tri, info };
}

function agreement(a: Uint32Array, b: Uint32Array): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

// The CPU twin rounds every step to f32 in the kernel's order; the GPU compiler may fuse multiply-adds (FMA) in
// the edge functions and the depth interpolation, which moves a value by about an ulp. That can flip only pixels
// whose centre lies within ~1e-6 px of an edge or whose two nearest depths differ by an ulp: far below 0.5% of
// the pixels in any scene here (measured: identical on lavapipe). 99.5% is the required bound.
const MIN_AGREEMENT = 0.995;

for (const [w, h, faces] of [
  [37, 29, 1],
  [64, 48, 333],
  [1, 1, 20],
  [128, 128, 3000],
] as const) {
  test(`GPU rasteriser matches the CPU twin: ${w}x${h}, ${faces} faces`, async (t) => {
    const gpu = await requireGpu(t);
    if (!gpu) return;
    const { tri, info } = randomScene(new Rng(w * 1000 + faces), faces, w, h);
    const cpu = renderFacesCpu(tri, info, w, h, BG);
    const covered = cpu.ids.filter((id) => id !== NO_FACE).length;
    assert.ok(covered > 0, 'scene covers pixels');
    const g = await renderFacesGpu(gpu, tri, info, w, h, BG);
    const a = agreement(cpu.ids, g.ids);
    console.log(`${w}x${h} ${faces} faces: ${covered} covered pixels, id agreement ${a}`);
    assert.ok(a >= MIN_AGREEMENT, `id agreement ${a}`);
    assert.ok(agreement(cpu.out, g.out) >= MIN_AGREEMENT);
    // Resolve is exact given the ids.
    for (let p = 0; p < w * h; p++) {
      assert.equal(g.out[p], g.ids[p] === NO_FACE ? BG : info[g.ids[p]!], `pixel ${p}`);
    }
  });
}

test('GPU rasteriser with a 1 MiB binding limit splits faces into chunks', async (t) => {
  const gpu = await requireGpu(t, { maxBinding: FORCED_SMALL_BINDING });
  if (!gpu) return;
  // 40000 faces * 36 B = 1.44 MB: two face chunks (ids and output words from both chunks must appear).
  const faces = 40000;
  const { tri, info } = randomScene(new Rng(99), faces, 96, 80);
  const cpu = renderFacesCpu(tri, info, 96, 80, BG);
  const g = await renderFacesGpu(gpu, tri, info, 96, 80, BG);
  const a = agreement(cpu.ids, g.ids);
  console.log(`chunked 40000 faces: id agreement ${a}`);
  assert.ok(a >= MIN_AGREEMENT, `id agreement ${a}`);
  const chunk = Math.floor(FORCED_SMALL_BINDING / 36);
  assert.ok(
    g.ids.some((id) => id !== NO_FACE && id >= chunk),
    'second chunk drew',
  );
  assert.ok(g.ids.some((id) => id < chunk));
  assert.ok(agreement(cpu.out, g.out) >= MIN_AGREEMENT);
  await assert.rejects(
    renderFacesGpu(gpu, tri, info, 600, 600, BG),
    /per-pixel bindings, above the 1048576-byte limit/,
  );
});

test('depth order and deterministic ties (CPU and GPU)', async (t) => {
  // Faces 0-1: a far square; 2-3: a near square over it; 4-5 and 6-7: two identical squares (a depth tie).
  const quad = (x0: number, y0: number, s: number, iz: number) => [
    [x0, y0, iz, x0 + s, y0, iz, x0 + s, y0 + s, iz],
    [x0, y0, iz, x0 + s, y0 + s, iz, x0, y0 + s, iz],
  ];
  const rows = [
    ...quad(2, 2, 10, 0.4),
    ...quad(2, 2, 10, 0.5),
    ...quad(14, 2, 10, 0.5),
    ...quad(14, 2, 10, 0.5),
  ];
  const tri = new Float32Array(rows.flat());
  const info = Uint32Array.from({ length: 8 }, (_, i) => i + 1);
  const cpu = renderFacesCpu(tri, info, 26, 14, BG);
  const at = (x: number, y: number) => cpu.ids[y * 26 + x];
  assert.ok(at(5, 8) === 2 || at(5, 8) === 3, `near face wins: ${at(5, 8)}`);
  assert.ok(at(17, 8) === 4 || at(17, 8) === 5, `tie goes to the smaller id: ${at(17, 8)}`);
  assert.equal(at(0, 0), NO_FACE);
  assert.equal(cpu.out[0], BG);
  const gpu = await requireGpu(t);
  if (!gpu) return;
  const g = await renderFacesGpu(gpu, tri, info, 26, 14, BG);
  assert.deepEqual(g.ids, cpu.ids);
  assert.deepEqual(g.out, cpu.out);
  // Words only (one read-back of half the size): the same words, no ids.
  const w = await renderFacesGpu(gpu, tri, info, 26, 14, BG, { ids: false });
  assert.equal(w.ids.length, 0);
  assert.deepEqual(w.out, cpu.out);
});

test('argument errors name the op', () => {
  assert.throws(
    () => renderFacesCpu(new Float32Array(8), new Uint32Array(1), 4, 4, BG),
    /not a multiple of 9/,
  );
  assert.throws(
    () => renderFacesCpu(new Float32Array(9), new Uint32Array(2), 4, 4, BG),
    /1 faces but 2 info/,
  );
  assert.throws(
    () => renderFacesCpu(new Float32Array(9), new Uint32Array(1), 0, 4, BG),
    /invalid image size/,
  );
});
