import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertClose, randomArray } from '../../../test/helpers/compare.ts';
import { FORCED_SMALL_BINDING, requireGpu } from '../../../test/helpers/gpu.ts';
import type { DType } from '../../runtime/dtype.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { multiHeadRmsNorm } from './rmsnorm.ts';

test('cpu multiHeadRmsNorm: known values, per-head gamma, zero rows', () => {
  // x [1, 2 heads, D=2]: head 0 = (3, 4) -> (0.6, 0.8) * gamma * sqrt(2); head 1 = 0 -> 0 (divided by 1e-12).
  const x = Tensor.fromArray([3, 4, 0, 0], [1, 2, 2]);
  const g = Tensor.fromArray([1, 2, 5, 5], [2, 2]);
  const y = multiHeadRmsNorm(x, g).data;
  assertClose(y, [0.6 * Math.SQRT2, 1.6 * Math.SQRT2, 0, 0], { atol: 1e-6 });
  // Tiny rows are not blown up: ||x|| < 1e-12 divides by 1e-12 (F.normalize's eps).
  const tiny = multiHeadRmsNorm(Tensor.fromArray([1e-13, 0], [1, 2]), Tensor.fromArray([1, 1], [1, 2])).data;
  assertClose(tiny, [0.1 * Math.SQRT2, 0], { atol: 1e-7 });
});

test('shape errors name the op and the shapes', () => {
  assert.throws(
    () => multiHeadRmsNorm(Tensor.zeros([2, 16, 64]), Tensor.zeros([16, 32])),
    /multiHeadRmsNorm: the last two dims of x must equal gamma's \(x \[2, 16, 64\], gamma \[16, 32\]\)/,
  );
});

for (const forced of [false, true]) {
  test(`gpu multiHeadRmsNorm matches the twin${forced ? ' (1 MiB binding limit)' : ''}`, async (t) => {
    const gpu = await requireGpu(t, forced ? { maxBinding: FORCED_SMALL_BINDING } : {});
    if (!gpu) return;
    // [..., H, D]: the model's 16 x 64 heads, odd sizes, a 1-wide head, and (forced) 1.5 MiB of f32.
    const shapes = forced
      ? [[2, 193, 16, 64]]
      : [
          [1, 3, 16, 64],
          [5, 3, 7],
          [2, 4, 1],
          [3, 1, 2, 300],
        ];
    const dtypes: DType[] = gpu.features.f16 ? ['f32', 'f16'] : ['f32'];
    let seed = 300;
    for (const shape of shapes) {
      const [H, D] = shape.slice(-2);
      const n = shape.reduce((a, b) => a * b, 1);
      for (const dtype of dtypes) {
        const xv = randomArray(n, seed++, 3);
        const gv = randomArray(H * D, seed++).map((v) => v + 1.5);
        const expected = multiHeadRmsNorm(
          Tensor.fromArray(xv, shape, { dtype }),
          Tensor.fromArray(gv, [H, D]),
        ).data;
        const got = await multiHeadRmsNorm(gpu.tensor(xv, shape, dtype), gpu.tensor(gv, [H, D])).toArray();
        // f32: sum of squares in f32 tree order vs f64, WGSL sqrt and division (2.5 ulp): a few ulp of outputs
        // up to ~|gamma| sqrt(D) = 20: 4e-6 relative + 1e-6 absolute. f16: plus one flipped rounding (2^-10).
        const tol = dtype === 'f32' ? { atol: 1e-6, rtol: 4e-6 } : { atol: 1e-6, rtol: 2 ** -10 };
        assertClose(got, expected, { ...tol, label: `${dtype} ${shape}` });
      }
    }
  });
}
