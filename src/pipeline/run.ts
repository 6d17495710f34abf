/**
 * The reconstruction pipeline's compute core: images + 3-level masks + a model -> occupancy, Gaussians, mesh and
 * turntable frames in memory. Browser-safe (no node: imports, no sharp): the CLI's `reconstruct` (reconstruct.ts)
 * wraps it with file inputs and atomic output folders; the web app calls it in a Worker.
 *
 * Stages run one after another, each loading its weights when it starts (streamed tensor by tensor from the
 * safetensors files) and releasing them when it ends, with `gpu.trimPool()` in between, so the peak GPU memory is
 * that of the largest stage rather than the sum:
 *   encode (DINOv2) -> stage 1 flow -> SS decoder -> [stage 2 flow -> Gaussian decoder -> mesh decoder] -> render.
 * Random numbers follow the official order: one `TorchGenerator(seed)`, `randn([1, 8, 16, 16, 16])` for stage 1,
 * then `randn([N, 8])` for stage 2 from the same stream.
 *
 * Reproducibility hooks (issue #10, dump.ts): `noiseSs` / `noiseSlat` replace the seeded noise (the stage-1 draw
 * still happens, so an injected stage-1 noise leaves the stage-2 stream where the official code has it); `coords`
 * replaces stage 1's occupancy (stage 1 and the SS decoder are then skipped). `dump` receives every intermediate
 * tensor under the names of `DUMP_TENSORS`; `dumpSteps` adds the latent after each sampler step. Reading back a
 * dumped tensor costs one GPU readback per tensor (the per-step ones are off by default for that reason).
 *
 * Notes:
 * - Stage 1 runs its own loop (sampleFlow + the flow, then the decoder) instead of `sampleSparseStructure`, so the
 *   flow's weights are released before the decoder's are loaded (peak = max of the two, not the sum).
 * - Per-stage peak GPU bytes are measured by resetting `gpu.peakBytes` to the live allocation at each stage start.
 * - Cancellation (`signal`) is checked between steps and stages; a cancelled run releases everything it loaded.
 * - Measured (tiny random model from make-test-model, ball/mug example, 2+2 steps, lavapipe on a shared 2-core box
 *   at load 5-13, so only indicative): encode 12-66 s, stage 1 3-24 s, SS decoder 12-52 s, stage 2 21-73 s,
 *   Gaussian decoder 2-8 s, mesh decoder + FlexiCubes 20-43 s, 4 frames at 64 px < 1.1 s; peak GPU 254 MiB (mesh
 *   decoder). ~476 voxels for the ball example (calibration target 500), 32 Gaussians per voxel.
 */

import type { ModelFiles } from '../io/model-files.ts';
import { Dinov2 } from '../models/dinov2.ts';
import { openDinov2Dir } from '../models/dinov2-weights.ts';
import type { SlatDecoderConfig } from '../models/slat-decoder-base.ts';
import { SLatGaussianDecoder } from '../models/slat-decoder-gs.ts';
import { SLatMeshDecoder } from '../models/slat-decoder-mesh.ts';
import { SLatFlow, type SLatFlowConfig } from '../models/slat-flow.ts';
import { occupiedCoords, SparseStructureDecoder, type SsDecoderConfig } from '../models/ss-decoder.ts';
import {
  disposeFlowCondition,
  prepareFlowCondition,
  SparseStructureFlow,
  type SsFlowConfig,
} from '../models/ss-flow.ts';
import type { SafetensorsWeightStore } from '../nn/safetensors-store.ts';
import { TorchGenerator } from '../random/generator.ts';
import { splatInputFromGaussians } from '../render/from-gaussians.ts';
import { type Frame, renderTurntable } from '../render/turntable.ts';
import { extractMesh, MESH_ATTR_CHANNELS } from '../representations/flexicubes.ts';
import type { Gaussians } from '../representations/gaussians.ts';
import type { Mesh } from '../representations/mesh.ts';
import { GPU_HELP, GpuContext } from '../runtime/gpu.ts';
import { Tensor } from '../runtime/tensor.ts';
import { SparseTensor } from '../sparse/sparse-tensor.ts';
import { checkInjection, type DumpSink, type InjectedTensor, stepName } from './dump.ts';
import { type Conditioning, encodeCondition, type ImageInput, InputError, type MaskInput } from './encode.ts';
import { type ModelDir, type ModelEntry, openModelDir, openModelWeights } from './model-dir.ts';
import { sampleFlow, type ViewOrder, viewSchedule } from './sampler.ts';
import { zeroCondition } from './stage1.ts';
import { sampleStructuredLatent } from './stage2.ts';

