import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maxAbs, maxAbsDiff } from '../../test/helpers/compare.ts';
import { fixtureCondition } from '../../test/helpers/cond.ts';
import { requireGpu } from '../../test/helpers/gpu.ts';
import {
  disposeFlowCondition,
  prepareFlowCondition,
  SparseStructureFlow,
  type SsFlowConfig,
} from '../models/ss-flow.ts';
import { MapWeightStore } from '../nn/weights.ts';
import { Tensor } from '../runtime/tensor.ts';
import { loadFixture } from '../testing/fixtures.ts';
import { sampleFlow, timeSchedule, viewSchedule } from './sampler.ts';

const DIR = 'test/fixtures/ss_sample/ci';
// Per-step errors are amplified by CFG ((1 + 7.5) v_c - 7.5 v_u) and compound over steps; the flow alone is at
// ~1e-6 relative, so 1e-4 relative on the latents leaves room for that amplification and still catches any
// schedule, view-order or CFG mistake (those change the latents at O(1)).
const REL_TOL = 1e-4;

test('guidance-interval sampler reproduces the official runs (single view and 2-view stochastic)', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  const fx = await loadFixture(DIR);
  const cfg = fx.manifest.config as unknown as SsFlowConfig;
  const flow = await SparseStructureFlow.load(new MapWeightStore(fx.weights, DIR), cfg, {
    gpu,
    precision: 'f32',
  });
  const views = [
    prepareFlowCondition(fixtureCondition(fx, 'cond'), gpu, 'f32'),
    prepareFlowCondition(fixtureCondition(fx, 'cond1'), gpu, 'f32'),
  ];
  const neg = prepareFlowCondition(new Float32Array(4112 * 1024), gpu, 'f32');
  const runs = fx.manifest.runs as Record<
    string,
    {
      steps: number;
      cfg_strength: number;
      cfg_interval: [number, number];
      rescale_t: number;
      t_seq: number[];
    }
  >;
  for (const [name, nViews] of [
    ['single', 1],
    ['multi', 2],
  ] as const) {
    const r = runs[name];
    assert.deepEqual(timeSchedule(r.steps, r.rescale_t), r.t_seq);
    const noise = fx.inputs.get('noise')!;
    const x0 = Tensor.fromArray(noise.data, noise.shape, { gpu });
    const order = viewSchedule(r.steps, new Array(nViews).fill(1), 'given');
    const steps: Float32Array[] = [];
    const out = await sampleFlow((x, tt, v) => flow.forward(x, tt, v === null ? neg : views[v]), x0, order, {
      steps: r.steps,
      cfgStrength: r.cfg_strength,
      cfgInterval: r.cfg_interval,
      rescaleT: r.rescale_t,
      onStep: async (_i, _n, x) => {
        steps.push(await x.toArray());
      },
    });
    for (let i = 0; i < r.steps - 1; i++) {
      const want = fx.outputs.get(`${name}.x_step${i}`)!.data;
      const err = maxAbsDiff(steps[i], want) / maxAbs(want);
      assert.ok(err < REL_TOL, `${name} step ${i}: relative error ${err}`);
    }
    const want = fx.outputs.get(`${name}.samples`)!.data;
    const err = maxAbsDiff(await out.toArray(), want) / maxAbs(want);
    console.log(`${name}: final latent max |diff| / max |x| = ${err.toExponential(2)}`);
    assert.ok(err < REL_TOL, `${name} final: relative error ${err}`);
    out.dispose();
    x0.dispose();
  }
  for (const c of [...views, neg]) disposeFlowCondition(c);
  flow.dispose();
});
