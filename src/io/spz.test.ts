import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { testGaussians } from '../../test/helpers/splats.ts';
import { GAUSSIAN_PLY_PROPERTIES } from './ply-gaussians.ts';
import { gaussiansToSpz, readSpz, writeSpz } from './spz.ts';

const P = GAUSSIAN_PLY_PROPERTIES.length;
const col = (name: string): number =>
  GAUSSIAN_PLY_PROPERTIES.indexOf(name as (typeof GAUSSIAN_PLY_PROPERTIES)[number]);
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Largest per-property error between two row sets, with opacity compared after the sigmoid and quaternions
 * normalised and sign-aligned (q and -q are the same rotation). */
function errors(a: Float32Array, b: Float32Array, n: number): Record<string, number> {
  const e: Record<string, number> = { pos: 0, dc: 0, logScale: 0, alpha: 0, rot: 0 };
  for (let i = 0; i < n; i++) {
    const r = i * P;
    for (const k of ['x', 'y', 'z']) e.pos = Math.max(e.pos, Math.abs(a[r + col(k)] - b[r + col(k)]));
    for (let c = 0; c < 3; c++) {
      e.dc = Math.max(e.dc, Math.abs(a[r + col(`f_dc_${c}`)] - b[r + col(`f_dc_${c}`)]));
      e.logScale = Math.max(e.logScale, Math.abs(a[r + col(`scale_${c}`)] - b[r + col(`scale_${c}`)]));
    }
    e.alpha = Math.max(e.alpha, Math.abs(sigmoid(a[r + col('opacity')]) - sigmoid(b[r + col('opacity')])));
    const qa = [0, 1, 2, 3].map((c) => a[r + col(`rot_${c}`)]);
    const qb = [0, 1, 2, 3].map((c) => b[r + col(`rot_${c}`)]);
    const na = Math.hypot(...qa);
    const nb = Math.hypot(...qb);
    const sign = qa.reduce((s, v, c) => s + v * qb[c], 0) < 0 ? -1 : 1;
    for (let c = 0; c < 4; c++) e.rot = Math.max(e.rot, Math.abs(qa[c] / na - (sign * qb[c]) / nb));
  }
  return e;
}

test('SPZ: write with the official library, read back: every attribute within the format quantisation', async () => {
  const g = testGaussians(400, 3);
  const src = g.toPlyProperties();
  for (const version of [4, 3] as const) {
    const bytes = await gaussiansToSpz(g, { version });
    const back = await readSpz(bytes);
    assert.equal(back.count, 400);
    assert.equal(back.antialiased, true);
    assert.deepEqual([...back.names], [...GAUSSIAN_PLY_PROPERTIES]);
    const e = errors(src.rows, back.rows, 400);
    // Bounds from the format (see src/io/spz.ts): half a quantisation step plus float32 rounding.
    assert.ok(e.pos <= 0.5 / 4096 + 1e-6, `positions: 24-bit fixed point, 12 fractional bits (err ${e.pos})`);
    assert.ok(e.logScale <= 0.5 / 16 + 1e-5, `log-scales: (s + 10) * 16 in 8 bits (err ${e.logScale})`);
    assert.ok(e.alpha <= 0.5 / 255 + 1e-6, `opacity: sigmoid in 8 bits (err ${e.alpha})`);
    assert.ok(e.dc <= 0.5 / (0.15 * 255) + 1e-5, `SH DC: dc * 0.15 + 0.5 in 8 bits (err ${e.dc})`);
    // v3/v4: the smallest three components in 9 bits + sign over [-1/sqrt2, 1/sqrt2] (half step 6.9e-4); the
    // largest (>= 1/2) is rederived, amplifying by at most 3 * (1/sqrt2) / (1/2) = 4.2: 2.9e-3.
    assert.ok(e.rot <= 3e-3, `rotation: smallest three in 10 bits (err ${e.rot})`);
    // The quantisation is real (not a float passthrough), or the test above proves nothing about the format.
    assert.ok(e.pos > 1e-6 && e.logScale > 1e-3, 'values were quantised');
  }
});

test('SPZ: the antialiased flag round-trips; SPZ is several times smaller than the PLY rows', async () => {
  const g = testGaussians(2000, 5);
  const bytes = await gaussiansToSpz(g, { antialiased: false });
  assert.equal((await readSpz(bytes)).antialiased, false);
  const plyBytes = 2000 * P * 4;
  assert.ok(bytes.byteLength * 4 < plyBytes, `spz ${bytes.byteLength} B vs ply rows ${plyBytes} B`);
});

test('SPZ: bad input gives a clear error naming the file; writeSpz is atomic', async () => {
  await assert.rejects(readSpz(new Uint8Array([1, 2, 3, 4, 5]), 'x.spz'), /x\.spz: not an SPZ file/);
  const good = await gaussiansToSpz(testGaussians(50, 1));
  await assert.rejects(readSpz(good.slice(0, 40), 'cut.spz'), /cut\.spz: the SPZ library could not decode/);
  const rows = testGaussians(3, 1).toPlyProperties();
  rows.rows[col('scale_1')] = Number.NaN;
  await assert.rejects(gaussiansToSpz(rows), /Gaussian 0 has a non-finite scale_1/);
  await assert.rejects(
    gaussiansToSpz({ names: ['x', 'y', 'z'], rows: new Float32Array(3) }),
    /not the 3DGS layout/,
  );

  const dir = await mkdtemp(join(tmpdir(), 'spz-'));
  try {
    const size = await writeSpz(join(dir, 'g.spz'), testGaussians(30, 2));
    assert.deepEqual(await readdir(dir), ['g.spz'], 'no temporary file left');
    const bytes = new Uint8Array(await readFile(join(dir, 'g.spz')));
    assert.equal(bytes.byteLength, size);
    assert.equal((await readSpz(bytes)).count, 30);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
