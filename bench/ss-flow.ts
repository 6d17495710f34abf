/**
 * `npm run bench -- ss-flow [--json] [--precision f16|f32] [--blocks N] [--width C] [--iters N]`: one CFG step
 * of the stage-1 flow (conditional + unconditional forward, the official batch-2 work) at the released size
 * (width 1024, 24 blocks, 16 heads, 16^3 tokens, 1374 + 1369 condition tokens) with random weights, and the
 * whole stage (12 steps + VAE decode) when `--stage` is given. Wall time after >= 1 s of warm-up.
 */

import {
  SparseStructureDecoder,
  type SsDecoderConfig,
  ssDecoderExpectedShapes,
} from '../src/models/ss-decoder.ts';
import { SparseStructureFlow, type SsFlowConfig, ssFlowExpectedShapes } from '../src/models/ss-flow.ts';
import { MapWeightStore } from '../src/nn/weights.ts';
import { testSsDecoderConfig, testSsFlowConfig } from '../src/pipeline/make-test-model.ts';
import { sampleSparseStructure } from '../src/pipeline/stage1.ts';
import { Tensor } from '../src/runtime/tensor.ts';
import { argValue, type BenchFn, benchFlowConditions, randomWeights, timeWall } from './harness.ts';

/** Released stage-1 flow (configs.json `sparse_structure_flow_model`). */
export const SS_FLOW_FULL: SsFlowConfig = testSsFlowConfig('full');

/** Released sparse-structure decoder (configs.json `sparse_structure_decoder`). */
export const SS_DEC_FULL: SsDecoderConfig = testSsDecoderConfig('full');

/** FLOPs of one batch-1 forward at the released size (matmuls + attention), for TFLOP/s. */
function flowFlops(cfg: SsFlowConfig): number {
  const C = cfg.model_channels;
  const L = (cfg.resolution / (cfg.patch_size ?? 1)) ** 3;
  const hidden = C * (cfg.mlp_ratio ?? 4);
  const perBlock =
    2 * L * C * (3 * C + C) + // self qkv + out
    4 * L * L * C + // self attention
    2 * 2 * (L * C * C * 2 + 1374 * C * 2 * C) + // two cross attns: q + out, kv
    4 * L * 1374 * C + // weighted cross attention
    4 * L * 1369 * C + // occlusion cross attention
    2 * L * C * hidden * 2 + // mlp
    2 * C * 6 * C; // adaLN
  return perBlock * cfg.num_blocks;
}

const bench: BenchFn = async ({ gpu, args }) => {
  const precision = (argValue(args, 'precision') ?? 'f16') as 'f16' | 'f32';
  const cfg: SsFlowConfig = {
    ...SS_FLOW_FULL,
    num_blocks: Number(argValue(args, 'blocks') ?? SS_FLOW_FULL.num_blocks),
    model_channels: Number(argValue(args, 'width') ?? SS_FLOW_FULL.model_channels),
  };
  cfg.num_heads = cfg.model_channels / 64;
  const iterations = Number(argValue(args, 'iters') ?? 10);
  const store = new MapWeightStore(randomWeights(ssFlowExpectedShapes(cfg)), 'random weights');
  const flow = await SparseStructureFlow.load(store, cfg, { gpu, precision });
  const { values: cond, cond: c, uncond: neg } = benchFlowConditions(gpu, flow.dtype);
  const x = Tensor.fromArray(
    new Float32Array(8 * 16 ** 3).map((_, i) => Math.cos(i)),
    [1, 8, 16, 16, 16],
    { gpu },
  );
  const step = await timeWall(
    gpu,
    async () => {
      const a = await flow.forward(x, 750, c);
      const b = await flow.forward(x, 750, neg);
      a.dispose();
      b.dispose();
    },
    { iterations },
  );
  const flop = 2 * flowFlops(cfg);
  const figures: Record<string, unknown> = {
    precision: flow.dtype,
    blocks: cfg.num_blocks,
    width: cfg.model_channels,
    cfgStepMs: step.medianMs,
    cfgStepMinMs: step.minMs,
    tflops: flop / (step.medianMs * 1e-3) / 1e12,
  };
  console.error(
    `ss-flow CFG step (2 forwards, ${flow.dtype}): ${step.medianMs.toFixed(2)} ms median, ${(figures.tflops as number).toFixed(1)} TFLOP/s`,
  );
  if (args.includes('--stage')) {
    const dec = await SparseStructureDecoder.load(
      new MapWeightStore(randomWeights(ssDecoderExpectedShapes(SS_DEC_FULL))),
      SS_DEC_FULL,
      { gpu, precision },
    );
    const noise = new Float32Array(8 * 16 ** 3).map((_, i) => Math.sin(i * 0.37));
    const t0 = performance.now();
    const r = await sampleSparseStructure(flow, dec, [cond], { noise, steps: 12, cfgStrength: 7.5 });
    figures.stageMs = performance.now() - t0;
    figures.stageVoxels = r.coords.length / 4;
    console.error(
      `ss stage (12 steps + decode): ${(figures.stageMs as number).toFixed(0)} ms, ${figures.stageVoxels} voxels`,
    );
    dec.dispose();
  }
  figures.peakGpuBytes = gpu.peakBytes;
  flow.dispose();
  return figures;
};

export default bench;
