/**
 * The end-to-end reconstruction: images + 3-level masks + a model directory -> output files.
 *
 * Stages run one after another, each loading its weights when it starts (streamed tensor by tensor from the
 * safetensors files) and releasing them when it ends, with `gpu.trimPool()` in between, so the peak GPU memory is
 * that of the largest stage rather than the sum:
 *   encode (DINOv2) -> stage 1 flow -> SS decoder -> [stage 2 flow -> Gaussian decoder -> mesh decoder].
 * Random numbers follow the official order: one `TorchGenerator(seed)`, `randn([1, 8, 16, 16, 16])` for stage 1,
 * then `randn([N, 8])` for stage 2 from the same stream.
 *
 * Outputs are written into a temporary sibling of `out` and renamed into place at the end; on any error the
 * temporary folder is removed, so `out` never holds a partial result. An existing `out` is refused unless
 * `force`. Formats that cannot be produced by this build are reported in `skipped` with the reason, never faked.
 *
 * Files: `occupancy.ply` (stage-1 voxel centres, always), `gaussians.ply` (3DGS layout, format `ply`), `mesh.glb`
 * (FlexiCubes surface with vertex colours, format `glb`; no texture baking), `frames/NNN.png` (format `png`) and
 * `turntable.gif` (format `gif`) rendered by src/render from the Gaussians.
 *
 * Notes:
 * - Stage 1 runs its own loop (sampleFlow + the flow, then the decoder) instead of `sampleSparseStructure`, so the
 *   flow's weights are released before the decoder's are loaded (peak = max of the two, not the sum).
 * - Per-stage peak GPU bytes are measured by resetting `gpu.peakBytes` to the live allocation at each stage start.
 * - Measured (tiny random model from make-test-model, ball/mug example, 2+2 steps, lavapipe on a shared 2-core box
 *   at load 5-13, so only indicative): encode 12-66 s, stage 1 3-24 s, SS decoder 12-52 s, stage 2 21-73 s,
 *   Gaussian decoder 2-8 s, mesh decoder + FlexiCubes 20-43 s, 4 frames at 64 px < 1.1 s, writing < 1 s; peak GPU
 *   254 MiB (mesh decoder). ~476 voxels for the ball example (calibration target 500), 32 Gaussians per voxel.
 */

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { occupancyPointProperties, writeGaussiansPly, writePly } from '../io/ply-gaussians.ts';
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
import { type Frame, renderTurntable, writeFrames, writeGif } from '../render/turntable.ts';
import { extractMesh, MESH_ATTR_CHANNELS } from '../representations/flexicubes.ts';
import type { Gaussians } from '../representations/gaussians.ts';
import { type Mesh, writeMeshGlb } from '../representations/mesh.ts';
import { GPU_HELP, GpuContext } from '../runtime/gpu.ts';
import { Tensor } from '../runtime/tensor.ts';
import { SparseTensor } from '../sparse/sparse-tensor.ts';
import { type Conditioning, encodeCondition, type ImageInput, InputError, type MaskInput } from './encode.ts';
import { type ModelDir, type ModelEntry, openModelDir, openModelWeights } from './model-dir.ts';
import { sampleFlow, type ViewOrder, viewSchedule } from './sampler.ts';
import { zeroCondition } from './stage1.ts';
import { sampleStructuredLatent } from './stage2.ts';

export type OutputFormat = 'ply' | 'glb' | 'png' | 'gif';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['ply', 'glb', 'png', 'gif'];
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

export interface ReconstructOptions {
  images: readonly ImageInput[];
  masks: readonly MaskInput[];
  /** Model directory path, or one opened with `openModelDir`. */
  model: string | ModelDir;
  /** Output folder; null/omitted = compute only (results in memory). */
  out?: string | null;
  /** Replace an existing `out`. */
  force?: boolean;
  seed?: number;
  ssSteps?: number;
  ssCfg?: number;
  slatSteps?: number;
  slatCfg?: number;
  formats?: readonly OutputFormat[];
  /** 'auto' (default): WebGPU when an adapter exists, else the CPU. */
  device?: DeviceChoice;
  /** Use this GPU context (overrides `device`); null forces the CPU. */
  gpu?: GpuContext | null;
  precision?: Precision;
  /** 'visibility' (paper, default) or 'given' (official code). */
  viewOrder?: ViewOrder;
  dilationKernel?: number;
  padToSquare?: boolean;
  /** Turntable frames for png/gif (default 300, the official video). */
  frames?: number;
  /** Turntable frame side in pixels (default 512). */
  frameSize?: number;
  /** Use a precomputed condition (from `amodal3r encode`) instead of running DINOv2 on the images. */
  condition?: Conditioning;
  /** Called when a stage starts (done = 0) and after each unit of work. */
  onProgress?: (e: ProgressEvent) => void;
  onWarning?: (message: string) => void;
}

