import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertClose, randomArray } from '../../../test/helpers/compare.ts';
import { FORCED_SMALL_BINDING, requireGpu } from '../../../test/helpers/gpu.ts';
import type { DType } from '../../runtime/dtype.ts';
import type { GpuContext } from '../../runtime/gpu.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { conv3d, prepareConv3dWeight } from './conv3d.ts';

/** A PyTorch-layout [Cout, Cin, 3, 3, 3] weight that is zero except weight[0, 0, kd, kh, kw] = 1. */
function delta(kd: number, kh: number, kw: number): Tensor {
  const w = new Float32Array(27);
  w[(kd * 3 + kh) * 3 + kw] = 1;
  return Tensor.fromArray(w, [1, 1, 3, 3, 3]);
}

// Volume [1, D=3, H=2, W=2, C=1] holding 1..12 in (d, h, w) row-major order.
const VOL = Tensor.fromArray(
  Array.from({ length: 12 }, (_, i) => i + 1),
  [1, 3, 2, 2, 1],
);

test('cpu conv3d: a depth delta at kd = 0 shifts the volume one voxel deeper (cross-correlation)', () => {
  // out[d, h, w] = sum_kd w[kd] * x[d + kd - 1] = x[d - 1]: plane 0 is padding, planes 1, 2 are input planes 0, 1.
  const y = conv3d(VOL, delta(0, 1, 1));
  assert.deepEqual(y.shape, [1, 3, 2, 2, 1]);
  assert.deepEqual([...y.data], [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
});

test('cpu conv3d: a width delta at kw = 2 reads the right neighbour', () => {
  // out[d, h, w] = x[d, h, w + 1]; the last column reads padding.
  const y = conv3d(VOL, delta(1, 1, 2));
  assert.deepEqual([...y.data], [2, 0, 4, 0, 6, 0, 8, 0, 10, 0, 12, 0]);
  // kh = 0 reads the row above: out[d, 0, w] = 0, out[d, 1, w] = x[d, 0, w].
  const z = conv3d(VOL, delta(1, 0, 1));
  assert.deepEqual([...z.data], [0, 0, 1, 2, 0, 0, 5, 6, 0, 0, 9, 10]);
});

test('cpu conv3d: 1x1 kernel mixes channels by weight[cout, cin] and adds the bias', () => {
  // x [1, 1, 1, 2, 2]: voxel 0 = (1, 2), voxel 1 = (3, 4). weight [3, 2, 1, 1, 1].
  const x = Tensor.fromArray([1, 2, 3, 4], [1, 1, 1, 2, 2]);
  const w = Tensor.fromArray([1, 0, 0, 1, 1, 10], [3, 2, 1, 1, 1]);
  const b = Tensor.fromArray([0.5, 0, -1], [3]);
  const y = conv3d(x, w, b);
  assert.deepEqual([...y.data], [1.5, 2, 20, 3.5, 4, 42]);
});

test('conv3d shape errors name the op and shapes', () => {
  const w = prepareConv3dWeight(Tensor.zeros([4, 5, 3, 3, 3]));
  assert.throws(
    () => conv3d(Tensor.zeros([1, 2, 2, 2, 3]), w),
    /conv3d: input \[1, 2, 2, 2, 3\] is not \[B, D, H, W, 5\]/,
  );
  assert.throws(() => conv3d(Tensor.zeros([1, 2, 2, 2, 5]), w, Tensor.zeros([3])), /conv3d: bias \[3\]/);
  assert.throws(() => prepareConv3dWeight(Tensor.zeros([4, 5, 3, 3])), /prepareConv3dWeight/);
});

interface Case {
  x: number[];
  cout: number;
  k: number;
  padding?: number;
  bias?: boolean;
  tx?: DType;
  tw?: DType;
  to?: DType;
}

async function runCase(gpu: GpuContext, c: Case, seed: number): Promise<void> {
  const cin = c.x[4];
  const tx = c.tx ?? 'f32';
  const tw = c.tw ?? 'f32';
  const to = c.to ?? tx;
  const xn = c.x.reduce((a, b) => a * b, 1);
  const wn = c.cout * cin * c.k ** 3;
  // Scale weights like a fan-in init so outputs stay O(1) and f16 rounding is relative.
  const xv = randomArray(xn, seed);
  const wv = randomArray(wn, seed + 1, 1 / Math.sqrt(cin * c.k ** 3));
  const bv = randomArray(c.cout, seed + 2);
  const bias = c.bias === false ? null : bv;
  const opts = { padding: c.padding, dtype: to };
  const wCpu = prepareConv3dWeight(Tensor.fromArray(wv, [c.cout, cin, c.k, c.k, c.k], { dtype: tw }));
  const expected = conv3d(
    Tensor.fromArray(xv, c.x, { dtype: tx }),
    wCpu,
    bias ? Tensor.fromArray(bias, [c.cout], { dtype: tw }) : null,
    opts,
  );
  const wGpu = prepareConv3dWeight(gpu.tensor(wv, [c.cout, cin, c.k, c.k, c.k], tw));
  const got = conv3d(gpu.tensor(xv, c.x, tx), wGpu, bias ? gpu.tensor(bias, [c.cout], tw) : null, opts);
  assert.deepEqual(got.shape, expected.shape);
  // f32: same products summed in the same K order; the only differences are FMA contraction (one rounding instead
  // of two per step, <= 0.5 ulp of a product |w x| <= 1 each), bounded by K * 2^-24 ~ 1e-4 for K <= 1728.
  // f16 output: that difference can move a value across one f16 rounding boundary: one f16 ulp (2^-10 relative).
  const tol = to === 'f16' ? { atol: 1e-3, rtol: 2 ** -10 } : { atol: 1e-4, rtol: 1e-5 };
  assertClose(await got.toArray(), expected.data, { ...tol, label: JSON.stringify(c) });
  got.dispose();
  wGpu.dispose();
}

const CASES: Case[] = [
  { x: [2, 6, 5, 7, 13], cout: 5, k: 3 },
  { x: [1, 1, 1, 1, 3], cout: 33, k: 3 },
  { x: [1, 6, 5, 7, 13], cout: 2, k: 3, padding: 0 },
  { x: [1, 6, 5, 7, 13], cout: 1, k: 3, bias: false },
  { x: [1, 4, 3, 5, 33], cout: 70, k: 1 },
  { x: [2, 3, 1, 4, 8], cout: 17, k: 3, padding: 2 },
  // f16 storage: all-f16 (the SS decoder's fp16 blocks) and mixed storage; few distinct dtype combinations because
  // each is a pipeline that lavapipe compiles for several seconds at its first dispatch.
  { x: [1, 6, 5, 7, 13], cout: 9, k: 3, tx: 'f16', tw: 'f16' },
  { x: [1, 5, 4, 3, 5], cout: 3, k: 3, tx: 'f16', tw: 'f32', to: 'f32' },
  { x: [1, 1, 1, 1, 33], cout: 2, k: 1, tx: 'f16', tw: 'f32', to: 'f32', bias: false },
];

test('gpu conv3d matches the CPU twin (awkward sizes, tiles, dtypes, padding)', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  let seed = 10;
  for (const c of CASES) {
    const f16 = [c.tx, c.tw, c.to].includes('f16');
    if (f16 && !gpu.features.f16) continue;
    seed += 3;
    await runCase(gpu, c, seed);
  }
});

test('gpu conv3d under a 1 MiB binding limit: depth slabs with halo, batch groups, Cout chunks', async (t) => {
  const gpu = await requireGpu(t, { maxBinding: FORCED_SMALL_BINDING });
  if (!gpu) return;
  // 1.57 MiB input: 40 KiB planes -> slabs of 23 output planes reading 25 input planes, then 1 (direct kernel).
  await runCase(gpu, { x: [1, 24, 16, 16, 40], cout: 3, k: 3 }, 101);
  // 400 KiB per volume: two volumes per dispatch, then one (tiled kernel).
  await runCase(gpu, { x: [3, 10, 16, 16, 40], cout: 6, k: 3 }, 202);
  // 1.1 MiB weight (160 x 1728 f32): Cout chunks of 128 and 32 channels.
  await runCase(gpu, { x: [1, 3, 4, 5, 64], cout: 160, k: 3 }, 303);
});
