import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertClose, randomArray } from '../../../test/helpers/compare.ts';
import { FORCED_SMALL_BINDING, requireGpu } from '../../../test/helpers/gpu.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { softmax } from './softmax.ts';

test('cpu softmax matches hand-computed values and is shift invariant', () => {
  const y = softmax(Tensor.fromArray([1, 2, 3, 1000, 1000, 1000], [2, 3])).data;
  const e = [Math.exp(-2), Math.exp(-1), 1];
  const s = e[0] + e[1] + e[2];
  assertClose(y, [e[0] / s, e[1] / s, e[2] / s, 1 / 3, 1 / 3, 1 / 3], { atol: 1e-7 });
});

test('softmax of a rank-0 tensor names the op', () => {
  assert.throws(() => softmax(Tensor.fromArray([1], [])), /softmax: needs at least one dimension/);
});

const CASES: number[][] = [[1], [5, 1], [3, 7], [37, 517], [2, 3, 1374], [1, 4100]];

for (const forced of [false, true]) {
  test(`gpu softmax matches the CPU twin${forced ? ' (1 MiB binding limit)' : ''}`, async (t) => {
    const gpu = await requireGpu(t, forced ? { maxBinding: FORCED_SMALL_BINDING } : {});
    if (!gpu) return;
    const cases = forced ? [...CASES, [700, 517]] : CASES; // 700 x 517 f32 = 1.4 MiB: two dispatches at 1 MiB
    let seed = 11;
    for (const shape of cases) {
      const n = shape.reduce((a, b) => a * b, 1);
      // Scores up to +-20 with a -13.8 shift on a third of them, like the mask-weighted cross-attention.
      const xv = randomArray(n, seed++, 20).map((v, i) => (i % 3 === 0 ? v - 13.8 : v));
      const expected = softmax(Tensor.fromArray(xv, shape)).data;
      const got = await softmax(gpu.tensor(xv, shape)).toArray();
      // f32 exp (a few ulp) and a sum over <= 4100 terms in f32 vs f64: relative error << 1e-5; outputs <= 1.
      assertClose(got, expected, { atol: 1e-7, rtol: 2e-5, label: `f32 ${shape}` });
      if (gpu.features.f16) {
        const h = await softmax(gpu.tensor(xv, shape, 'f16')).toArray();
        const eh = softmax(Tensor.fromArray(xv, shape, { dtype: 'f16' })).data;
        // Same f16-rounded inputs; the f16 output rounding (2^-11 relative) dominates, so 1 f16 ulp + slack.
        assertClose(h, eh, { atol: 1e-7, rtol: 1e-3, label: `f16 ${shape}` });
        const mixed = await softmax(gpu.tensor(xv, shape, 'f16'), { dtype: 'f32' }).toArray();
        assertClose(mixed, softmax(Tensor.fromArray(xv, shape, { dtype: 'f16' }), { dtype: 'f32' }).data, {
          atol: 1e-7,
          rtol: 2e-5,
          label: `f16->f32 ${shape}`,
        });
      }
    }
  });
}