export type DeviceChoice = 'auto' | 'webgpu' | 'cpu';
export type Precision = 'auto' | 'f16' | 'f32';

export type StageName =
  | 'encode'
  | 'stage1'
  | 'ss-decode'
  | 'stage2'
  | 'decode-gaussians'
  | 'decode-mesh'
  | 'render'
  | 'write';

/** Progress of a stage: `done` of `total` units (steps, views, files). */
export interface ProgressEvent {
  stage: StageName;
  done: number;
  total: number;
}

/** What to compute beyond the stage-1 occupancy (stage 2 runs when any is asked). */
export interface PipelineOutputs {
  gaussians?: boolean;
  mesh?: boolean;
  /** Turntable frames rendered from the Gaussians (implies gaussians). */
  frames?: boolean;
}

export interface RunPipelineOptions {
  /** Decoded images, or file paths (Node only). */
  images: readonly ImageInput[];
  masks: readonly MaskInput[];
  /** Model directory path (Node), model files (any platform), or one opened with `openModelDir`. */
  model: string | ModelFiles | ModelDir;
  seed?: number;
  ssSteps?: number;
  ssCfg?: number;
  slatSteps?: number;
  slatCfg?: number;
  outputs?: PipelineOutputs;
  /** 'auto' (default): WebGPU when an adapter exists, else the CPU. */
  device?: DeviceChoice;
  /** Use this GPU context (overrides `device`); null forces the CPU. */
  gpu?: GpuContext | null;
  precision?: Precision;
  /** 'visibility' (paper, default) or 'given' (official code). */
  viewOrder?: ViewOrder;
  dilationKernel?: number;
  padToSquare?: boolean;
  /** Turntable frames (default 300, the official video). */
  frames?: number;
  /** Turntable frame side in pixels (default 512). */
  frameSize?: number;
  /** Use a precomputed condition (from `amodal3r encode`) instead of running DINOv2 on the images. */
  condition?: Conditioning;
  /** Called when a stage starts (done = 0) and after each unit of work. */
  onProgress?: (e: ProgressEvent) => void;
  onWarning?: (message: string) => void;
  /** Cancels the run between steps (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
  /** Stage-1 initial latent [1, K, R, R, R] instead of the seeded one. */
  noiseSs?: InjectedTensor<Float32Array>;
  /** Stage-2 initial features [N, C] instead of the seeded ones (N must match the voxels). */
  noiseSlat?: InjectedTensor<Float32Array>;
  /** Occupied voxels [N, 4] (batch 0, x, y, z) instead of stage 1's; stage 1 is skipped. */
  coords?: InjectedTensor<Int32Array>;
  /** Receives the intermediate tensors (names in dump.ts `DUMP_TENSORS`). */
  dump?: DumpSink;
  /** Also dump the latent after every sampler step (both stages). */
  dumpSteps?: boolean;
}

export const RUN_PIPELINE_DEFAULTS = {
  seed: 1,
  ssSteps: 12,
  ssCfg: 7.5,
  slatSteps: 12,
  slatCfg: 3.0,
  outputs: { gaussians: true, mesh: true, frames: true } as PipelineOutputs,
  device: 'auto' as DeviceChoice,
  precision: 'auto' as Precision,
  viewOrder: 'visibility' as ViewOrder,
  frames: 300,
  frameSize: 512,
} as const;

export interface StageTiming {
  stage: StageName | 'load';
  /** Wall time of the stage, its weight loading included. */
  seconds: number;
  /**
   * Part of `seconds` spent loading this stage's weights (file -> device, GPU copies finished); 0 for stages
   * without weights. Stages load their networks when they start and release them when they end (peak memory of
   * one stage rather than all models resident), so this is a per-run cost.
   */
  loadSeconds: number;
  /** Peak GPU bytes allocated during the stage (null on the CPU). */
  peakGpuBytes: number | null;
}

