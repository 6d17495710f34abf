import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertClose, randomArray } from '../../../test/helpers/compare.ts';
import { FORCED_SMALL_BINDING, requireGpu } from '../../../test/helpers/gpu.ts';
import { type DType, roundF16 } from '../../runtime/dtype.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { layerNorm, modulatedLayerNorm, rowThreads } from './layernorm.ts';

/** Rows with a non-zero mean (3) so a sloppy mean would show, spread 2. */
function rowsData(n: number, seed: number): Float32Array {
  return randomArray(n, seed, 2).map((v) => v + 3);
}

test('cpu layerNorm: known values, affine, eps', () => {
  const x = Tensor.fromArray([1, 2, 3, 4, 10, 10, 10, 10], [2, 4]);
  // Row 1: mean 2.5, var 1.25; row 2 is constant: 0 / sqrt(eps) = 0.
  const r = 1 / Math.sqrt(1.25 + 1e-5);
  assertClose(layerNorm(x).data, [-1.5 * r, -0.5 * r, 0.5 * r, 1.5 * r, 0, 0, 0, 0], { atol: 1e-6 });
  const w = Tensor.fromArray([1, 2, 3, 4], [4]);
  const b = Tensor.fromArray([0, 0, 0, 1], [4]);
  const y = layerNorm(x, { weight: w, bias: b, eps: 1e-6 }).data;
  const r6 = 1 / Math.sqrt(1.25 + 1e-6);
  assertClose(y.slice(0, 4), [-1.5 * r6, -1 * r6, 1.5 * r6, 6 * r6 + 1], { atol: 1e-6 });
  assert.deepEqual([...y.slice(4)], [0, 0, 0, 1]);
});

test('ChannelLayerNorm32 on a channel-last volume is layerNorm over the last dim', () => {
  // The SS VAE normalises [B, C, D, H, W] over C at every voxel; we keep volumes channel-last [B, D, H, W, C],
  // so per-voxel normalisation over C is exactly layerNorm on the last dim. Check against the definition applied
  // to the channel-first layout.
  const [B, C, D, H, W] = [2, 5, 3, 2, 4];
  const first = randomArray(B * C * D * H * W, 7, 3);
  const last = new Float32Array(first.length);
  const vox = D * H * W;
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++)
      for (let v = 0; v < vox; v++) last[(b * vox + v) * C + c] = first[(b * C + c) * vox + v];
  const w = randomArray(C, 8);
  const bias = randomArray(C, 9);
  const y = layerNorm(Tensor.fromArray(last, [B, D, H, W, C]), {
    weight: Tensor.fromArray(w, [C]),
    bias: Tensor.fromArray(bias, [C]),
  }).data;
  for (let b = 0; b < B; b++) {
    for (let v = 0; v < vox; v++) {
      const vals = Array.from({ length: C }, (_, c) => first[(b * C + c) * vox + v]);
      const mean = vals.reduce((s, a) => s + a, 0) / C;
      const variance = vals.reduce((s, a) => s + (a - mean) ** 2, 0) / C;
      for (let c = 0; c < C; c++) {
        const want = ((vals[c] - mean) / Math.sqrt(variance + 1e-5)) * w[c] + bias[c];
        // f32 result vs the f64 definition: a few ulp of values of magnitude <= ~4.
        assert.ok(Math.abs(y[(b * vox + v) * C + c] - want) < 2e-6, `b${b} v${v} c${c}`);
      }
    }
  }
});

