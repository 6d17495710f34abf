import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maxAbs, maxAbsDiff } from '../../test/helpers/compare.ts';
import { requireGpu } from '../../test/helpers/gpu.ts';
import { MapWeightStore } from '../nn/weights.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { Tensor } from '../runtime/tensor.ts';
import { loadFixture } from '../testing/fixtures.ts';
import { Dinov2, type Dinov2Config } from './dinov2.ts';

const DIR = 'test/fixtures/dinov2/ci';
// Issue goal at full size: max-abs <= 2e-3 in f32. This 2-block model has |x| ~ O(1); f32 reordering and the
// LayerScale fold give ~1e-6 relative, so 1e-4 relative is strict.
const REL_TOL = 1e-4;

async function run(gpu: GpuContext | null): Promise<void> {
  const fx = await loadFixture(DIR);
  const cfg = fx.manifest.config as unknown as Dinov2Config;
  const dino = await Dinov2.load(new MapWeightStore(fx.weights, DIR), cfg, { gpu });
  const img = fx.inputs.get('image')!;
  const out = dino.forward(Tensor.fromArray(img.data, img.shape, { gpu }));
  const want = fx.outputs.get('tokens')!;
  assert.deepEqual([...out.shape], want.shape);
  const got = await out.toArray();
  const err = maxAbsDiff(got, want.data) / maxAbs(want.data);
  console.log(`dinov2 ${gpu ? 'gpu' : 'cpu'}: max |diff| / max |x| = ${err.toExponential(2)}`);
  assert.ok(err < REL_TOL, `relative error ${err}`);
  out.dispose();
  dino.dispose();
}

test('DINOv2-reg matches the official module on the CPU', async () => {
  await run(null);
});

test('DINOv2-reg matches the official module on the GPU', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  await run(gpu);
});
