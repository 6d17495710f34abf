/**
 * `npm run bench -- pipeline [--json] [--device webgpu|cpu] [--config tiny|full] [--model DIR] [--runs N]
 * [--ss-steps N --slat-steps N] [--frames N --frame-size N] [--official FILE.json]`: the whole 1-view pipeline on
 * a shipped example (assets/examples/mug.png + mask) with per-stage time and peak GPU memory.
 *
 * Stages (the names the PyTorch baseline, tools/bench_pipeline_official.py, uses for the same work):
 *   encode, stage1, ss-decode, stage2, decode-gaussians, decode-mesh   from `runPipeline`'s own timings (each
 *                      stage loads its weights when it starts and frees them after, so loading is inside the stage;
 *                      the official pipeline loads everything up front, timed apart as its `loadSeconds`);
 *                      each stage also reports its `loadSeconds`, and `--official` adds `ratioExcludingLoad`
 *                      (our stage minus its loading over the official stage) next to the wall-clock `ratio`
 *   write-ply          writeGaussiansPly (the official baseline: Gaussian.save_ply)
 *   write-glb, render, write-frames   ours only (the official GLB baking and video need nvdiffrast etc.)
 * `coveredSeconds` sums the stages both pipelines run (encode .. decode-mesh + write-ply): the issue's goal is
 * ours <= 1.0x the official there. `--official FILE` (the baseline's JSON from the same device call) adds the
 * per-stage ratios of the last run of each.
 *
 * Model: `--model DIR` uses an existing model directory, or writes one there with make-test-model (`--config`,
 * kept afterwards) when DIR has no pipeline.json; without `--model` a temporary one is written and removed.
 * Inputs are decoded once with sharp (src/io/image.ts) and passed as raw images, so decoding is outside the timings
 * (both sides). `--runs N` repeats the pipeline in the same process: run 1 includes shader compilation.
 *
 * Notes: the per-file write timings are measured here around the writers reconstruct.ts uses, on the results
 * `runPipeline` returns in memory, into a temporary folder that is removed afterwards.
 */

import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeGaussiansPly } from '../src/io/ply-gaussians.ts';
import { makeTestModel, type TestModelSize } from '../src/pipeline/make-test-model.ts';
import { runPipeline, type StageTiming } from '../src/pipeline/run.ts';
import { writeMeshGlb } from '../src/representations/mesh.ts';
import { type GpuContext, type GpuStats, gpuStatsDelta } from '../src/runtime/gpu.ts';
import { argValue } from './harness.ts';

export interface BenchPipelineOptions {
  config: TestModelSize;
  /** Existing model directory (or where to write one); null = a temporary one. */
  model: string | null;
  image: string;
  mask: string;
  seed: number;
  ssSteps: number;
  slatSteps: number;
  runs: number;
  frames: number;
  frameSize: number;
  /** JSON written by tools/bench_pipeline_official.py, for the ratios. */
  official: string | null;
}

export const BENCH_PIPELINE_DEFAULTS: BenchPipelineOptions = {
  config: 'tiny',
  model: null,
  image: 'assets/examples/mug.png',
  mask: 'assets/examples/mug_mask.png',
  seed: 1,
  ssSteps: 12,
  slatSteps: 12,
  runs: 1,
  // 30 frames (1 s of the official 300-frame, 30 fps video) at the official 512 px keep the figure about rendering
  // speed, not GIF encoding of 300 frames.
  frames: 30,
  frameSize: 512,
  official: null,
};

/** The stages both pipelines run; their sum is the issue's wall-time comparison. */
export const COVERED_STAGES = [
  'encode',
  'stage1',
  'ss-decode',
  'stage2',
  'decode-gaussians',
  'decode-mesh',
  'write-ply',
] as const;

export interface BenchStage {
  stage: string;
  seconds: number;
  /** Part of `seconds` spent loading the stage's weights (ours stream them per stage; 0 for writes). */
  loadSeconds: number;
  peakGpuBytes: number | null;
  /**
   * GPU counters over the stage (pipeline compilations, buffers created, bytes written, submits, readbacks), from
   * the stage's first progress event to the next stage's; null on the CPU or for the writes (issue #7 diagnosis).
   */
  gpuStats?: GpuStats | null;
  /**
   * Seconds from the stage's first progress event to each later one (per sampler step for stage1/stage2). No sync
   * is added, so they show when the CPU finished recording each step, not when the GPU finished it.
   */
  progressSeconds?: number[];
}