/** Something asked for that this run could not produce, with the reason. */
export interface SkippedOutput {
  output: 'gaussians' | 'mesh' | 'frames';
  reason: string;
}

export interface PipelineResult {
  /** Stage-1 occupied voxels [N, 4] (batch, x, y, z) on the 64^3 grid. */
  coords: Int32Array;
  voxels: number;
  /** Visible fraction per view. */
  visibleFractions: number[];
  gaussians: Gaussians | null;
  mesh: Mesh | null;
  frames: Frame[] | null;
  skipped: SkippedOutput[];
  timings: StageTiming[];
  totalSeconds: number;
  /** Peak GPU bytes over the run (null on the CPU). */
  peakGpuBytes: number | null;
  device: string;
  warnings: string[];
}

/** A failure of the pipeline with a message that says what to do. */
export class ReconstructError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReconstructError';
  }
}

/** Grid side of the stage-1 occupancy (16^3 latent decoded 4x). */
export const OCCUPANCY_RESOLUTION = 64;

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min)
    throw new InputError(`${name} must be an integer >= ${min}, got ${v}`);
}

function checkNum(name: string, v: number, min: number): void {
  if (!Number.isFinite(v) || v < min) throw new InputError(`${name} must be a number >= ${min}, got ${v}`);
}

/** Acquires the compute device for a run. */
export async function acquireDevice(
  choice: DeviceChoice,
  warn: (m: string) => void,
): Promise<{ gpu: GpuContext | null; owned: boolean }> {
  if (choice === 'cpu') return { gpu: null, owned: false };
  let gpu: GpuContext | null = null;
  let why = 'no WebGPU adapter found';
  try {
    gpu = await GpuContext.create();
  } catch (e) {
    why = `WebGPU device creation failed: ${(e as Error).message}`;
  }
  if (gpu) return { gpu, owned: true };
  if (choice === 'webgpu')
    throw new ReconstructError(`--device webgpu: ${why}. ${GPU_HELP} Or pass --device cpu.`);
  warn(`${why}; running on the CPU (slow). ${GPU_HELP}`);
  return { gpu: null, owned: false };
}

/**
 * Turns device loss and other GPU failures into an actionable message. A lost device shows up either as the
 * context's lost reason or as an AbortError/OperationError DOMException (empty message) from a pending readback.
 */
export function explain(e: unknown, gpu: GpuContext | null): Error {
  const err = e as Error | undefined;
  const msg = err?.message ?? String(e);
  let lost: string | null = null;
  try {
    gpu?.checkAlive();
  } catch (x) {
    lost = (x as Error).message;
  }
  const domAbort = err?.name === 'AbortError' || err?.name === 'OperationError';
  if (lost || domAbort || /GPU device lost|device lost|Device was lost/i.test(msg)) {
    const what = lost ?? (domAbort ? `GPU device lost (${err?.name}${msg ? `: ${msg}` : ''})` : msg);
    return new ReconstructError(
      `${what}. The GPU driver reset or ran out of memory mid-run; no output was written. Retry, close other GPU programs, or use --precision f16 / --device cpu.`,
    );
  }
  return e instanceof Error ? e : new Error(msg);
}

/**
 * Opens a model entry's safetensors file, loads the network from it and closes the file (the network holds its
 * own device copies), whether or not loading succeeds.
 */
async function loadModel<T>(
  entry: ModelEntry,
  load: (store: SafetensorsWeightStore, args: Record<string, unknown>) => Promise<T>,
): Promise<T> {
  const store = await openModelWeights(entry);
  try {
    return await load(store, entry.args);
  } finally {
    await store.close();
  }
}

/**
 * Runs the pipeline and returns its results in memory.
 *
 * @example
 * const r = await runPipeline({ images: [image], masks: [mask], model: await openModelDir(files), outputs: { gaussians: true } });
 * console.log(r.voxels, r.gaussians?.count, r.timings);
 */
