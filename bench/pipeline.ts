/**
 * `npm run bench -- pipeline [--json] [--device webgpu|cpu] [--config tiny|full] [--ss-steps N --slat-steps N]
 * [--frames N]`: the whole 1-view pipeline (make-test-model + reconstruct on a shipped example) with per-stage
 * timings and peak GPU memory. The CPU backend run is the "tiny config on a 2-core machine" figure.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTestModel } from '../src/pipeline/make-test-model.ts';
import { reconstruct } from '../src/pipeline/reconstruct.ts';
import type { GpuContext } from '../src/runtime/gpu.ts';
import { argValue } from './harness.ts';

export async function benchPipeline(
  gpu: GpuContext | null,
  args: string[],
): Promise<Record<string, unknown>> {
  const config = (argValue(args, 'config') ?? 'tiny') as 'tiny' | 'full';
  const work = await mkdtemp(join(tmpdir(), 'amodal3r-bench-pipeline-'));
  try {
    const t0 = performance.now();
    await makeTestModel({ config, out: join(work, 'model'), seed: 0, gpu });
    const makeSeconds = (performance.now() - t0) / 1000;
    const r = await reconstruct({
      images: ['assets/examples/mug.png'],
      masks: ['assets/examples/mug_mask.png'],
      model: join(work, 'model'),
      out: join(work, 'out'),
      gpu,
      seed: 1,
      ssSteps: Number(argValue(args, 'ss-steps') ?? 12),
      slatSteps: Number(argValue(args, 'slat-steps') ?? 12),
      frames: Number(argValue(args, 'frames') ?? 30),
    });
    const figures = {
      config,
      device: gpu ? 'webgpu' : 'cpu',
      makeTestModelSeconds: makeSeconds,
      voxels: r.voxels,
      timings: r.timings,
      totalSeconds: r.totalSeconds,
      peakGpuBytes: r.peakGpuBytes,
    };
    console.error(JSON.stringify(figures.timings));
    return figures;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