export const RECONSTRUCT_DEFAULTS = {
  seed: 1,
  ssSteps: 12,
  ssCfg: 7.5,
  slatSteps: 12,
  slatCfg: 3.0,
  formats: OUTPUT_FORMATS,
  device: 'auto' as DeviceChoice,
  precision: 'auto' as Precision,
  viewOrder: 'visibility' as ViewOrder,
  frames: 300,
  frameSize: 512,
} as const;

export interface StageTiming {
  stage: StageName | 'load';
  seconds: number;
  /** Peak GPU bytes allocated during the stage (null on the CPU). */
  peakGpuBytes: number | null;
}

export interface ReconstructResult {
  /** Final output folder (null when nothing was written). */
  out: string | null;
  /** Files written, relative to `out`. */
  files: string[];
  /** Requested outputs that could not be produced, with the reason. */
  skipped: { format: OutputFormat | 'gaussians' | 'mesh'; reason: string }[];
  /** Stage-1 occupied voxels [N, 4] (batch, x, y, z) on the 64^3 grid. */
  coords: Int32Array;
  voxels: number;
  /** Visible fraction per view. */
  visibleFractions: number[];
  timings: StageTiming[];
  totalSeconds: number;
  /** Peak GPU bytes over the run (null on the CPU). */
  peakGpuBytes: number | null;
  /** Gaussians written/decoded (0 without stage 2). */
  gaussians: number;
  /** Mesh size (null without a mesh). */
  mesh: { vertices: number; triangles: number } | null;
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
const OCCUPANCY_RESOLUTION = 64;

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

/** Output folder handling: a temporary sibling, renamed over `out` at the end. */
class OutputDir {
  readonly final: string;
  readonly tmp: string;
  readonly files: string[] = [];
  private constructor(final: string, tmp: string) {
    this.final = final;
    this.tmp = tmp;
  }

  /** Refuses an existing `out` unless `force` (checked before any work). */
  static check(out: string, force: boolean): string {
    const final = resolve(out);
    if (existsSync(final) && !force)
      throw new InputError(`${final} already exists; choose another --out or pass --force to replace it`);
    return final;
  }

  static async create(final: string): Promise<OutputDir> {
    await mkdir(dirname(final), { recursive: true });
    const tmp = join(
      dirname(final),
      `.${basename(final)}.partial-${process.pid}-${randomBytes(4).toString('hex')}`,
    );
    await mkdir(tmp);
    return new OutputDir(final, tmp);
  }

  path(rel: string): string {
    this.files.push(rel);
    return join(this.tmp, rel);
  }

  async commit(): Promise<void> {
    let old: string | null = null;
    if (existsSync(this.final)) {
      old = join(
        dirname(this.final),
        `.${basename(this.final)}.old-${process.pid}-${randomBytes(4).toString('hex')}`,
      );
      await rename(this.final, old);
    }
    await rename(this.tmp, this.final);
    if (old) await rm(old, { recursive: true, force: true });
  }