test('cpu modulatedLayerNorm rounds at the official points in f16', () => {
  const C = 4;
  const x = Tensor.fromArray([0.1, 0.7, -0.3, 2.2, 1, 2, 3, 4], [2, 1, C], { dtype: 'f16' });
  const shift = Tensor.fromArray([0.01, -0.02, 0.03, 0.5, 0, 0, 0, 0], [2, C], { dtype: 'f16' });
  const scale = Tensor.fromArray([0.333, 0.1, -0.7, 1e-4, 0, 0, 0, 0], [2, C], { dtype: 'f16' });
  const y = modulatedLayerNorm(x, shift, scale).data;
  const ln = layerNorm(x, { eps: 1e-6 }).data; // already rounded to f16 (step 1)
  for (let i = 0; i < 8; i++) {
    const b = Math.floor(i / C);
    const c = i % C;
    const s = roundF16(1 + scale.data[b * C + c]);
    const want = roundF16(roundF16(ln[i] * s) + shift.data[b * C + c]);
    assert.equal(y[i], want, `element ${i}`);
  }
  // 1 + 1e-4 rounds to 1 in f16, so column 3 of batch 0 is exactly LN + shift.
  assert.equal(y[3], roundF16(ln[3] + shift.data[3]));
});

test('shape and dtype errors name the op and the shapes', () => {
  const x = Tensor.zeros([2, 3, 8]);
  assert.throws(
    () => layerNorm(x, { weight: Tensor.zeros([7]) }),
    /layerNorm: weight \[7\] does not match .*\[2, 3, 8\]/,
  );
  assert.throws(
    () => modulatedLayerNorm(x, Tensor.zeros([1, 8]), Tensor.zeros([2, 8])),
    /modulatedLayerNorm: shift and scale must be \[B, C\] = \[2, 8\]/,
  );
  assert.throws(
    () => modulatedLayerNorm(x, Tensor.zeros([2, 8], { dtype: 'f16' }), Tensor.zeros([2, 8])),
    /modulatedLayerNorm: shift\/scale dtype f16 differs/,
  );
});

test('rowThreads packs narrow rows', () => {
  assert.deepEqual(
    [1, 8, 32, 128, 768, 1024, 4096].map((n) => rowThreads(n)),
    [1, 2, 8, 32, 256, 256, 256],
  );
});

// [rows, width]: every width the models use plus odd ones; 4100 takes the re-read path (17 values per thread).
const CASES: [number, number][] = [
  [3, 1],
  [37, 8],
  [65, 32],
  [9, 128],
  [5, 517],
  [7, 768],
  [3, 1024],
  [2, 2048],
  [3, 4096],
  [2, 4100],
];

async function checkAll(forced: boolean, dtype: DType, t: import('node:test').TestContext) {
  const gpu = await requireGpu(t, forced ? { maxBinding: FORCED_SMALL_BINDING } : {});
  if (!gpu) return;
  if (dtype === 'f16' && !gpu.features.f16) return t.skip('adapter has no shader-f16');
  // With the forced 1 MiB limit add shapes over 1 MiB so rows are split into several dispatches.
  // f16 runs a subset (narrow, odd, wide, re-read path) to keep the file fast on lavapipe.
  const f16Cases = CASES.filter(([, n]) => [8, 517, 1024, 4100].includes(n));
  const cases: [number, number][] = forced
    ? [
        [70, 4096],
        [1100, 257],
        [37, 8],
      ]
    : dtype === 'f32'
      ? CASES
      : f16Cases;
  let seed = 100;
  for (const [k, [rows, n]] of cases.entries()) {
    const xv = rowsData(rows * n, seed++);
    const wv = randomArray(n, seed++);
    const bv = randomArray(n, seed++);
    // Alternate affine / parameter-free between cases (both paths for every width would double the compiles).
    for (const affine of [k % 2 === 1]) {
      const opts = (on: (v: Float32Array, s: number[]) => Tensor) => ({
        weight: affine ? on(wv, [n]) : null,
        bias: affine ? on(bv, [n]) : null,
        eps: 1e-6,
      });
      const cpu = (v: Float32Array, s: number[]) => Tensor.fromArray(v, s);
      const dev = (v: Float32Array, s: number[]) => gpu.tensor(v, s);
      const expected = layerNorm(Tensor.fromArray(xv, [rows, n], { dtype }), opts(cpu)).data;
      const got = await layerNorm(gpu.tensor(xv, [rows, n], dtype), opts(dev)).toArray();
      // f32: the GPU sums the row in f32 (tree order), the twin in f64; with mean 3 and spread 2 the mean and
      // variance differ by ~1e-7 relative, i.e. outputs (|y| <= ~4 after affine) by a few 1e-7: 3e-6 absolute.
      // f16: the same f32 difference can flip one final rounding: one f16 ulp (2^-10 relative, 2^-24 absolute
      // near 0) on top.
      const tol = dtype === 'f32' ? { atol: 3e-6, rtol: 1e-6 } : { atol: 3e-6, rtol: 2 ** -10 };
      assertClose(got, expected, { ...tol, label: `${dtype} [${rows}, ${n}] affine=${affine}` });
    }
  }
}

