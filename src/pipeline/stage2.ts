/**
 * Stage 2 end to end: the structured latent on the voxels of stage 1 (official `sample_slat`, ARCHITECTURE.md
 * §a.6): Euler flow sampling of [N, 8] features with guidance interval (same sampler as stage 1, SLAT defaults:
 * 12 steps, cfg 3, interval [0.5, 1], rescale_t 3), then per-channel de-normalisation `x * std + mean`.
 *
 * @example
 * const { feats } = await sampleStructuredLatent(flow, coords, [cond], { noise }); // noise: N*8 randn values
 */

import type { SLatFlow } from '../models/slat-flow.ts';
import { COND_CHANNELS, COND_TOKENS, disposeFlowCondition, prepareFlowCondition } from '../models/ss-flow.ts';
import { Tensor } from '../runtime/tensor.ts';
import { SparseTensor } from '../sparse/sparse-tensor.ts';
import { SLAT_SAMPLER_DEFAULTS, sampleFlow, type ViewOrder, viewSchedule } from './sampler.ts';

/** Per-channel statistics of the structured latent (`pipeline.json` args.slat_normalization; §e.6). */
export interface SlatNormalization {
  mean: readonly number[];
  std: readonly number[];
}

/** The released values (TRELLIS slat_flow_img_dit_L_64l8p2_fp16.json, identical in Amodal3R's training code). */
export const SLAT_NORMALIZATION: SlatNormalization = {
  mean: [
    -2.1687545776367188, -0.004347046371549368, -0.13352349400520325, -0.08418072760105133,
    -0.5271206498146057, 0.7238689064979553, -1.1414450407028198, 1.2039363384246826,
  ],
  std: [
    2.377650737762451, 2.386378288269043, 2.124418020248413, 2.1748552322387695, 2.663944721221924,
    2.371192216873169, 2.6217446327209473, 2.684523105621338,
  ],
};

/**
 * Reads `args.slat_normalization` from a parsed pipeline.json, falling back to `SLAT_NORMALIZATION`.
 * @example
 * const norm = slatNormalizationFromPipeline(JSON.parse(await readFile('pipeline.json', 'utf8')));
 */
export function slatNormalizationFromPipeline(pipelineJson: unknown): SlatNormalization {
  const n = (pipelineJson as { args?: { slat_normalization?: { mean?: unknown; std?: unknown } } })?.args
    ?.slat_normalization;
  const ok = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number');
  if (!n) return SLAT_NORMALIZATION;
  if (!ok(n.mean) || !ok(n.std) || n.mean.length !== n.std.length) {
    throw new Error(
      'pipeline.json: args.slat_normalization must hold equal-length number lists mean and std',
    );
  }
  return { mean: n.mean, std: n.std };
}

export interface StructuredLatentOptions {
  /** Initial noise [N, 8] row-major (torch.randn continuing the stage-1 generator stream). */
  noise: Float32Array;
  steps?: number;
  cfgStrength?: number;
  cfgInterval?: readonly [number, number];
  rescaleT?: number;
  /** Visible fraction of each view (for `viewOrder: 'visibility'`). */
  visibleAreas?: readonly number[];
  /** 'visibility' (paper, default) or 'given' (official code). */
  viewOrder?: ViewOrder;
  normalization?: SlatNormalization;
  /** Called after each step with the features [N, C] (awaited). */
  onStep?: (step: number, steps: number, x: Tensor) => void | Promise<void>;
}

export const STRUCTURED_LATENT_DEFAULTS = {
  ...SLAT_SAMPLER_DEFAULTS,
  viewOrder: 'visibility' as ViewOrder,
  normalization: SLAT_NORMALIZATION,
};

export interface StructuredLatentResult {
  /** De-normalised structured latent [N, 8] (the decoders' input). */
  feats: Float32Array;
  /** Sampler output before de-normalisation [N, 8]. */
  samples: Float32Array;
  /** [N, 4] (batch, x, y, z), as given. */
  coords: Int32Array;
}

/**
 * Samples the structured latent on `coords` (batch 1) conditioned on one or more views.
 * @example
 * const slat = await sampleStructuredLatent(flow, stage1.coords, conds, { noise, visibleAreas: [0.4] });
 */
export async function sampleStructuredLatent(
  flow: SLatFlow,
  coords: Int32Array,
  conds: readonly Float32Array[],
  options: StructuredLatentOptions,
): Promise<StructuredLatentResult> {
  const o = { ...STRUCTURED_LATENT_DEFAULTS, ...options };
  const C = flow.r.inC;
  const n = coords.length / 4;
  if (o.noise.length !== n * C) {
    throw new Error(`sampleStructuredLatent: noise must have ${n}x${C} values, got ${o.noise.length}`);
  }
  const { mean, std } = o.normalization;
  if (mean.length !== C || std.length !== C) {
    throw new Error(
      `sampleStructuredLatent: normalization needs ${C} means and stds, got ${mean.length}/${std.length}`,
    );
  }
  const areas = o.visibleAreas ?? conds.map(() => 1);
  if (areas.length !== conds.length)
    throw new Error('sampleStructuredLatent: one visible area per view is needed');
  const gpu = flow.gpu;
  const views = viewSchedule(o.steps, areas, o.viewOrder);
  const prepared = conds.map((c) => prepareFlowCondition(c, gpu, flow.dtype));
  const neg = prepareFlowCondition(new Float32Array(COND_TOKENS * COND_CHANNELS), gpu, flow.dtype); // official neg_cond: zeros;
  const noise = Tensor.fromArray(o.noise, [n, C], { gpu });
  // One SparseTensor carries the coordinate tables (neighbour maps, parents, APE) through every step.
  const base = SparseTensor.create(noise, coords);
  const z = await sampleFlow(
    async (x, t, v) => (await flow.forward(base.withFeats(x), t, v === null ? neg : prepared[v])).feats,
    noise,
    views,
    {
      steps: o.steps,
      cfgStrength: o.cfgStrength,
      cfgInterval: o.cfgInterval,
      rescaleT: o.rescaleT,
      onStep: (i, s, x) => o.onStep?.(i, s, x),
    },
  );
  for (const c of prepared) disposeFlowCondition(c);
  disposeFlowCondition(neg);
  const samples = await z.toArray();
  if (z !== noise) z.dispose();
  noise.dispose();
  base.disposeCache();
  // slat * std + mean in f32 (two roundings, as PyTorch's two ops).
  const f = Math.fround;
  const feats = new Float32Array(samples.length);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < C; c++) feats[i * C + c] = f(f(samples[i * C + c] * f(std[c])) + f(mean[c]));
  return { feats, samples, coords };
}
