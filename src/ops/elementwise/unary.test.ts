import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertClose, randomArray } from '../../../test/helpers/compare.ts';
import { FORCED_SMALL_BINDING, requireGpu } from '../../../test/helpers/gpu.ts';
import { roundF16 } from '../../runtime/dtype.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { cast, gelu, scaleShift, silu, softplus, type UnaryOp, unary } from './unary.ts';

const ALL_OPS: UnaryOp[] = [
  'geluTanh',
  'geluErf',
  'erf',
  'silu',
  'sigmoid',
  'tanh',
  'softplus',
  'exp',
  'log',
  'sqrt',
  'neg',
  'abs',
  'relu',
  'scaleShift',
  'identity',
];

/** Inputs spread over [-scale, scale] (log/sqrt get |x| + 1e-3 so they stay in their domain). */
function inputsFor(op: UnaryOp, n: number, seed: number, scale: number): Float32Array {
  const v = randomArray(n, seed, scale);
  if (op === 'log' || op === 'sqrt') return v.map((x) => Math.abs(x) + 1e-3);
  return v;
}

test('cpu gelu matches PyTorch reference values', () => {
  // Both GELU formulas evaluated in double precision (Python math.erf / math.tanh).
  const x = Tensor.fromArray([-3, -1, -0.5, 0, 0.5, 1, 3], [7]);
  const exact = [
    -0.00404969409489031, -0.158655253931457, -0.154268769362993, 0, 0.345731230637007, 0.841344746068543,
    2.99595030590511,
  ];
  const approx = [
    -0.00363739208177299, -0.158808009391723, -0.154285990174856, 0, 0.345714009825144, 0.841191990608277,
    2.99636260791823,
  ];
  // f32 evaluation: a few ulp, plus up to ~1e-7 absolute where 1 + tanh/erf cancels at x = -3.
  assertClose(gelu(x).data, exact, { atol: 2e-7, rtol: 2e-7, label: 'gelu erf' });
  assertClose(gelu(x, { approximate: 'tanh' }).data, approx, { atol: 2e-7, rtol: 2e-7, label: 'gelu tanh' });
});

test('cpu silu, softplus, scaleShift, cast edge values', () => {
  const x = Tensor.fromArray([-100, -20, 0, 1, 25, 100], [6]);
  // silu(-100) underflows to -0 instead of NaN or -inf; softplus is x above the threshold 20 and exp(x) far below 0.
  assertClose(silu(x).data, [-3.720076e-42, -4.1223073e-8, 0, 0.7310586, 25, 100], {
    atol: 1e-12,
    rtol: 1e-6,
  });
  assertClose(softplus(x).data, [3.720076e-44, 2.0611537e-9, Math.LN2, 1.3132616, 25, 100], {
    atol: 1e-12,
    rtol: 1e-6,
  });
  assert.deepEqual([...scaleShift(x, 0.5, 1).data], [-49, -9, 1, 1.5, 13.5, 51]);
  const h = cast(Tensor.fromArray([1 / 3, 70000, -1e-8], [3]), 'f16');
  assert.equal(h.dtype, 'f16');
  assert.deepEqual([...h.data], [roundF16(1 / 3), Number.POSITIVE_INFINITY, -0]);
});

for (const forced of [false, true]) {
  test(`gpu unary ops match the CPU twin (f32${forced ? ', 1 MiB binding limit' : ''})`, async (t) => {
    const gpu = await requireGpu(t, forced ? { maxBinding: FORCED_SMALL_BINDING } : {});
    if (!gpu) return;
    // 300_001 f32 = 1.2 MB > 1 MiB: two chunks when forced; 1 and 257 cover partial workgroups.
    const sizes = forced ? [300_001] : [1, 257, 4099];
    let seed = 11;
    for (const n of sizes) {
      for (const op of ALL_OPS) {
        const v = inputsFor(op, n, seed++, 6);
        const o = { alpha: 1.7, beta: -0.3 };
        const expected = unary(op, Tensor.fromArray(v, [n]), o).data;
        const got = await unary(op, gpu.tensor(v, [n]), o).toArray();
        // The twin repeats the kernel's f32 operations; what differs is the accuracy of WGSL builtins (exp/log
        // 3 + 2|x| ulp, tanh via sinh/cosh, division 2.5 ulp). 4e-6 relative + 1e-6 absolute covers a few ulp
        // of the results here (|x| <= 6, exp(6) = 403).
        assertClose(got, expected, { atol: 1e-6, rtol: 4e-6, label: `${op} n=${n}` });
      }
    }
  });
}

test('gpu f16 in/out and casts', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  if (!gpu.features.f16) return t.skip('adapter has no shader-f16');
  const n = 1027;
  const v = randomArray(n, 99, 5);
  for (const op of ['geluTanh', 'geluErf', 'silu', 'sigmoid', 'exp'] as UnaryOp[]) {
    const expected = unary(op, Tensor.fromArray(v, [n], { dtype: 'f16' })).data;
    const got = await unary(op, gpu.tensor(v, [n], 'f16')).toArray();
    // Same f32 value up to the f32 tolerance above (1e-6 absolute where 1 + tanh(x) cancels for x << 0), then
    // one rounding to f16: one f16 ulp apart (2^-10 relative) when the f32 values straddle a rounding boundary.
    assertClose(got, expected, { atol: 1e-6, rtol: 2 ** -10, label: `${op} f16` });
  }
  const toHalf = await cast(gpu.tensor(v, [n]), 'f16').toArray();
  assert.deepEqual([...toHalf], [...v].map(roundF16), 'f32 -> f16 rounds to nearest even');
  const back = cast(gpu.tensor(v, [n], 'f16'), 'f32');
  assert.equal(back.dtype, 'f32');
  assert.deepEqual([...(await back.toArray())], [...v].map(roundF16), 'f16 -> f32 is exact');
});

test('gpu gelu erf matches the twin on a dense grid over [-8, 8]', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  const n = 20001;
  const v = new Float32Array(n).map((_, i) => -8 + (16 * i) / (n - 1));
  const got = await gelu(gpu.tensor(v, [n])).toArray();
  const cpu = gelu(Tensor.fromArray(v, [n])).data;
  // erf error 1.3e-7 times 0.5|x| plus rounding of the product: within 4 ulp of the CPU twin (same algorithm).
  assertClose(got, cpu, { atol: 2e-7, rtol: 5e-7, label: 'gelu erf gpu vs twin' });
});
