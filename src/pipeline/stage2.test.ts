import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maxAbs, maxAbsDiff } from '../../test/helpers/compare.ts';
import { fixtureCondition } from '../../test/helpers/cond.ts';
import { requireGpu } from '../../test/helpers/gpu.ts';
import { SLatFlow, type SLatFlowConfig } from '../models/slat-flow.ts';
import { MapWeightStore } from '../nn/weights.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { loadFixture } from '../testing/fixtures.ts';
import { SLAT_NORMALIZATION, sampleStructuredLatent, slatNormalizationFromPipeline } from './stage2.ts';

const DIR = 'test/fixtures/slat_flow/ci';
// f32 port of an f32 reference: per-call errors ~1e-6 relative (slat-flow.test.ts) compounded over 2 Euler steps
// with CFG (guided velocity 4 v_c - 3 v_u amplifies per-call errors up to 7x); 1e-4 relative of the latent's scale keeps a wide margin.
const REL_TOL = 1e-4;

async function run(gpu: GpuContext | null): Promise<void> {
  const fx = await loadFixture(DIR);
  const cfg = fx.manifest.config as unknown as SLatFlowConfig;
  const sample = fx.manifest.sample as { params: { steps: number; cfg_strength: number; rescale_t: number } };
  const flow = await SLatFlow.load(new MapWeightStore(fx.weights, DIR), cfg, { gpu, precision: 'f32' });
  const coords = Int32Array.from(fx.outputs.get('coords')!.data);
  const res = await sampleStructuredLatent(flow, coords, [fixtureCondition(fx)], {
    noise: fx.inputs.get('noise')!.data,
    steps: sample.params.steps,
    cfgStrength: sample.params.cfg_strength,
    rescaleT: sample.params.rescale_t,
    viewOrder: 'given',
  });
  for (const [name, got] of [
    ['sample.samples', res.samples],
    ['sample.slat', res.feats],
  ] as const) {
    const want = fx.outputs.get(name)!.data;
    const err = maxAbsDiff(got, want) / maxAbs(want);
    console.log(`stage2 ${gpu ? 'gpu' : 'cpu'} ${name}: rel ${err.toExponential(2)}`);
    assert.ok(err < REL_TOL, `${name}: ${err}`);
  }
  flow.dispose();
}

// One device per run keeps the file under the time budget on lavapipe (2 steps x 2 passes of the flow); the
// CPU twin of every op is checked against the official flow call by call in slat-flow.test.ts.
test('stage-2 sampling matches the official sampler + de-normalisation (GPU)', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  await run(gpu);
});

test('slat normalisation: defaults, pipeline.json override, malformed input', () => {
  assert.equal(slatNormalizationFromPipeline({}), SLAT_NORMALIZATION);
  const custom = { mean: [1, 2], std: [3, 4] };
  assert.deepEqual(slatNormalizationFromPipeline({ args: { slat_normalization: custom } }), custom);
  assert.throws(() =>
    slatNormalizationFromPipeline({ args: { slat_normalization: { mean: [1], std: [] } } }),
  );
  const fxMean = SLAT_NORMALIZATION.mean;
  assert.equal(fxMean.length, 8);
});
