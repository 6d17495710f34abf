import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertClose, randomArray } from '../../../test/helpers/compare.ts';
import { FORCED_SMALL_BINDING, requireGpu } from '../../../test/helpers/gpu.ts';
import type { DType } from '../../runtime/dtype.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { groupNorm, groupNormBlockRows } from './groupnorm.ts';

test('cpu groupNorm: statistics per batch item and group', () => {
  // B=2, N=2, C=4, 2 groups of 2 channels. Batch 0 group 0 = {0, 2, 4, 6}: mean 3, var 5.
  const x = Tensor.fromArray([0, 2, 100, 100, 4, 6, 100, 100, 1, 1, 1, 1, 1, 1, 1, 1], [2, 2, 4]);
  const y = groupNorm(x, null, null, { groups: 2, eps: 0 }).data;
  const s = Math.sqrt(5);
  assertClose([y[0], y[1], y[4], y[5]], [-3 / s, -1 / s, 1 / s, 3 / s], { atol: 1e-6 });
  // Batch item 1 is constant: with eps > 0 every group normalises to 0, so the output is the bias.
  const w = Tensor.fromArray([1, 2, 3, 4], [4]);
  const b = Tensor.fromArray([0, 0, 5, 5], [4]);
  const ya = groupNorm(x, w, b, { groups: 2 }).data;
  assert.deepEqual([...ya.slice(8)], [0, 0, 5, 5, 0, 0, 5, 5]);
});

test('shape errors name the op and the shapes', () => {
  assert.throws(
    () => groupNorm(Tensor.zeros([5, 30]), null, null),
    /groupNorm: 30 channels of x \[5, 30\] do not split into 32 groups/,
  );
  assert.throws(
    () => groupNorm(Tensor.zeros([5, 64]), Tensor.zeros([32]), null),
    /groupNorm: weight \[32\] does not match the 64 channels of x \[5, 64\]/,
  );
});

test('groupNormBlockRows targets ~2048 values per block', () => {
  assert.deepEqual([1, 3, 6, 24, 96].map(groupNormBlockRows), [2048, 512, 256, 64, 16]);
});

for (const forced of [false, true]) {
  test(`gpu groupNorm matches the twin${forced ? ' (1 MiB binding limit)' : ''}`, async (t) => {
    const gpu = await requireGpu(t, forced ? { maxBinding: FORCED_SMALL_BINDING } : {});
    if (!gpu) return;
    // [B, N, C], groups: the mesh decoder's widths (768 / 192 / 96 with 32 groups -> 24 / 6 / 3 channels per
    // group), several blocks per item (N > rows per block), odd N, B > 1 with batch items starting at unaligned
    // byte offsets, and (forced) 2.9 MiB of f32 so both the stats and the apply passes split.
    const cases: [number[], number][] = forced
      ? [
          [[1, 1000, 768], 32],
          [[2, 377, 96], 32],
        ]
      : [
          [[1, 1, 32], 32],
          [[2, 37, 8], 4],
          [[1, 20000, 96], 32],
          [[3, 129, 192], 32],
          [[700, 768], 32],
        ];
    const dtypes: DType[] = gpu.features.f16 ? ['f32', 'f16'] : ['f32'];
    let seed = 700;
    for (const [shape, groups] of cases) {
      const C = shape[shape.length - 1];
      const n = shape.reduce((a, b) => a * b, 1);
      for (const dtype of dtypes) {
        // Mean 5, spread 2: a naive f32 sum / sum-of-squares would lose several digits of the variance.
        const xv = randomArray(n, seed++, 2).map((v) => v + 5);
        const wv = randomArray(C, seed++);
        const bv = randomArray(C, seed++);
        const affine = seed % 2 === 0;
        const mk = (v: Float32Array, s: number[]) => Tensor.fromArray(v, s);
        const expected = groupNorm(
          Tensor.fromArray(xv, shape, { dtype }),
          affine ? mk(wv, [C]) : null,
          affine ? mk(bv, [C]) : null,
          { groups },
        ).data;
        const got = await groupNorm(
          gpu.tensor(xv, shape, dtype),
          affine ? gpu.tensor(wv, [C]) : null,
          affine ? gpu.tensor(bv, [C]) : null,
          { groups },
        ).toArray();
        // f32 block statistics + Chan merge vs f64: mean/variance within ~1e-6 relative at mean 5, so outputs
        // (|y| <= ~2) within a few 1e-6. f16: plus one flipped f16 rounding (2^-10 relative).
        const tol = dtype === 'f32' ? { atol: 4e-6, rtol: 2e-6 } : { atol: 4e-6, rtol: 2 ** -10 };
        assertClose(got, expected, { ...tol, label: `${dtype} ${shape} groups=${groups} affine=${affine}` });
      }
    }
  });
}