export interface BenchRun {
  run: number;
  stages: BenchStage[];
  coveredSeconds: number;
  /** Weight loading inside `coveredSeconds`. */
  coveredLoadSeconds: number;
  totalSeconds: number;
  peakGpuBytes: number | null;
  voxels: number;
  /**
   * Distinct 2x-downsampled voxels: the SLAT flow's attention tokens. The random-weight test model's stage 1 marks
   * scattered voxels (tiny: 554 voxels -> 551 tokens), unlike a surface (bench slat's shell: 20,256 -> 3,496), and
   * the flow's cost grows with tokens^2 (issue #7).
   */
  flowTokens: number;
  gaussians: number;
  mesh: { vertices: number; triangles: number } | null;
  skipped: string[];
}

/** Number of distinct (b, x >> 1, y >> 1, z >> 1) of [N, 4] coordinates (grid < 512, as the sparse ops assume). */
function downsampledCount(coords: Int32Array): number {
  const GRID = 512;
  const keys = new Set<number>();
  for (let i = 0; i < coords.length; i += 4) {
    keys.add(
      ((coords[i] * GRID + (coords[i + 1] >> 1)) * GRID + (coords[i + 2] >> 1)) * GRID + (coords[i + 3] >> 1),
    );
  }
  return keys.size;
}