export async function runPipeline(options: RunPipelineOptions): Promise<PipelineResult> {
  const o = { ...RUN_PIPELINE_DEFAULTS, ...options };
  const t0 = performance.now();
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    options.onWarning?.(m);
  };
  checkInt('seed', o.seed, 0);
  checkInt('ss-steps', o.ssSteps, 1);
  checkInt('slat-steps', o.slatSteps, 1);
  checkNum('ss-cfg', o.ssCfg, 0);
  checkNum('slat-cfg', o.slatCfg, 0);
  checkInt('frames', o.frames, 1);
  checkInt('frame-size', o.frameSize, 8);
  if (!o.condition && o.images.length !== o.masks.length) {
    throw new InputError(
      `${o.images.length} image(s) but ${o.masks.length} mask(s): every image needs exactly one 3-level mask, given in the same order`,
    );
  }
  const timings: StageTiming[] = [];
  const tLoad = performance.now();
  const model = isModelDir(o.model) ? o.model : await openModelDir(o.model);
  for (const w of model.warnings) warn(w);
  checkInjection({ noiseSs: o.noiseSs, noiseSlat: o.noiseSlat, coords: o.coords }, injectionShapes(model));
  const dump: DumpSink = o.dump ?? (() => {});
  let gpu: GpuContext | null;
  let ownedGpu = false;
  if (options.gpu !== undefined) gpu = options.gpu;
  else ({ gpu, owned: ownedGpu } = await acquireDevice(o.device, warn));
  timings.push({
    stage: 'load',
    seconds: (performance.now() - tLoad) / 1000,
    loadSeconds: 0,
    peakGpuBytes: null,
  });
  let peak = 0;
  const progress = (stage: StageName, done: number, total: number) => {
    o.signal?.throwIfAborted();
    o.onProgress?.({ stage, done, total });
  };
  /** Times a stage and records its GPU peak; frees pooled buffers afterwards. */
  let stageLoadSeconds = 0;
  /** `loadModel` timed into the running stage's `loadSeconds` (waits for the uploads to reach the GPU). */
  const timedLoad = async <T>(
    entry: ModelEntry,
    load: (store: SafetensorsWeightStore, args: Record<string, unknown>) => Promise<T>,
  ): Promise<T> => {
    const s = performance.now();
    try {
      const r = await loadModel(entry, load);
      if (gpu) await gpu.sync();
      return r;
    } finally {
      stageLoadSeconds += (performance.now() - s) / 1000;
    }
  };
  const stage = async <T>(name: StageName, fn: () => Promise<T>): Promise<T> => {
    const s = performance.now();
    stageLoadSeconds = 0;
    if (gpu) gpu.peakBytes = gpu.allocatedBytes;
    const r = await fn();
    if (gpu) {
      await gpu.sync();
      gpu.trimPool();
      peak = Math.max(peak, gpu.peakBytes);
    }
    timings.push({
      stage: name,
      seconds: (performance.now() - s) / 1000,
      loadSeconds: stageLoadSeconds,
      peakGpuBytes: gpu ? gpu.peakBytes : null,
    });
    return r;
  };
  try {
    // --- conditioning
    const images518: Float32Array[] = [];
    const cond =
      o.condition ??
      (await stage('encode', async () => {
        progress('encode', 0, o.images.length);
        const tDino = performance.now();
        const { store, config } = await openDinov2Dir(model.dinov2.files);
        let dino: Dinov2;
        try {
          dino = await Dinov2.load(store, config, { gpu });
          if (gpu) await gpu.sync();
        } finally {
          await store.close();
        }
        stageLoadSeconds += (performance.now() - tDino) / 1000;
        try {
          return await encodeCondition(o.images, o.masks, {
            dinov2: dino,
            gpu,
            dilationKernel: o.dilationKernel,
            padToSquare: o.padToSquare,
            onWarning: warn,
            onView: (d, n) => progress('encode', d, n),
            ...(o.dump && {
              onImage: (v: number, im: Float32Array) => {
                images518[v] = im;
              },
            }),
          });
        } finally {
          dino.dispose();
        }
      }));
    if (o.condition) for (const w of cond.warnings) warn(w);
    const V = cond.views;
    const per = cond.tokens.length / V;
    const condViews = Array.from({ length: V }, (_, v) => cond.tokens.subarray(v * per, (v + 1) * per));
    if (o.dump) {
      if (images518.length === V) {
        const side = IMAGE_SIDE;
        const all = new Float32Array(V * 3 * side * side);
        for (let v = 0; v < V; v++) all.set(images518[v], v * images518[v].length);
        await dump('encode/image', all, [V, 3, side, side], 'f32');
      }
      await dump('encode/cond', cond.tokens, [V, per / COND_WIDTH, COND_WIDTH], 'f32');
      await dump('encode/neg_cond', zeroCondition(), [1, per / COND_WIDTH, COND_WIDTH], 'f32');
    }

    // --- stage 1: flow sampling of the 8x16^3 latent
    const generator = new TorchGenerator(o.seed);
    // The stage-1 draw happens even when it is injected or skipped: stage 2 continues the same stream.
    const ssShape = injectionShapes(model).ssNoiseShape;
    const seededSs = generator.randn(ssShape);
    const stage1 = async () => {
      const flow = await timedLoad(model.models.sparse_structure_flow_model as ModelEntry, (store, args) =>
        SparseStructureFlow.load(store, args as unknown as SsFlowConfig, { gpu, precision: o.precision }),
      );
      try {
        const res = flow.r.res;
        const shape = [1, flow.r.inC, res, res, res];
        const noiseData = o.noiseSs?.data ?? seededSs;
        await dump('stage1/noise', noiseData, shape, 'f32');
        const noise = Tensor.fromArray(noiseData, shape, { gpu });
        const prepared = condViews.map((c) => prepareFlowCondition(c, gpu, flow.dtype));
        const neg = prepareFlowCondition(zeroCondition(), gpu, flow.dtype);
        const views = viewSchedule(o.ssSteps, cond.visibleFractions, o.viewOrder);
        const s = model.ssSampler;
        progress('stage1', 0, o.ssSteps);
        const z = await sampleFlow(
          (x, t, v) => flow.forward(x, t, v === null ? neg : prepared[v]),
          noise,
          views,
          {
            steps: o.ssSteps,
            cfgStrength: o.ssCfg,
            cfgInterval: s.cfgInterval,
            rescaleT: s.rescaleT,
            onStep: async (i, n, x) => {
              gpu?.checkAlive();
              if (gpu) await gpu.sync();
              if (o.dump && o.dumpSteps) await dump(`stage1/${stepName(i)}`, await x.toArray(), shape, 'f32');
              progress('stage1', i + 1, n);
            },
          },
        );
        for (const c of prepared) disposeFlowCondition(c);
        disposeFlowCondition(neg);
        noise.dispose();
        const out = await z.toArray();
        z.dispose();
        await dump('stage1/latent', out, shape, 'f32');
        return { data: out, shape };
      } finally {
        flow.dispose();
      }
    };

    // --- SS decoder: occupancy
    const ssDecode = async (latent: { data: Float32Array; shape: number[] }) => {
      progress('ss-decode', 0, 1);
      const dec = await timedLoad(model.models.sparse_structure_decoder as ModelEntry, (store, args) =>
        SparseStructureDecoder.load(store, args as unknown as SsDecoderConfig, {
          gpu,
          precision: o.precision,
        }),
      );
      try {
        const z = Tensor.fromArray(latent.data, latent.shape, { gpu });
        const logits = dec.forward(z);
        z.dispose();
        const vals = await logits.toArray();
        const shape = logits.shape;
        logits.dispose();
        let bad = 0;
        for (const v of vals) if (!Number.isFinite(v)) bad++;
        if (bad > 0)
          throw new ReconstructError(
            `the SS decoder produced ${bad} non-finite occupancy logits (precision ${o.precision}); retry with --precision f32`,
          );
        progress('ss-decode', 1, 1);
        const occ = occupiedCoords(vals, shape);
        await dump('ss_decode/logits', vals, logitsShapeNcdhw(shape), 'f32');
        await dump('ss_decode/coords', occ, [occ.length / 4, 4], 'i32');
        return occ;
      } finally {
        dec.dispose();
      }
    };
    let coords: Int32Array;
    if (o.coords) coords = o.coords.data;
    else {
      const latent = await stage('stage1', stage1);
      coords = await stage('ss-decode', () => ssDecode(latent));
    }
    const voxels = coords.length / 4;
    if (voxels === 0) {
      throw new ReconstructError(
        'stage 1 found no occupied voxels, so there is nothing to reconstruct; check that the mask marks the object (gray = visible), try another --seed or more --ss-steps',
      );
    }

    // --- stage 2 and decoders
    const skipped: SkippedOutput[] = [];
    const wantFrames = !!o.outputs.frames;
    const wantGaussians = !!o.outputs.gaussians || wantFrames;
    const wantMesh = !!o.outputs.mesh;
    let gaussians: Gaussians | null = null;
    let mesh: Mesh | null = null;
    let frames: Frame[] | null = null;
    if (!model.stage2) {
      const why = `stage 2 unavailable: ${model.stage2Missing.join('; ')}`;
      if (o.outputs.gaussians) skipped.push({ output: 'gaussians', reason: why });
      if (wantMesh) skipped.push({ output: 'mesh', reason: why });
      if (wantFrames) skipped.push({ output: 'frames', reason: why });
    } else if (wantGaussians || wantMesh) {
      const slatC = injectionShapes(model).slatChannels;
      if (o.noiseSlat && o.noiseSlat.shape[0] !== voxels)
        throw new InputError(
          `${o.noiseSlat.source ?? 'the stage-2 noise'} has ${o.noiseSlat.shape[0]} rows but stage 1 found ${voxels} voxels; pass the coordinates of the run the noise belongs to (--coords)`,
        );
      const slat = await stage('stage2', async () => {
        const flow = await timedLoad(model.models.slat_flow_model as ModelEntry, (store, args) =>
          SLatFlow.load(store, args as unknown as SLatFlowConfig, { gpu, precision: o.precision }),
        );
        try {
          const s = model.slatSampler;
          progress('stage2', 0, o.slatSteps);
          const noise = o.noiseSlat?.data ?? generator.randn([voxels, slatC]);
          await dump('stage2/coords', coords, [voxels, 4], 'i32');
          await dump('stage2/noise_feats', noise, [voxels, slatC], 'f32');
          const r = await sampleStructuredLatent(flow, coords, condViews, {
            noise,
            steps: o.slatSteps,
            cfgStrength: o.slatCfg,
            cfgInterval: s.cfgInterval,
            rescaleT: s.rescaleT,
            visibleAreas: cond.visibleFractions,
            viewOrder: o.viewOrder,
            ...(model.slatNormalization && { normalization: model.slatNormalization }),
            onStep: async (i, n, x) => {
              gpu?.checkAlive();
              if (o.dump && o.dumpSteps)
                await dump(`stage2/${stepName(i)}`, await x.toArray(), [voxels, slatC], 'f32');
              progress('stage2', i + 1, n);
            },
          });
          await dump('stage2/samples', r.samples, [voxels, slatC], 'f32');
          await dump('stage2/slat', r.feats, [voxels, slatC], 'f32');
          for (const v of r.feats) {
            if (!Number.isFinite(v))
              throw new ReconstructError(
                `the structured latent has non-finite values (precision ${o.precision}); retry with --precision f32`,
              );
          }
          return r.feats;
        } finally {
          flow.dispose();
        }
      });
      /** The structured latent as a sparse tensor on the device (fresh per decoder; caches freed after). */
      const slatTensor = () => SparseTensor.create(Tensor.fromArray(slat, [voxels, 8], { gpu }), coords);
      if (wantGaussians) {
        gaussians = await stage('decode-gaussians', async () => {
          progress('decode-gaussians', 0, 1);
          const dec = await timedLoad(model.models.slat_decoder_gs as ModelEntry, (store, args) =>
            SLatGaussianDecoder.load(store, args as unknown as SlatDecoderConfig, {
              gpu,
              precision: o.precision,
            }),
          );
          const x = slatTensor();
          try {
            const [g] = await dec.decode(x);
            if (o.dump) await dumpGaussians(dump, g);
            progress('decode-gaussians', 1, 1);
            return g;
          } finally {
            x.feats.dispose();
            x.disposeCache();
            dec.dispose();
          }
        });
      }
      if (wantMesh) {
        mesh = await stage('decode-mesh', async () => {
          progress('decode-mesh', 0, 2);
          const dec = await timedLoad(model.models.slat_decoder_mesh as ModelEntry, (store, args) =>
            SLatMeshDecoder.load(store, args as unknown as SlatDecoderConfig, {
              gpu,
              precision: o.precision,
            }),
          );
          const x = slatTensor();
          let f: Awaited<ReturnType<SLatMeshDecoder['decodeFeatures']>>;
          try {
            f = await dec.decodeFeatures(x);
          } finally {
            x.feats.dispose();
            x.disposeCache();
            dec.dispose();
          }
          progress('decode-mesh', 1, 2);
          const m = extractMesh(f.coords, f.feats, { resolution: f.resolution });
          if (o.dump) {
            const nv = m.vertices.length / 3;
            await dump('mesh/vertices', m.vertices, [nv, 3], 'f32');
            await dump('mesh/faces', Int32Array.from(m.faces), [m.faces.length / 3, 3], 'i32');
            if (m.vertexAttrs)
              await dump('mesh/vertex_attrs', m.vertexAttrs, [nv, m.vertexAttrs.length / nv], 'f32');
          }
          progress('decode-mesh', 2, 2);
          return {
            vertices: m.vertices,
            faces: m.faces,
            vertexAttrs: m.vertexAttrs,
            attrChannels: MESH_ATTR_CHANNELS,
          };
        });
        if (mesh && mesh.faces.length === 0) {
          skipped.push({ output: 'mesh', reason: 'the mesh decoder produced no surface (0 triangles)' });
          mesh = null;
        }
      }
      if (gaussians && wantFrames) {
        const g = gaussians;
        frames = await stage('render', async () => {
          progress('render', 0, o.frames);
          return renderTurntable(gpu, splatInputFromGaussians(g), {
            frames: o.frames,
            size: o.frameSize,
            onFrame: (i) => progress('render', i + 1, o.frames),
          });
        });
      }
    }

    for (const s of skipped) warn(`${s.output}: skipped (${s.reason})`);
    return {
      coords,
      voxels,
      visibleFractions: cond.visibleFractions,
      gaussians,
      mesh,
      frames,
      skipped,
      timings,
      totalSeconds: (performance.now() - t0) / 1000,
      peakGpuBytes: gpu ? peak : null,
      device: gpu
        ? `webgpu (${gpu.adapterInfo.vendor} ${gpu.adapterInfo.architecture} ${gpu.adapterInfo.description})`.trim()
        : 'cpu',
      warnings,
    };
  } catch (e) {
    if (o.signal?.aborted) throw e;
    throw explain(e, gpu);
  } finally {
    if (ownedGpu) gpu?.destroy();
  }
}

