import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertClose, randomArray } from '../../../test/helpers/compare.ts';
import { FORCED_SMALL_BINDING, requireGpu } from '../../../test/helpers/gpu.ts';
import { roundF16 } from '../../runtime/dtype.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { add, type BinaryOp, binary, mulOnePlus } from './binary.ts';

test('cpu add broadcasts a bias over rows', () => {
  const x = Tensor.fromArray([1, 2, 3, 4, 5, 6], [2, 3]);
  const b = Tensor.fromArray([10, 20, 30], [3]);
  assert.deepEqual([...add(x, b).data], [11, 22, 33, 14, 25, 36]);
});

test('cpu mulOnePlus is the adaLN scale', () => {
  const x = Tensor.fromArray([1, 2], [2]);
  const s = Tensor.fromArray([0.5], [1]);
  assert.deepEqual([...mulOnePlus(x, s).data], [1.5, 3]);
});

test('shape errors name the op and both shapes', () => {
  const x = Tensor.fromArray([1, 2, 3], [3]);
  const y = Tensor.fromArray([1, 2], [2]);
  assert.throws(() => add(x, y), /add: shapes \[3\] and \[2\] do not broadcast/);
});

const CASES: { a: number[]; b: number[] }[] = [
  { a: [1], b: [1] },
  { a: [7, 33, 5], b: [5] },
  { a: [2, 1, 13], b: [2, 9, 1] },
  { a: [3, 1, 1, 17], b: [1, 4, 6, 1] },
  { a: [1100, 257], b: [1100, 257] },
];

for (const forced of [false, true]) {
  test(`gpu binary ops match the CPU twin${forced ? ' (1 MiB binding limit)' : ''}`, async (t) => {
    const gpu = await requireGpu(t, forced ? { maxBinding: FORCED_SMALL_BINDING } : {});
    if (!gpu) return;
    const ops: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'mulOnePlus'];
    let seed = 1;
    for (const c of CASES) {
      for (const op of ops) {
        const na = c.a.reduce((x, y) => x * y, 1);
        const nb = c.b.reduce((x, y) => x * y, 1);
        const av = randomArray(na, seed++);
        const bv = randomArray(nb, seed++).map((v) => (op === 'div' ? v + 3 : v));
        const expected = binary(op, Tensor.fromArray(av, c.a), Tensor.fromArray(bv, c.b)).data;
        const got = await binary(op, gpu.tensor(av, c.a), gpu.tensor(bv, c.b)).toArray();
        // Same f32 operations in the same order: exact up to the GPU's division rounding (2.5 ulp in WGSL).
        assertClose(got, expected, { atol: 1e-6, rtol: 1e-6, label: `${op} ${c.a} ${c.b}` });
      }
    }
  });
}

test('gpu f16 output rounds like the CPU twin', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  if (!gpu.features.f16) return t.skip('adapter has no shader-f16');
  const av = randomArray(999, 5);
  const bv = randomArray(999, 6);
  const got = await add(gpu.tensor(av, [999], 'f16'), gpu.tensor(bv, [999], 'f16')).toArray();
  const expected = av.map((x, i) => roundF16(roundF16(x) + roundF16(bv[i])));
  // f32 add of two f16 values then one rounding to f16 on both sides: bit-identical.
  assertClose(got, expected, { atol: 0 });
});