function parseOptions(args: readonly string[]): BenchPipelineOptions {
  const num = (name: string, fallback: number, min: number): number => {
    const raw = argValue(args, name);
    if (raw === undefined) return fallback;
    const v = Number(raw);
    if (!Number.isSafeInteger(v) || v < min)
      throw new Error(`bench pipeline: --${name} must be an integer >= ${min}, got "${raw}"`);
    return v;
  };
  const config = argValue(args, 'config') ?? BENCH_PIPELINE_DEFAULTS.config;
  if (config !== 'tiny' && config !== 'full')
    throw new Error(`bench pipeline: --config must be tiny or full, got "${config}"`);
  const d = BENCH_PIPELINE_DEFAULTS;
  return {
    config,
    model: argValue(args, 'model') ?? d.model,
    image: argValue(args, 'image') ?? d.image,
    mask: argValue(args, 'mask') ?? d.mask,
    seed: num('seed', d.seed, 0),
    ssSteps: num('ss-steps', d.ssSteps, 1),
    slatSteps: num('slat-steps', d.slatSteps, 1),
    runs: num('runs', d.runs, 1),
    frames: num('frames', d.frames, 1),
    frameSize: num('frame-size', d.frameSize, 8),
    official: argValue(args, 'official') ?? d.official,
  };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

/** Per-stage ratios ours / official on the last run of each (null where either side lacks the stage). */
function compare(ours: BenchRun, officialJson: unknown): Record<string, unknown> {
  const off = officialJson as {
    runs?: {
      stages: BenchStage[];
      coveredSeconds: number;
      peakGpuBytes: number | null;
      voxels: number | null;
    }[];
    loadSeconds?: number;
    device?: string;
    torch?: string;
  };
  const last = off.runs?.at(-1);
  if (!last) return { error: 'the official JSON has no runs' };
  const stages = COVERED_STAGES.map((name) => {
    const a = ours.stages.find((s) => s.stage === name);
    const b = last.stages.find((s) => s.stage === name);
    return {
      stage: name,
      oursSeconds: a?.seconds ?? null,
      officialSeconds: b?.seconds ?? null,
      ratio: a && b ? a.seconds / b.seconds : null,
      oursLoadSeconds: a?.loadSeconds ?? null,
      // The official figures exclude loading (its weights stay resident): this ratio compares compute alone.
      ratioExcludingLoad: a && b ? (a.seconds - a.loadSeconds) / b.seconds : null,
      oursPeakGpuBytes: a?.peakGpuBytes ?? null,
      officialPeakGpuBytes: b?.peakGpuBytes ?? null,
    };
  });
  return {
    officialDevice: off.device,
    officialTorch: off.torch,
    officialLoadSeconds: off.loadSeconds,
    stages,
    coveredRatio: ours.coveredSeconds / last.coveredSeconds,
    coveredRatioExcludingLoad: (ours.coveredSeconds - ours.coveredLoadSeconds) / last.coveredSeconds,
    peakGpuBytes: { ours: ours.peakGpuBytes, official: last.peakGpuBytes },
    voxels: { ours: ours.voxels, official: last.voxels },
  };
}

/**
 * Runs the benchmark and returns its figures (the caller prints them).
 * @example
 * const figures = await benchPipeline(gpu, ['--config', 'full', '--model', '/tmp/full', '--runs', '2']);
 */
export async function benchPipeline(
  gpu: GpuContext | null,
  args: string[],
): Promise<Record<string, unknown>> {
  const o = parseOptions(args);
  const work = await mkdtemp(join(tmpdir(), 'amodal3r-bench-pipeline-'));
  const log = (m: string) => console.error(`[bench pipeline] ${m}`);
  try {
    let modelDir = o.model ? resolve(o.model) : join(work, 'model');
    let makeSeconds: number | null = null;
    let calibration: { shift: number; voxels: number } | null = null;
    if (!existsSync(join(modelDir, 'pipeline.json'))) {
      log(`writing a ${o.config} test model to ${modelDir}`);
      const t0 = performance.now();
      const made = await makeTestModel({ config: o.config, out: modelDir, seed: 0, gpu, onLog: log });
      makeSeconds = (performance.now() - t0) / 1000;
      calibration = made.calibration;
      modelDir = made.dir;
    }
    // sharp decodes the PNGs once, outside the timed runs (the baseline opens them with PIL before its runs too).
    const { readImage } = await import('../src/io/image.ts');
    const image = await readImage(o.image);
    const mask = await readImage(o.mask);
    const runs: BenchRun[] = [];
    for (let run = 1; run <= o.runs; run++) {
      // Per-stage GPU counters and progress times, keyed by stage name (see BenchStage).
      const statsAt = new Map<string, GpuStats>();
      const statsOf = new Map<string, GpuStats>();
      const progressAt = new Map<string, number[]>();
      let current: string | null = null;
      const closeStage = () => {
        const s0 = current && statsAt.get(current);
        if (gpu && current && s0) statsOf.set(current, gpuStatsDelta(s0, gpu.stats));
      };
      const r = await runPipeline({
        images: [image],
        masks: [mask],
        model: modelDir,
        gpu,
        seed: o.seed,
        ssSteps: o.ssSteps,
        slatSteps: o.slatSteps,
        outputs: { gaussians: true, mesh: true, frames: true },
        frames: o.frames,
        frameSize: o.frameSize,
        onProgress: (e) => {
          const now = performance.now();
          if (e.stage !== current) {
            closeStage();
            current = e.stage;
            if (gpu) statsAt.set(e.stage, { ...gpu.stats });
            progressAt.set(e.stage, [now]);
            log(`run ${run}: ${e.stage}`);
          } else progressAt.get(e.stage)?.push(now);
        },
        onWarning: (m) => log(`warning: ${m}`),
      });
      closeStage();
      const stages: BenchStage[] = r.timings
        .filter((t: StageTiming) => t.stage !== 'load')
        .map((t) => {
          const times = progressAt.get(t.stage) ?? [];
          return {
            stage: t.stage,
            seconds: t.seconds,
            loadSeconds: t.loadSeconds,
            peakGpuBytes: t.peakGpuBytes,
            gpuStats: statsOf.get(t.stage) ?? null,
            progressSeconds: times.slice(1).map((x) => (x - times[0]) / 1000),
          };
        });
      for (const s of stages) {
        if (s.gpuStats) log(`run ${run}: ${s.stage} gpu ${JSON.stringify(s.gpuStats)}`);
        if (s.progressSeconds?.length)
          log(`run ${run}: ${s.stage} progress at ${s.progressSeconds.map((x) => x.toFixed(2)).join(' ')} s`);
      }
      const out = join(work, `out-${run}`);
      const skipped = r.skipped.map((s) => `${s.output}: ${s.reason}`);
      const gaussians = r.gaussians;
      const mesh = r.mesh;
      if (gaussians) {
        const g = gaussians;
        stages.push({
          stage: 'write-ply',
          seconds: await timed(() => writeGaussiansPly(join(work, `gaussians-${run}.ply`), g)),
          loadSeconds: 0,
          peakGpuBytes: null,
        });
      }
      if (mesh) {
        const m = mesh;
        stages.push({
          stage: 'write-glb',
          seconds: await timed(() => writeMeshGlb(join(work, `mesh-${run}.glb`), m)),
          loadSeconds: 0,
          peakGpuBytes: null,
        });
      }
      if (r.frames) {
        const frames = r.frames;
        const { writeFrames, writeGif } = await import('../src/render/turntable-files.ts');
        stages.push({
          stage: 'write-frames',
          seconds: await timed(async () => {
            await writeFrames(join(out, 'frames'), frames);
            await writeGif(join(out, 'turntable.gif'), frames, { fps: 30 });
          }),
          loadSeconds: 0,
          peakGpuBytes: null,
        });
      }
      const coveredStages = stages.filter((s) => (COVERED_STAGES as readonly string[]).includes(s.stage));
      const covered = coveredStages.reduce((a, s) => a + s.seconds, 0);
      const coveredLoad = coveredStages.reduce((a, s) => a + s.loadSeconds, 0);
      const result: BenchRun = {
        run,
        stages,
        coveredSeconds: covered,
        coveredLoadSeconds: coveredLoad,
        totalSeconds: stages.reduce((a, s) => a + s.seconds, 0),
        peakGpuBytes: r.peakGpuBytes,
        voxels: r.voxels,
        flowTokens: downsampledCount(r.coords),
        gaussians: gaussians?.count ?? 0,
        mesh: mesh ? { vertices: mesh.vertices.length / 3, triangles: mesh.faces.length / 3 } : null,
        skipped,
      };
      runs.push(result);
      log(`run ${run}: ${r.voxels} voxels, ${result.flowTokens} flow tokens`);
      log(
        `run ${run}: ${stages
          .map(
            (s) =>
              `${s.stage} ${s.seconds.toFixed(3)} s${s.loadSeconds > 0 ? ` (load ${s.loadSeconds.toFixed(3)})` : ''}`,
          )
          .join(', ')}; covered ${covered.toFixed(2)} s (weight loading ${coveredLoad.toFixed(2)} s); peak ${
          r.peakGpuBytes === null ? 'n/a (cpu)' : `${(r.peakGpuBytes / 2 ** 20).toFixed(0)} MiB`
        }`,
      );
      await rm(out, { recursive: true, force: true });
    }
    const last = runs[runs.length - 1];
    let official: Record<string, unknown> | null = null;
    if (o.official) {
      try {
        official = compare(last, JSON.parse(await readFile(o.official, 'utf8')));
      } catch (e) {
        // Our figures stand on their own; a missing or broken baseline file must not lose them.
        official = { error: `could not read the official figures in ${o.official}: ${(e as Error).message}` };
      }
    }
    return {
      config: o.config,
      device: gpu ? `webgpu (${gpu.adapterInfo.vendor} ${gpu.adapterInfo.description})`.trim() : 'cpu',
      model: modelDir,
      makeTestModelSeconds: makeSeconds,
      calibration,
      seed: o.seed,
      ssSteps: o.ssSteps,
      slatSteps: o.slatSteps,
      frames: o.frames,
      frameSize: o.frameSize,
      runs,
      // Kept at the top level for older readers of this JSON.
      voxels: last.voxels,
      timings: last.stages,
      totalSeconds: last.totalSeconds,
      coveredSeconds: last.coveredSeconds,
      coveredLoadSeconds: last.coveredLoadSeconds,
      peakGpuBytes: last.peakGpuBytes,
      official,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