/** Width of a condition token (DINOv2 ViT-L). */
const COND_WIDTH = 1024;
/** Side of the preprocessed image. */
const IMAGE_SIDE = 518;
/** Side of the occupancy grid. */
const GRID_SIDE = 64;

/** The injectable shapes of a model, from its checkpoint configs (official defaults where a key is absent). */
function injectionShapes(model: ModelDir): {
  ssNoiseShape: number[];
  slatChannels: number;
  gridSide: number;
} {
  const ss = (model.models.sparse_structure_flow_model?.args ?? {}) as {
    in_channels?: number;
    resolution?: number;
  };
  const sl = (model.models.slat_flow_model?.args ?? {}) as { in_channels?: number };
  const k = ss.in_channels ?? 8;
  const r = ss.resolution ?? 16;
  return { ssNoiseShape: [1, k, r, r, r], slatChannels: sl.in_channels ?? 8, gridSide: GRID_SIDE };
}

/** The decoder's logits shape as the official [B, C, D, H, W] (ours is channel-last [B, D, H, W, C]). */
function logitsShapeNcdhw(shape: readonly number[]): number[] {
  if (shape.length === 5 && shape[4] === 1) return [shape[0], 1, shape[1], shape[2], shape[3]];
  return [...shape];
}

/** The Gaussians' raw fields under the official names and shapes. */
async function dumpGaussians(dump: DumpSink, g: Gaussians): Promise<void> {
  const n = g.count;
  const f = g.fields;
  await dump('gaussians/xyz', f.xyz, [n, 3], 'f32');
  await dump('gaussians/features_dc', f.featuresDc, [n, 1, 3], 'f32');
  await dump('gaussians/scaling', f.scaling, [n, 3], 'f32');
  await dump('gaussians/rotation', f.rotation, [n, 4], 'f32');
  await dump('gaussians/opacity', f.opacity, [n, 1], 'f32');
}

function isModelDir(m: string | ModelFiles | ModelDir): m is ModelDir {
  return typeof m !== 'string' && 'pipeline' in m && 'models' in m;
}
