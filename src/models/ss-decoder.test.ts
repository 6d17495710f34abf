import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maxAbs, maxAbsDiff } from '../../test/helpers/compare.ts';
import { requireGpu } from '../../test/helpers/gpu.ts';
import { MapWeightStore } from '../nn/weights.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { Tensor } from '../runtime/tensor.ts';
import { loadFixture } from '../testing/fixtures.ts';
import { occupiedCoords, SparseStructureDecoder, type SsDecoderConfig } from './ss-decoder.ts';

const DIR = 'test/fixtures/ss_dec/ci';
// Issue goal: decoder logits max-abs error <= 1e-3 (relative to scale) in f32; f32 reordering gives ~1e-6.
const REL_TOL = 1e-4;

async function run(gpu: GpuContext | null): Promise<void> {
  const fx = await loadFixture(DIR);
  const cfg = fx.manifest.config as unknown as SsDecoderConfig;
  const dec = await SparseStructureDecoder.load(new MapWeightStore(fx.weights, DIR), cfg, {
    gpu,
    precision: 'f32',
  });
  const z = fx.inputs.get('z')!;
  const out = dec.forward(Tensor.fromArray(z.data, z.shape, { gpu }));
  assert.deepEqual([...out.shape], [1, 64, 64, 64, 1]);
  const got = await out.toArray();
  const want = fx.outputs.get('logits')!;
  // Channel-last [1, 64, 64, 64, 1] and channel-first [1, 1, 64, 64, 64] have the same element order for C = 1.
  const err = maxAbsDiff(got, want.data) / maxAbs(want.data);
  console.log(`ss decoder ${gpu ? 'gpu' : 'cpu'}: max |diff| / max |logit| = ${err.toExponential(2)}`);
  assert.ok(err < REL_TOL, `relative error ${err}`);
  const ours = occupiedCoords(got, out.shape);
  const theirs = occupiedCoords(want.data, [1, 64, 64, 64]);
  // Voxels can only flip where |logit| is below the numeric error; count them and bound the IoU.
  const a = new Set<number>();
  for (let i = 0; i < ours.length; i += 4) a.add((ours[i + 1] * 64 + ours[i + 2]) * 64 + ours[i + 3]);
  let inter = 0;
  for (let i = 0; i < theirs.length; i += 4)
    if (a.has((theirs[i + 1] * 64 + theirs[i + 2]) * 64 + theirs[i + 3])) inter++;
  const iou = inter / (a.size + theirs.length / 4 - inter);
  assert.equal(theirs.length / 4, fx.manifest.occupied_fp32);
  assert.ok(iou >= 0.9999, `occupancy IoU ${iou}`);
  out.dispose();
  dec.dispose();
}

test('SS VAE decoder matches the official module on the CPU', async () => {
  await run(null);
});

test('SS VAE decoder matches the official module on the GPU', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  await run(gpu);
});
