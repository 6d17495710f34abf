import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertClose, randomArray } from '../../../test/helpers/compare.ts';
import { FORCED_SMALL_BINDING, requireGpu } from '../../../test/helpers/gpu.ts';
import type { DType } from '../../runtime/dtype.ts';
import type { GpuContext } from '../../runtime/gpu.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { RowIndex } from './index.ts';
import { gatherRows, scatterAddRows, scatterMeanRows } from './rows.ts';

test('cpu gather / scatter: hand-checked', () => {
  const x = Tensor.fromArray([1, 2, 3, 4, 5, 6], [3, 2]);
  assert.deepEqual([...gatherRows(x, new Int32Array([2, 0, 2])).data], [5, 6, 1, 2, 5, 6]);
  // Rows 0 and 2 go to target 1, row 1 to target 0, target 2 gets nothing.
  const idx = new Int32Array([1, 0, 1]);
  assert.deepEqual([...scatterAddRows(x, idx, 3).data], [3, 4, 6, 8, 0, 0]);
  assert.deepEqual([...scatterMeanRows(x, idx, 3).data], [3, 4, 3, 4, 0, 0]);
  assert.throws(() => gatherRows(x, new Int32Array([3])), /gatherRows: index\[0\] = 3 is outside \[0, 3\)/);
  assert.throws(() => scatterAddRows(x, new Int32Array([0, 1]), 2), /scatterAddRows: index of length 2/);
});

test('RowIndex inverse groups sources by target in ascending order', () => {
  const inv = RowIndex.from([2, 0, 2, 1, 0]).inverse(4);
  assert.deepEqual([...inv.offsets], [0, 2, 3, 5, 5]);
  assert.deepEqual([...inv.order], [1, 4, 3, 0, 2]);
});

function randomIndex(m: number, n: number, seed: number): Int32Array {
  return Int32Array.from(randomArray(m, seed), (v) => Math.min(n - 1, Math.floor(((v + 1) / 2) * n)));
}

async function checkRows(
  gpu: GpuContext,
  n: number,
  m: number,
  cols: number,
  dt: DType,
  seed: number,
): Promise<void> {
  const label = `N=${n} M=${m} C=${cols} ${dt}`;
  const xv = randomArray(n * cols, seed);
  const gIdx = randomIndex(m, n, seed + 1);
  const want = gatherRows(Tensor.fromArray(xv, [n, cols], { dtype: dt }), gIdx).data;
  const xg = gpu.tensor(xv, [n, cols], dt);
  // A pure copy: exact.
  assertClose(await gatherRows(xg, gIdx).toArray(), want, { atol: 0, label: `gather ${label}` });
  const ri = RowIndex.from(gIdx);
  assertClose(await gatherRows(xg, ri).toArray(), want, { atol: 0, label: `gather RowIndex ${label}` });
  ri.dispose();

  const sv = randomArray(m * cols, seed + 2);
  const sIdx = randomIndex(m, n, seed + 3);
  const srcCpu = Tensor.fromArray(sv, [m, cols], { dtype: dt });
  const srcGpu = gpu.tensor(sv, [m, cols], dt);
  // Add: the same f32 additions in the same order: exact. Mean: one f32 division more, WGSL allows 2.5 ulp, and
  // f16 outputs can then round across one boundary (2^-10 relative).
  const addTol = { atol: 0 };
  const meanTol = dt === 'f16' ? { atol: 1e-6, rtol: 2 ** -10 } : { atol: 1e-7, rtol: 3e-7 };
  assertClose(await scatterAddRows(srcGpu, sIdx, n).toArray(), scatterAddRows(srcCpu, sIdx, n).data, {
    ...addTol,
    label: `scatterAdd ${label}`,
  });
  assertClose(await scatterMeanRows(srcGpu, sIdx, n).toArray(), scatterMeanRows(srcCpu, sIdx, n).data, {
    ...meanTol,
    label: `scatterMean ${label}`,
  });
}

test('gpu gather / scatter match the CPU twins (awkward sizes, f32/f16)', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  await checkRows(gpu, 1, 1, 1, 'f32', 1);
  await checkRows(gpu, 37, 100, 5, 'f32', 2);
  await checkRows(gpu, 300, 77, 33, 'f32', 3);
  if (gpu.features.f16) await checkRows(gpu, 50, 129, 3, 'f16', 4);
});

test('gpu gatherRows with an f32 index tensor on the GPU; out-of-range rows are zero', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  const x = gpu.tensor([1, 2, 3, 4, 5, 6], [3, 2]);
  const idx = gpu.tensor([2, -1, 0, 3], [4]);
  assert.deepEqual([...(await gatherRows(x, idx).toArray())], [5, 6, 0, 0, 1, 2, 0, 0]);
});

test('gpu gather / scatter under a 1 MiB binding limit', async (t) => {
  const gpu = await requireGpu(t, { maxBinding: FORCED_SMALL_BINDING });
  if (!gpu) return;
  // 1.2 MiB tables: two input windows and two output chunks per op.
  await checkRows(gpu, 3000, 2800, 100, 'f32', 5);
  // 64 sources (a 256-byte inverse order) all mapping below row 100 of a 1.2 MiB output: the second output chunk
  // has no sources, so its order window is empty and starts at the very end of the order buffer.
  const src = randomArray(64 * 100, 6);
  const idx = randomIndex(64, 100, 7);
  const want = scatterMeanRows(Tensor.fromArray(src, [64, 100]), idx, 3000).data;
  assertClose(await scatterMeanRows(gpu.tensor(src, [64, 100]), idx, 3000).toArray(), want, {
    atol: 1e-7,
    rtol: 3e-7, // one f32 division (WGSL: 2.5 ulp)
  });
});
