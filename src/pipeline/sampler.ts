/**
 * Rectified-flow Euler sampler with classifier-free guidance inside a guidance interval, and the multi-view
 * schedule (official `FlowEulerGuidanceIntervalSampler` + `inject_sampler_multi_image(mode='stochastic')`).
 *
 * Time schedule (float64, as numpy): t_i = linspace(1, 0, steps+1)_i, then t <- r t / (1 + (r-1) t).
 * Step i: v = model(x, fp32(1000 t_i), view_i); inside [cfg_lo, cfg_hi] also the unconditional pass and
 * v <- (1+s) v_c - s v_u; then x <- x - (t_i - t_{i+1}) v. Scalars are rounded to f32 before they touch f32
 * tensors, as PyTorch's CUDA kernels do (opmath float for float tensors).
 *
 * Multi-view: step i uses view `order[i mod V]`. The official code uses the given order; the paper sorts views
 * by visible area so the most visible view conditions the early (coarse) steps: `viewOrder: 'visibility'`.
 */

import { mul, sub } from '../ops/elementwise/binary.ts';
import { Tensor } from '../runtime/tensor.ts';

export const SS_SAMPLER_DEFAULTS = {
  steps: 12,
  cfgStrength: 7.5,
  cfgInterval: [0.5, 1.0],
  rescaleT: 3.0,
} as const;
export const SLAT_SAMPLER_DEFAULTS = {
  steps: 12,
  cfgStrength: 3.0,
  cfgInterval: [0.5, 1.0],
  rescaleT: 3.0,
} as const;

export type ViewOrder = 'visibility' | 'given';

export interface SamplerOptions {
  steps?: number;
  cfgStrength?: number;
  cfgInterval?: readonly [number, number];
  rescaleT?: number;
  /** Called after each step with (stepIndex, steps, x). */
  onStep?: (step: number, steps: number, x: Tensor) => void | Promise<void>;
}

/**
 * The network seen by the sampler: velocity for latent `x` at model time `t1000` (= 1000 t, f32) conditioned on
 * view `view`, or unconditionally when `view` is null (the all-zero negative condition).
 */
export type VelocityFn = (x: Tensor, t1000: number, view: number | null) => Tensor | Promise<Tensor>;

/** The float64 time schedule, steps + 1 values from 1 to 0. */
export function timeSchedule(steps: number, rescaleT: number): number[] {
  if (!Number.isInteger(steps) || steps < 1)
    throw new Error(`sampler: steps must be a positive integer, got ${steps}`);
  if (!(rescaleT > 0)) throw new Error(`sampler: rescale_t must be > 0, got ${rescaleT}`);
  const out: number[] = [];
  for (let i = 0; i <= steps; i++) {
    // numpy.linspace: start + i*step for i < n-1, the last value exactly `stop`.
    const t = i === steps ? 0 : 1 + i * (-1 / steps);
    out.push((rescaleT * t) / (1 + (rescaleT - 1) * t));
  }
  return out;
}

/**
 * The view used at each step: `i mod V` over `order` (official: order = given order).
 * @param visibleAreas per view; with 'visibility' the most visible view comes first (stable for ties).
 */
export function viewSchedule(steps: number, visibleAreas: readonly number[], order: ViewOrder): number[] {
  const v = visibleAreas.length;
  if (v === 0) throw new Error('sampler: at least one view is needed');
  const idx = visibleAreas.map((_, i) => i);
  if (order === 'visibility') idx.sort((a, b) => visibleAreas[b] - visibleAreas[a] || a - b);
  return Array.from({ length: steps }, (_, i) => idx[i % v]);
}

function scalar(value: number, like: Tensor): Tensor {
  return Tensor.fromArray([value], [1], { gpu: like.gpu, dtype: 'f32' });
}

/**
 * Runs the sampler from `noise`. `views[i]` is the view index used at step i (see `viewSchedule`).
 * Returns the final latent; `noise` is not disposed.
 *
 * @example
 * const views = viewSchedule(12, [0.4], 'given');
 * const z = await sampleFlow((x, t, v) => flow.forward(x, t, v === null ? negCond : cond[v]), noise, views, {});
 */
export async function sampleFlow(
  velocity: VelocityFn,
  noise: Tensor,
  views: readonly number[],
  options: SamplerOptions = {},
): Promise<Tensor> {
  const steps = options.steps ?? SS_SAMPLER_DEFAULTS.steps;
  const s = options.cfgStrength ?? SS_SAMPLER_DEFAULTS.cfgStrength;
  const [lo, hi] = options.cfgInterval ?? SS_SAMPLER_DEFAULTS.cfgInterval;
  const tSeq = timeSchedule(steps, options.rescaleT ?? SS_SAMPLER_DEFAULTS.rescaleT);
  if (views.length < steps) throw new Error(`sampler: ${views.length} view indices for ${steps} steps`);
  const onePlusS = scalar(1 + s, noise);
  const sT = scalar(s, noise);
  let x = noise;
  for (let i = 0; i < steps; i++) {
    const t = tSeq[i];
    const tPrev = tSeq[i + 1];
    const t1000 = Math.fround(1000 * t);
    let v = await velocity(x, t1000, views[i]);
    if (lo <= t && t <= hi && s !== 0) {
      const vu = await velocity(x, t1000, null);
      const a = mul(v, onePlusS);
      const b = mul(vu, sT);
      v.dispose();
      vu.dispose();
      v = sub(a, b);
      a.dispose();
      b.dispose();
    }
    const dt = scalar(t - tPrev, x);
    const step = mul(v, dt);
    const next = sub(x, step);
    for (const d of [dt, step, v]) d.dispose();
    if (x !== noise) x.dispose();
    x = next;
    await options.onStep?.(i, steps, x);
  }
  onePlusS.dispose();
  sT.dispose();
  return x;
}
