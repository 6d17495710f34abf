import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { testGaussians } from '../../test/helpers/splats.ts';
import { GAUSSIAN_PLY_PROPERTIES } from './ply-gaussians.ts';
import { gaussiansToSog, readSog, writeSog } from './sog.ts';

const P = GAUSSIAN_PLY_PROPERTIES.length;
const col = (name: string): number =>
  GAUSSIAN_PLY_PROPERTIES.indexOf(name as (typeof GAUSSIAN_PLY_PROPERTIES)[number]);
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Range (max - min) of one property over all rows (or of several properties together). */
function range(rows: Float32Array, names: string[]): number {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < rows.length / P; i++) {
    for (const k of names) {
      lo = Math.min(lo, rows[i * P + col(k)]);
      hi = Math.max(hi, rows[i * P + col(k)]);
    }
  }
  return hi - lo;
}

test('SOG: write and read back with splat-transform: the same Gaussians within the format quantisation', async () => {
  const n = 400;
  const src = testGaussians(n, 11).toPlyProperties();
  const bytes = await gaussiansToSog(src, { workers: 0 });
  const back = await readSog(bytes);
  assert.equal(back.count, n);
  // The encoder reorders (Morton order): pair each decoded Gaussian with the nearest original position, and check
  // the pairing is one-to-one.
  const used = new Set<number>();
  const e = { pos: [0, 0, 0], dc: 0, logScale: 0, alpha: 0, rot: 0 };
  let transparent = 0;
  for (let j = 0; j < n; j++) {
    const b = j * P;
    let best = Infinity;
    let bi = -1;
    for (let i = 0; i < n; i++) {
      const a = i * P;
      const d = Math.hypot(
        src.rows[a] - back.rows[b],
        src.rows[a + 1] - back.rows[b + 1],
        src.rows[a + 2] - back.rows[b + 2],
      );
      if (d < best) [best, bi] = [d, i];
    }
    assert.ok(!used.has(bi), `decoded Gaussian ${j} pairs with original ${bi} twice`);
    used.add(bi);
    const a = bi * P;
    for (let c = 0; c < 3; c++) e.pos[c] = Math.max(e.pos[c], Math.abs(src.rows[a + c] - back.rows[b + c]));
    // A Gaussian whose opacity byte is 0 is invisible (our rasteriser and the official one skip alpha < 1/255);
    // the lossless WebP encoder then drops the RGB under alpha 0, so its colour is not stored.
    const visible = sigmoid(back.rows[b + col('opacity')]) >= 0.5 / 255;
    if (!visible) {
      transparent++;
      const orig = sigmoid(src.rows[a + col('opacity')]);
      assert.ok(orig < 1 / 255, `Gaussian ${bi} (opacity ${orig}) decoded as fully transparent`);
    }
    for (let c = 0; c < 3; c++) {
      if (visible)
        e.dc = Math.max(e.dc, Math.abs(src.rows[a + col(`f_dc_${c}`)] - back.rows[b + col(`f_dc_${c}`)]));
      e.logScale = Math.max(
        e.logScale,
        Math.abs(src.rows[a + col(`scale_${c}`)] - back.rows[b + col(`scale_${c}`)]),
      );
    }
    e.alpha = Math.max(
      e.alpha,
      Math.abs(sigmoid(src.rows[a + col('opacity')]) - sigmoid(back.rows[b + col('opacity')])),
    );
    const qa = [0, 1, 2, 3].map((c) => src.rows[a + col(`rot_${c}`)]);
    const qb = [0, 1, 2, 3].map((c) => back.rows[b + col(`rot_${c}`)]);
    const sign = qa.reduce((s, v, c) => s + v * qb[c], 0) < 0 ? -1 : 1;
    const na = Math.hypot(...qa);
    const nb = Math.hypot(...qb);
    for (let c = 0; c < 4; c++) e.rot = Math.max(e.rot, Math.abs(qa[c] / na - (sign * qb[c]) / nb));
  }
  // Positions: 16 bits per axis over the range of L = sign(x) log(1 + |x|); a full step in L (the encoder's
  // rounding direction is not part of the spec) is at most (1 + |x|) <= 1.5 steps in x inside the [-0.5, 0.5] box.
  for (let c = 0; c < 3; c++) {
    const L = (x: number): number => Math.sign(x) * Math.log1p(Math.abs(x));
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < n; i++) {
      lo = Math.min(lo, L(src.rows[i * P + c]));
      hi = Math.max(hi, L(src.rows[i * P + c]));
    }
    const bound = (1.5 * (hi - lo)) / 65535;
    assert.ok(e.pos[c] <= bound, `position axis ${c}: err ${e.pos[c]} > ${bound}`);
  }
  // Opacity: sigmoid in 8 bits (one step: the encoder truncates).
  assert.ok(e.alpha <= 1 / 255 + 1e-6, `opacity err ${e.alpha}`);
  // Rotations: smallest three in 8 bits over [-1/sqrt2, 1/sqrt2] (half step 2.8e-3); the rederived largest
  // component (>= 1/2) amplifies by at most 3 * (1/sqrt2) / (1/2) = 4.2: 1.2e-2.
  assert.ok(e.rot <= 1.2e-2, `rotation err ${e.rot}`);
  // Log-scales and SH DC: 256-entry k-means codebooks; a fitted codebook over values spread across a range R
  // leaves each value within about half a uniform spacing R / 255 of its centroid; we allow one full spacing.
  const rScale = range(src.rows, ['scale_0', 'scale_1', 'scale_2']);
  const rDc = range(src.rows, ['f_dc_0', 'f_dc_1', 'f_dc_2']);
  assert.ok(e.logScale <= rScale / 255, `log-scale err ${e.logScale} > ${rScale / 255}`);
  assert.ok(e.dc <= rDc / 255, `SH DC err ${e.dc} > ${rDc / 255}`);
  assert.ok(transparent < n, 'some Gaussians keep their colour');
});

test('SOG: bad input is refused with the name; writeSog is atomic and writes a zip bundle with meta.json', async () => {
  await assert.rejects(readSog(new Uint8Array([0, 1, 2, 3]), 'x.sog'), /x\.sog: not a bundled \.sog/);
  await assert.rejects(
    readSog(new Uint8Array([0x50, 0x4b, 3, 4, 0, 0, 0]), 'cut.sog'),
    /cut\.sog: the SOG reader/,
  );
  await assert.rejects(
    gaussiansToSog(testGaussians(5, 1), { iterations: 0 }),
    /iterations must be a positive/,
  );
  const dir = await mkdtemp(join(tmpdir(), 'sog-'));
  try {
    const size = await writeSog(join(dir, 'g.sog'), testGaussians(64, 4), { workers: 0, iterations: 2 });
    assert.deepEqual(await readdir(dir), ['g.sog'], 'no temporary file left');
    const bytes = new Uint8Array(await readFile(join(dir, 'g.sog')));
    assert.equal(bytes.byteLength, size);
    // The bundle holds meta.json (file names are stored in the zip's local headers as plain text).
    assert.ok(new TextDecoder().decode(bytes).includes('meta.json'), 'meta.json inside the bundle');
    assert.equal((await readSog(bytes)).count, 64);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
