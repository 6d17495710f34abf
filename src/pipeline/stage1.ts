/**
 * Stage 1 end to end: conditioning -> flow sampling of the 8x16^3 latent -> VAE decoder -> occupied voxels.
 *
 * @example
 * const { coords } = await sampleSparseStructure(flow, decoder, [cond], { noise, visibleAreas: [0.4] });
 */

import type { SparseStructureDecoder } from '../models/ss-decoder.ts';
import { occupiedCoords } from '../models/ss-decoder.ts';
import { disposeFlowCondition, prepareFlowCondition, type SparseStructureFlow } from '../models/ss-flow.ts';
import { Tensor } from '../runtime/tensor.ts';
import { SS_SAMPLER_DEFAULTS, sampleFlow, type ViewOrder, viewSchedule } from './sampler.ts';

export interface SparseStructureOptions {
  steps?: number;
  cfgStrength?: number;
  cfgInterval?: readonly [number, number];
  rescaleT?: number;
  /** Initial noise [1, 8, R, R, R] row-major (as torch.randn after torch.manual_seed). */
  noise: Float32Array;
  /** Visible fraction of each view (for `viewOrder: 'visibility'`). */
  visibleAreas?: readonly number[];
  /** 'visibility' (paper, default) or 'given' (official code). */
  viewOrder?: ViewOrder;
  onStep?: (step: number, steps: number) => void;
}

export const SPARSE_STRUCTURE_DEFAULTS = { ...SS_SAMPLER_DEFAULTS, viewOrder: 'visibility' as ViewOrder };

export interface SparseStructureResult {
  /** [N, 4] int32 (batch, x, y, z), lexicographic. */
  coords: Int32Array;
  /** Final latent [1, 8, R, R, R]. */
  latent: Float32Array;
  /** Occupancy logits, channel-last [1, 64, 64, 64, 1]. */
  logits: Float32Array;
  logitsShape: readonly number[];
}

/** The all-zero negative condition of the official pipeline ([1, 4112, 1024]). */
export function zeroCondition(): Float32Array {
  return new Float32Array(4112 * 1024);
}

export async function sampleSparseStructure(
  flow: SparseStructureFlow,
  decoder: SparseStructureDecoder,
  conds: readonly Float32Array[],
  options: SparseStructureOptions,
): Promise<SparseStructureResult> {
  const o = { ...SPARSE_STRUCTURE_DEFAULTS, ...options };
  const gpu = flow.gpu;
  const res = flow.r.res;
  const shape = [1, flow.r.inC, res, res, res];
  if (o.noise.length !== shape.reduce((a, b) => a * b, 1)) {
    throw new Error(
      `sampleSparseStructure: noise must have ${shape.join('x')} values, got ${o.noise.length}`,
    );
  }
  const areas = o.visibleAreas ?? conds.map(() => 1);
  if (areas.length !== conds.length)
    throw new Error('sampleSparseStructure: one visible area per view is needed');
  const views = viewSchedule(o.steps, areas, o.viewOrder);
  const prepared = conds.map((c) => prepareFlowCondition(c, gpu, flow.dtype));
  const neg = prepareFlowCondition(zeroCondition(), gpu, flow.dtype);
  const noise = Tensor.fromArray(o.noise, shape, { gpu });
  // The flow is async (CPU patchify for p > 1); the sampler awaits each call.
  const z = await sampleFlow((x, t, v) => flow.forward(x, t, v === null ? neg : prepared[v]), noise, views, {
    steps: o.steps,
    cfgStrength: o.cfgStrength,
    cfgInterval: o.cfgInterval,
    rescaleT: o.rescaleT,
    onStep: (i, n) => o.onStep?.(i, n),
  });
  for (const c of prepared) disposeFlowCondition(c);
  disposeFlowCondition(neg);
  noise.dispose();
  const logitsT = decoder.forward(z);
  const latent = await z.toArray();
  z.dispose();
  const logits = await logitsT.toArray();
  const logitsShape = logitsT.shape;
  logitsT.dispose();
  return { coords: occupiedCoords(logits, logitsShape), latent, logits, logitsShape };
}