for (const forced of [false, true]) {
  for (const dtype of ['f32', 'f16'] as const) {
    test(`gpu layerNorm matches the twin (${dtype}${forced ? ', 1 MiB binding limit' : ''})`, (t) =>
      checkAll(forced, dtype, t));
  }
}

for (const forced of [false, true]) {
  test(`gpu modulatedLayerNorm matches the twin${forced ? ' (1 MiB binding limit)' : ''}`, async (t) => {
    const gpu = await requireGpu(t, forced ? { maxBinding: FORCED_SMALL_BINDING } : {});
    if (!gpu) return;
    const shapes: [number, number, number][] = forced
      ? [[3, 97, 1024]]
      : [
          [1, 5, 8],
          [2, 33, 32],
          [3, 7, 1024],
          [2, 3, 4096],
        ];
    const dtypes: DType[] = gpu.features.f16 ? ['f32', 'f16'] : ['f32'];
    let seed = 500;
    for (const [B, L, C] of shapes) {
      for (const dtype of dtypes) {
        const xv = rowsData(B * L * C, seed++);
        const sh = randomArray(B * C, seed++);
        const sc = randomArray(B * C, seed++);
        const expected = modulatedLayerNorm(
          Tensor.fromArray(xv, [B, L, C], { dtype }),
          Tensor.fromArray(sh, [B, C], { dtype }),
          Tensor.fromArray(sc, [B, C], { dtype }),
        ).data;
        const got = await modulatedLayerNorm(
          gpu.tensor(xv, [B, L, C], dtype),
          gpu.tensor(sh, [B, C], dtype),
          gpu.tensor(sc, [B, C], dtype),
        ).toArray();
        // f32: as for layerNorm. f16: the GPU's f32 LN value can land on the other side of an f16 rounding
        // boundary than the twin's (step 1 flips by one ulp, 2^-10 for |v| in [1, 2)); `* (1 + scale)` (<= 2)
        // doubles it and the product (|m| < 4, ulp 2^-9) rounds again: up to 2^-8 absolute, which survives
        // `+ shift` even when the sum cancels to a small value. The exact check below pins the rounding points.
        const tol = dtype === 'f32' ? { atol: 5e-6, rtol: 1e-6 } : { atol: 2 ** -8, rtol: 2 ** -9 };
        assertClose(got, expected, { ...tol, label: `${dtype} [${B}, ${L}, ${C}]` });
        if (dtype === 'f16') {
          // Exact: the same kernel's LN value (parameter-free layerNorm, same statistics code and launch shape),
          // then the modulation rounded at the official points on the CPU, must equal the fused result bit for bit.
          const v = await layerNorm(gpu.tensor(xv, [B, L, C], dtype), { eps: 1e-6 }).toArray();
          const shr = sh.map(roundF16);
          const scr = sc.map(roundF16);
          const exact = v.map((val, i) => {
            const m = Math.floor(i / (L * C)) * C + (i % C);
            return roundF16(roundF16(val * roundF16(1 + scr[m])) + shr[m]);
          });
          assertClose(got, exact, { atol: 0, label: `f16 [${B}, ${L}, ${C}] exact rounding points` });
        }
      }
    }
  });
}
