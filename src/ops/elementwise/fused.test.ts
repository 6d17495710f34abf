import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertClose, randomArray } from '../../../test/helpers/compare.ts';
import { FORCED_SMALL_BINDING, requireGpu } from '../../../test/helpers/gpu.ts';
import { type DType, f16BitsToF32, roundF16 } from '../../runtime/dtype.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { gatedResidual, quantizeF16 } from './fused.ts';

test('cpu gatedResidual broadcasts the gate over tokens', () => {
  const x = Tensor.fromArray([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2]);
  const h = Tensor.fromArray([1, 1, 1, 1, 1, 1, 1, 1], [2, 2, 2]);
  const g = Tensor.fromArray([10, 20, 30, 40], [2, 2]);
  assert.deepEqual([...gatedResidual(x, h, g).data], [11, 22, 13, 24, 35, 46, 37, 48]);
  assert.deepEqual([...gatedResidual(x, h, null).data], [2, 3, 4, 5, 6, 7, 8, 9]);
});

test('cpu gatedResidual rounds the product to f16 before the add', () => {
  // Find f16 operands where rounding h * gate first changes the f16 result of x + h * gate, so the check below
  // can tell one rounding from two.
  const x = Tensor.fromArray([0.75], [1, 1], { dtype: 'f16' });
  let found = false;
  for (let k = 1; k < 400 && !found; k++) {
    const hv = roundF16(1 + k * 2 ** -10);
    const gv = roundF16(0.3 + k * 2 ** -12);
    const twice = roundF16(0.75 + roundF16(hv * gv));
    if (twice === roundF16(0.75 + hv * gv)) continue;
    found = true;
    const y = gatedResidual(
      x,
      Tensor.fromArray([hv], [1, 1], { dtype: 'f16' }),
      Tensor.fromArray([gv], [1], { dtype: 'f16' }),
    );
    assert.equal(y.data[0], twice);
  }
  assert.ok(found, 'no discriminating operands found');
});

test('shape errors name the op and the shapes', () => {
  const x = Tensor.zeros([2, 3, 4]);
  assert.throws(
    () => gatedResidual(x, Tensor.zeros([2, 3, 5]), null),
    /gatedResidual: x and h must have the same shape \(x \[2, 3, 4\], h \[2, 3, 5\]/,
  );
  assert.throws(
    () => gatedResidual(x, x, Tensor.zeros([1, 4])),
    /gatedResidual: gate must be \[B, C\] = \[2, 4\]/,
  );
});

test('gpu quantizeF16 rounds like the CPU (ties, subnormals, overflow)', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  // Every finite f16 value, the midpoints between neighbours (ties to even), points just off the midpoints, and
  // values beyond the f16 range.
  const vals: number[] = [];
  for (let bits = 0; bits < 0x7c00; bits++) {
    const a = f16BitsToF32(bits);
    const b = f16BitsToF32(bits + 1);
    const mid = (a + b) / 2;
    vals.push(a, -a, mid, -mid, Math.fround(mid * (1 + 2 ** -20)), Math.fround(mid * (1 - 2 ** -20)));
  }
  vals.push(65519, 65520, 70000, -1e30, 1e-30, 3e-8, 2.9e-8);
  const v = Float32Array.from(vals);
  const got = await quantizeF16(gpu.tensor(v, [v.length])).toArray();
  const want = v.map(roundF16);
  // Exact, infinities and signed zeros included.
  assert.deepEqual([...got], [...want]);
  assert.deepEqual([...quantizeF16(Tensor.fromArray(v.slice(0, 100), [100])).data], [...want.slice(0, 100)]);
});

for (const forced of [false, true]) {
  test(`gpu gatedResidual matches the twin${forced ? ' (1 MiB binding limit)' : ''}`, async (t) => {
    const gpu = await requireGpu(t, forced ? { maxBinding: FORCED_SMALL_BINDING } : {});
    if (!gpu) return;
    const shapes: number[][] = forced
      ? [[2, 301, 1024]]
      : [
          [1, 1, 1],
          [2, 37, 8],
          [3, 5, 1024],
          [45, 96],
        ];
    const dtypes: DType[] = gpu.features.f16 ? ['f32', 'f16'] : ['f32'];
    let seed = 900;
    for (const shape of shapes) {
      const B = shape.length === 3 ? shape[0] : 1;
      const C = shape[shape.length - 1];
      const n = shape.reduce((a, b) => a * b, 1);
      for (const dtype of dtypes) {
        for (const gated of [true, false]) {
          const xv = randomArray(n, seed++, 4);
          const hv = randomArray(n, seed++, 4);
          const gv = randomArray(B * C, seed++);
          const gShape = shape.length === 3 ? [B, C] : [C];
          const expected = gatedResidual(
            Tensor.fromArray(xv, shape, { dtype }),
            Tensor.fromArray(hv, shape, { dtype }),
            gated ? Tensor.fromArray(gv, gShape, { dtype }) : null,
          ).data;
          const got = await gatedResidual(
            gpu.tensor(xv, shape, dtype),
            gpu.tensor(hv, shape, dtype),
            gated ? gpu.tensor(gv, gShape, dtype) : null,
          ).toArray();
          // Same f32 operations and the same rounding points (exact multiply and add, RNE everywhere): equal.
          assertClose(got, expected, { atol: 0, label: `${dtype} ${shape} gated=${gated}` });
        }
      }
    }
  });
}