  async abort(): Promise<void> {
    await rm(this.tmp, { recursive: true, force: true });
  }
}

/**
 * Turns device loss and other GPU failures into an actionable message. A lost device shows up either as the
 * context's lost reason or as an AbortError/OperationError DOMException (empty message) from a pending readback.
 */
function explain(e: unknown, gpu: GpuContext | null): Error {
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
 * Runs the whole pipeline.
 *
 * @example
 * const r = await reconstruct({ images: ['a.png'], masks: ['a_mask.png'], model: 'models/Amodal3R', out: 'out/a' });
 * console.log(r.files, r.voxels, r.timings);
 */
export async function reconstruct(options: ReconstructOptions): Promise<ReconstructResult> {
  const o = { ...RECONSTRUCT_DEFAULTS, ...options };
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
  for (const f of o.formats) {
    if (!OUTPUT_FORMATS.includes(f))
      throw new InputError(`unknown output format '${f}'; choose from ${OUTPUT_FORMATS.join(', ')}`);
  }
  if (!o.condition && o.images.length !== o.masks.length) {
    throw new InputError(
      `${o.images.length} image(s) but ${o.masks.length} mask(s): every image needs exactly one 3-level mask, given in the same order`,
    );
  }
  const finalOut = o.out ? OutputDir.check(o.out, !!o.force) : null;
  const timings: StageTiming[] = [];
  const tLoad = performance.now();
  const model = typeof o.model === 'string' ? await openModelDir(o.model) : o.model;
  for (const w of model.warnings) warn(w);
  let gpu: GpuContext | null;
  let ownedGpu = false;
  if (options.gpu !== undefined) gpu = options.gpu;
  else ({ gpu, owned: ownedGpu } = await acquireDevice(o.device, warn));
  timings.push({ stage: 'load', seconds: (performance.now() - tLoad) / 1000, peakGpuBytes: null });
  let peak = 0;
  const progress = (stage: StageName, done: number, total: number) => o.onProgress?.({ stage, done, total });
  /** Times a stage and records its GPU peak; frees pooled buffers afterwards. */
  const stage = async <T>(name: StageName, fn: () => Promise<T>): Promise<T> => {
    const s = performance.now();
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
      peakGpuBytes: gpu ? gpu.peakBytes : null,
    });
    return r;
  };
  let outDir: OutputDir | null = null;
  try {
    // --- conditioning
    const cond =
      o.condition ??
      (await stage('encode', async () => {
        progress('encode', 0, o.images.length);
        return encodeCondition(o.images, o.masks, {
          dinov2: model.dinov2.dir,
          gpu,
          dilationKernel: o.dilationKernel,
          padToSquare: o.padToSquare,
          onWarning: warn,
          onView: (d, n) => progress('encode', d, n),
        });
      }));
    if (o.condition) for (const w of cond.warnings) warn(w);
    const V = cond.views;
    const per = cond.tokens.length / V;
    const condViews = Array.from({ length: V }, (_, v) => cond.tokens.subarray(v * per, (v + 1) * per));

    // --- stage 1: flow sampling of the 8x16^3 latent
    const generator = new TorchGenerator(o.seed);
    const latent = await stage('stage1', async () => {
      const flow = await loadModel(model.models.sparse_structure_flow_model as ModelEntry, (store, args) =>
        SparseStructureFlow.load(store, args as unknown as SsFlowConfig, { gpu, precision: o.precision }),
      );
      try {
        const res = flow.r.res;
        const shape = [1, flow.r.inC, res, res, res];
        const noise = Tensor.fromArray(generator.randn(shape), shape, { gpu });
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
            onStep: async (i, n) => {
              gpu?.checkAlive();
              if (gpu) await gpu.sync();
              progress('stage1', i + 1, n);
            },
          },
        );
        for (const c of prepared) disposeFlowCondition(c);
        disposeFlowCondition(neg);
        noise.dispose();
        const out = await z.toArray();
        z.dispose();
        return { data: out, shape };
      } finally {
        flow.dispose();
      }
    });

    // --- SS decoder: occupancy
    const coords = await stage('ss-decode', async () => {
      progress('ss-decode', 0, 1);
      const dec = await loadModel(model.models.sparse_structure_decoder as ModelEntry, (store, args) =>
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
        return occupiedCoords(vals, shape);
      } finally {
        dec.dispose();
      }
    });
    const voxels = coords.length / 4;
    if (voxels === 0) {
      throw new ReconstructError(
        'stage 1 found no occupied voxels, so there is nothing to reconstruct; check that the mask marks the object (gray = visible), try another --seed or more --ss-steps',
      );
    }

    // --- stage 2 and decoders
    const skipped: ReconstructResult['skipped'] = [];
    const wantGaussians = o.formats.some((f) => f === 'ply' || f === 'png' || f === 'gif');
    const wantMesh = o.formats.includes('glb');
    let gaussians: Gaussians | null = null;
    let mesh: Mesh | null = null;
    let frames: Frame[] | null = null;
    if (!model.stage2) {
      const why = `stage 2 unavailable: ${model.stage2Missing.join('; ')}`;
      if (o.formats.includes('ply')) skipped.push({ format: 'gaussians', reason: why });
      if (wantMesh) skipped.push({ format: 'glb', reason: why });
      for (const f of ['png', 'gif'] as const)
        if (o.formats.includes(f)) skipped.push({ format: f, reason: why });
    } else if (wantGaussians || wantMesh) {
      const slat = await stage('stage2', async () => {
        const flow = await loadModel(model.models.slat_flow_model as ModelEntry, (store, args) =>
          SLatFlow.load(store, args as unknown as SLatFlowConfig, { gpu, precision: o.precision }),
        );
        try {
          const s = model.slatSampler;
          progress('stage2', 0, o.slatSteps);
          const r = await sampleStructuredLatent(flow, coords, condViews, {
            noise: generator.randn([voxels, flow.r.inC]),
            steps: o.slatSteps,
            cfgStrength: o.slatCfg,
            cfgInterval: s.cfgInterval,
            rescaleT: s.rescaleT,
            visibleAreas: cond.visibleFractions,
            viewOrder: o.viewOrder,
            ...(model.slatNormalization && { normalization: model.slatNormalization }),
            onStep: (i, n) => {
              gpu?.checkAlive();
              progress('stage2', i + 1, n);
            },
          });
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
          const dec = await loadModel(model.models.slat_decoder_gs as ModelEntry, (store, args) =>
            SLatGaussianDecoder.load(store, args as unknown as SlatDecoderConfig, {
              gpu,
              precision: o.precision,
            }),
          );
          const x = slatTensor();
          try {
            const [g] = await dec.decode(x);
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
          const dec = await loadModel(model.models.slat_decoder_mesh as ModelEntry, (store, args) =>
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
          progress('decode-mesh', 2, 2);
          return {
            vertices: m.vertices,
            faces: m.faces,
            vertexAttrs: m.vertexAttrs,
            attrChannels: MESH_ATTR_CHANNELS,
          };
        });
        if (mesh && mesh.faces.length === 0) {
          skipped.push({ format: 'glb', reason: 'the mesh decoder produced no surface (0 triangles)' });
          mesh = null;
        }
      }
      if (gaussians && (o.formats.includes('png') || o.formats.includes('gif'))) {
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

    // --- outputs (all into a temporary folder, renamed into place at the end)
    if (finalOut) {
      await stage('write', async () => {
        const dir = await OutputDir.create(finalOut);
        outDir = dir;
        const todo = 1 + (gaussians && o.formats.includes('ply') ? 1 : 0) + (mesh ? 1 : 0) + (frames ? 1 : 0);
        let done = 0;
        progress('write', 0, todo);
        await writePly(dir.path('occupancy.ply'), occupancyPointProperties(coords, OCCUPANCY_RESOLUTION), [
          `amodal3r stage-1 occupancy: ${voxels} voxel centres of a ${OCCUPANCY_RESOLUTION}^3 grid, Y-up`,
        ]);
        progress('write', ++done, todo);
        if (gaussians && o.formats.includes('ply')) {
          await writeGaussiansPly(dir.path('gaussians.ply'), gaussians);
          progress('write', ++done, todo);
        }
        if (mesh) {
          await writeMeshGlb(dir.path('mesh.glb'), mesh);
          progress('write', ++done, todo);
        }
        if (frames) {
          if (o.formats.includes('png')) {
            const paths = await writeFrames(join(dir.tmp, 'frames'), frames);
            for (const p of paths) dir.files.push(relative(dir.tmp, p));
          }
          if (o.formats.includes('gif')) await writeGif(dir.path('turntable.gif'), frames, { fps: 30 });
          progress('write', ++done, todo);
        }
        await dir.commit();
      });
    }
    for (const s of skipped) warn(`${s.format}: skipped (${s.reason})`);
    return {
      out: finalOut,
      files: (outDir as OutputDir | null)?.files ?? [],
      skipped,
      coords,
      voxels,
      visibleFractions: cond.visibleFractions,
      timings,
      totalSeconds: (performance.now() - t0) / 1000,
      peakGpuBytes: gpu ? peak : null,
      gaussians: gaussians ? (gaussians as Gaussians).count : 0,
      mesh: mesh
        ? { vertices: (mesh as Mesh).vertices.length / 3, triangles: (mesh as Mesh).faces.length / 3 }
        : null,
      device: gpu
        ? `webgpu (${gpu.adapterInfo.vendor} ${gpu.adapterInfo.architecture} ${gpu.adapterInfo.description})`.trim()
        : 'cpu',
      warnings,
    };
  } catch (e) {
    await (outDir as OutputDir | null)?.abort();
    throw explain(e, gpu);
  } finally {
    if (ownedGpu) gpu?.destroy();
  }
}
