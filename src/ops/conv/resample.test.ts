import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertClose, randomArray } from '../../../test/helpers/compare.ts';
import { FORCED_SMALL_BINDING, requireGpu } from '../../../test/helpers/gpu.ts';
import type { DType } from '../../runtime/dtype.ts';
import type { GpuContext } from '../../runtime/gpu.ts';
import { Tensor } from '../../runtime/tensor.ts';
import type { UpsampleMode } from './resample.cpu.ts';
import { pixelShuffle3d } from './shuffle.ts';
import { upsample3d } from './upsample.ts';

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

test('cpu pixelShuffle3d: channel c*8 + a*4 + b*2 + e goes to voxel (2d+a, 2h+b, 2w+e)', () => {
  // One input voxel with C = 2 (16 channels holding 0..15).
  const y = pixelShuffle3d(Tensor.fromArray([...Array(16).keys()], [1, 1, 1, 1, 16]));
  assert.deepEqual(y.shape, [1, 2, 2, 2, 2]);
  for (let a = 0; a < 2; a++)
    for (let b = 0; b < 2; b++)
      for (let e = 0; e < 2; e++)
        for (let c = 0; c < 2; c++) {
          assert.equal(y.data[((a * 2 + b) * 2 + e) * 2 + c], c * 8 + a * 4 + b * 2 + e);
        }
  // Two input voxels along W: the second voxel's block lands at output w = 2, 3.
  const z = pixelShuffle3d(Tensor.fromArray([...Array(16).keys()], [1, 1, 1, 2, 8]));
  assert.deepEqual([...z.data], [0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15]);
});

test('cpu upsample3d: PyTorch F.interpolate values on a 1-D profile', () => {
  const line = (v: number[], axis: number) => {
    const s = [1, 1, 1, 1, 1];
    s[axis + 1] = v.length;
    return Tensor.fromArray(v, s);
  };
  const size = (n: number, axis: number): [number, number, number] =>
    [0, 1, 2].map((i) => (i === axis ? n : 1)) as [number, number, number];
  for (let axis = 0; axis < 3; axis++) {
    // F.interpolate([0, 10, 20], size=5, mode=nearest) = [0, 0, 10, 10, 20]
    assert.deepEqual(
      [...upsample3d(line([0, 10, 20], axis), { size: size(5, axis) }).data],
      [0, 0, 10, 10, 20],
    );
    // mode=linear, align_corners=False: [0, 4, 10, 16, 20]
    assertClose(
      upsample3d(line([0, 10, 20], axis), { size: size(5, axis), mode: 'trilinear' }).data,
      [0, 4, 10, 16, 20],
      { atol: 1e-5 },
    );
    // align_corners=True: [0, 5, 10, 15, 20]
    assertClose(
      upsample3d(line([0, 10, 20], axis), { size: size(5, axis), mode: 'trilinear', alignCorners: true })
        .data,
      [0, 5, 10, 15, 20],
      { atol: 1e-5 },
    );
  }
  // scale_factor=2 (every axis doubles; the profile runs along W, the first 4 outputs): linear [0, 1] ->
  // [0, 0.25, 0.75, 1]; nearest -> [0, 0, 1, 1].
  assert.deepEqual(
    [...upsample3d(line([0, 1], 2), { scale: 2, mode: 'trilinear' }).data].slice(0, 4),
    [0, 0.25, 0.75, 1],
  );
  assert.deepEqual([...upsample3d(line([0, 1], 2), { scale: 2 }).data.slice(0, 4)], [0, 0, 1, 1]);
  assert.throws(() => upsample3d(line([0, 1], 0), {}), /upsample3d: give exactly one of scale and size/);
});

async function checkShuffle(gpu: GpuContext, shape: number[], dt: DType, seed: number): Promise<void> {
  const v = randomArray(numel(shape), seed);
  const want = pixelShuffle3d(Tensor.fromArray(v, shape, { dtype: dt }));
  const got = pixelShuffle3d(gpu.tensor(v, shape, dt));
  assert.deepEqual(got.shape, want.shape);
  // A pure copy: exact.
  assertClose(await got.toArray(), want.data, { atol: 0, label: `shuffle ${shape} ${dt}` });
}

async function checkUpsample(
  gpu: GpuContext,
  shape: number[],
  o: { scale?: number; size?: [number, number, number]; mode: UpsampleMode; alignCorners?: boolean },
  dt: DType,
  seed: number,
): Promise<void> {
  const v = randomArray(numel(shape), seed);
  const want = upsample3d(Tensor.fromArray(v, shape, { dtype: dt }), o);
  const got = upsample3d(gpu.tensor(v, shape, dt), o);
  assert.deepEqual(got.shape, want.shape);
  // Nearest is a copy (exact). Trilinear: the same f32 expression; the GPU may fuse multiply-adds (FMA), a few
  // ulp of values <= 1; an f16 output can then round across one boundary (2^-10 relative).
  const tol =
    o.mode === 'nearest' ? { atol: 0 } : dt === 'f16' ? { atol: 1e-6, rtol: 2 ** -10 } : { atol: 1e-6 };
  assertClose(await got.toArray(), want.data, {
    ...tol,
    label: `upsample ${shape} ${JSON.stringify(o)} ${dt}`,
  });
}

test('gpu pixelShuffle3d / upsample3d match the CPU twins (awkward sizes, f32/f16)', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  const dts: DType[] = gpu.features.f16 ? ['f32', 'f16'] : ['f32'];
  for (const dt of dts) {
    await checkShuffle(gpu, [1, 1, 1, 1, 8], dt, 1);
    await checkShuffle(gpu, [2, 3, 5, 2, 24], dt, 2);
    await checkUpsample(gpu, [2, 3, 5, 2, 3], { scale: 2, mode: 'nearest' }, dt, 3);
    await checkUpsample(gpu, [1, 1, 1, 1, 5], { scale: 2, mode: 'trilinear' }, dt, 4);
    await checkUpsample(gpu, [2, 3, 5, 2, 3], { scale: 2, mode: 'trilinear' }, dt, 5);
    await checkUpsample(gpu, [1, 4, 3, 5, 5], { size: [7, 2, 9], mode: 'trilinear' }, dt, 6);
    await checkUpsample(
      gpu,
      [1, 4, 3, 5, 5],
      { size: [7, 2, 9], mode: 'trilinear', alignCorners: true },
      dt,
      7,
    );
    await checkUpsample(gpu, [1, 4, 3, 5, 5], { size: [9, 5, 2], mode: 'nearest' }, dt, 8);
    await checkUpsample(gpu, [1, 5, 4, 3, 2], { scale: 1.5, mode: 'nearest' }, dt, 9);
  }
});

test('gpu pixelShuffle3d / upsample3d under a 1 MiB binding limit (depth slabs)', async (t) => {
  const gpu = await requireGpu(t, { maxBinding: FORCED_SMALL_BINDING });
  if (!gpu) return;
  // 1.2 MiB in and out per volume: output depth slabs read their half-depth input planes.
  await checkShuffle(gpu, [1, 12, 10, 10, 256], 'f32', 11);
  // 0.6 MiB per volume: one volume per dispatch.
  await checkShuffle(gpu, [2, 6, 10, 10, 256], 'f32', 14);
  // 1.2 MiB output volume: output slabs whose source planes (with the trilinear neighbour) form the input window.
  await checkUpsample(gpu, [2, 6, 8, 8, 24], { scale: 2, mode: 'trilinear' }, 'f32', 12);
  await checkUpsample(gpu, [1, 7, 8, 8, 24], { size: [13, 16, 16], mode: 'nearest' }, 'f32', 13);
});
