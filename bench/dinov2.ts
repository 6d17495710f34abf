/**
 * `npm run bench -- dinov2 [--json] [--precision f32|f16] [--depth N] [--iters N]`: one 518x518 image through
 * ViT-L/14-reg (f32 by default, as the official pipeline runs it) with random weights. Wall time after >= 1 s of
 * warm-up.
 */

import { DINOV2_VITL14_REG, Dinov2, dinov2ExpectedShapes } from '../src/models/dinov2.ts';
import { MapWeightStore } from '../src/nn/weights.ts';
import { Tensor } from '../src/runtime/tensor.ts';
import { argValue, type BenchFn, randomWeights, timeWall } from './harness.ts';

const bench: BenchFn = async ({ gpu, args }) => {
  const cfg = { ...DINOV2_VITL14_REG, depth: Number(argValue(args, 'depth') ?? DINOV2_VITL14_REG.depth) };
  const size = Number(argValue(args, 'size') ?? cfg.img_size);
  cfg.img_size = size;
  const precision = (argValue(args, 'precision') ?? 'f32') as 'f32' | 'f16';
  const dino = await Dinov2.load(new MapWeightStore(randomWeights(dinov2ExpectedShapes(cfg))), cfg, {
    gpu,
    precision,
  });
  const img = Tensor.fromArray(
    new Float32Array(3 * size * size).map((_, i) => Math.sin(i * 0.01)),
    [1, 3, size, size],
    { gpu },
  );
  const t = await timeWall(
    gpu,
    async () => {
      dino.forward(img).dispose();
    },
    { iterations: Number(argValue(args, 'iters') ?? 10) },
  );
  console.error(
    `dinov2 ViT-L/14-reg ${size}px depth ${cfg.depth} ${dino.dtype}: ${t.medianMs.toFixed(2)} ms median`,
  );
  return {
    precision: dino.dtype,
    depth: cfg.depth,
    size,
    ms: t.medianMs,
    minMs: t.minMs,
    peakGpuBytes: gpu.peakBytes,
  };
};

export default bench;
