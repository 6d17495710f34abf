/**
 * `make-test-model`: a randomly initialised model directory in exactly the released layout (model-dir.ts), for
 * tests, benchmarks and trying the pipeline without downloading 4 GB.
 *
 * - `tiny`: a reduced configuration the official code can also run (condition width 1024 is hard-coded there, so
 *   DINOv2 keeps width 1024 with depth 1 and mlp_ratio 0.25; stage-1 flow width 128 / 2 heads / 2 blocks; SS decoder
 *   channels [32, 16, 8]; SLAT flow width 128 / 2 blocks; SLAT decoders width 256 (the mesh decoder needs a multiple
 *   of 256) / 2 blocks).
 * - `full`: the released sizes (configs.json).
 *
 * Initialisation: every weight matrix/kernel uniform with std 1/sqrt(fan_in) (fan_in = product of all but the first
 * dim, i.e. PyTorch's layout and spconv's KRSC layout alike; the flows' velocity heads at 5% of that), biases uniform in +-0.02, norm scales and
 * RMS/LayerScale gammas 1, DINOv2 token parameters std 0.02, fixed buffers (the stage-1 sin-cos position table) as
 * the official module computes them. One xoshiro stream per tensor name, so a tensor does not depend on the others.
 * Files are written f16 for `use_fp16` models, f32 otherwise.
 *
 * Occupancy calibration: random weights give a random occupancy threshold, so the SS decoder's final bias is
 * shifted until the decoder, run on standard-normal latents (what stage 1 starts from), marks ~`targetVoxels`
 * voxels (500 tiny / 20k full): the threshold goes between the target-th and (target+1)-th largest logits. The
 * shipped examples then give 476 (ball) / 544 (mug) voxels with 2 stage-1 steps.
 *
 * Notes (alternatives tried):
 * - Full-strength velocity heads: the sampled latent drifted far from N(0, 1) (CFG 7.5 amplifies the random
 *   velocity) and the calibrated decoder gave 38 voxels instead of ~500 on the ball example; hence the 5% heads.
 * - Tiny stage-1 flow with patch 1 (4096 tokens, as released): ~110 s per sampling step on the loaded lavapipe box;
 *   patch 2 (512 tokens, the class default, runnable by the official code) made it ~10x cheaper.
 * - Calibration pass of the tiny decoder: 22-55 s on the CPU twin, 12-50 s on lavapipe (load dependent); one latent
 *   is enough (the verification count comes from the same logits: the final conv adds its bias last).
 */

import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Rng } from '../data/prng.ts';
import { writeSafetensors } from '../io/safetensors.node.ts';
import type { WritableTensor } from '../io/safetensors.ts';
import type { Dinov2Config } from '../models/dinov2.ts';
import { dinov2ExpectedShapes } from '../models/dinov2.ts';
import { DINOV2_FILES } from '../models/dinov2-weights.ts';
import type { SlatDecoderConfig } from '../models/slat-decoder-base.ts';
import { GS_REPRESENTATION_DEFAULTS, offsetPerturbation } from '../models/slat-decoder-gs.ts';
import type { SLatFlowConfig } from '../models/slat-flow.ts';
import { SparseStructureDecoder, type SsDecoderConfig } from '../models/ss-decoder.ts';
import { type SsFlowConfig, ssFlowPosEmb } from '../models/ss-flow.ts';
import { MapWeightStore } from '../nn/weights.ts';
import { TorchGenerator } from '../random/generator.ts';
import { packF16, roundToDType } from '../runtime/dtype.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { Tensor } from '../runtime/tensor.ts';
import { DINOV2_SUBDIR, expectedShapesFor, type ModelRole, PIPELINE_FILE } from './model-dir.ts';

export type TestModelSize = 'tiny' | 'full';

/** Checkpoint folder inside the model directory, as in the HF repo. */
export const CKPT_DIR = 'Amodal3R_ckpts';

interface ModelSpec {
  role: ModelRole;
  stem: string;
  className: string;
  args: Record<string, unknown>;
}

const SLAT_NORMALIZATION = {
  mean: [
    -2.1687545776367188, -0.004347046371549368, -0.13352349400520325, -0.08418072760105133,
    -0.5271206498146057, 0.7238689064979553, -1.1414450407028198, 1.2039363384246826,
  ],
  std: [
    2.377650737762451, 2.386378288269043, 2.124418020248413, 2.1748552322387695, 2.663944721221924,
    2.371192216873169, 2.6217446327209473, 2.684523105621338,
  ],
};

function sampler(steps: number, cfg: number): Record<string, unknown> {
  return {
    name: 'FlowEulerGuidanceIntervalSampler',
    args: { sigma_min: 1e-5 },
    params: { steps, cfg_strength: cfg, cfg_interval: [0.5, 1.0], rescale_t: 3.0 },
  };
}

/** DINOv2 arguments (torch-hub `DinoVisionTransformer`) per size. */
export function testDinov2Config(size: TestModelSize): Dinov2Config {
  return {
    img_size: 518,
    patch_size: 14,
    embed_dim: 1024,
    depth: size === 'tiny' ? 1 : 24,
    num_heads: 16,
    mlp_ratio: size === 'tiny' ? 0.25 : 4,
    num_register_tokens: 4,
    qkv_bias: true,
    proj_bias: true,
    ffn_bias: true,
    ffn_layer: 'mlp',
    init_values: 1.0,
    in_chans: 3,
  };
}

/**
 * Stage-1 flow arguments per size (`full`: configs.json `sparse_structure_flow_model`).
 * @example
 * const cfg = testSsFlowConfig('full'); // width 1024, 24 blocks, patch 1
 */
export function testSsFlowConfig(size: TestModelSize): SsFlowConfig {
  const tiny = size === 'tiny';
  return {
    resolution: 16,
    in_channels: 8,
    out_channels: 8,
    model_channels: tiny ? 128 : 1024,
    cond_channels: 1024,
    num_blocks: tiny ? 2 : 24,
    num_heads: tiny ? 2 : 16,
    num_head_channels: 64,
    mlp_ratio: 4,
    // patch 2 (the class default; the release uses 1) cuts the tiny flow from 4096 to 512 tokens.
    patch_size: tiny ? 2 : 1,
    pe_mode: 'ape',
    use_fp16: true,
    use_checkpoint: false,
    share_mod: false,
    qk_rms_norm: true,
    qk_rms_norm_cross: false,
    mask_cond_type: 'mask_patcher',
  };
}

/**
 * Sparse-structure decoder arguments per size (`full`: configs.json `sparse_structure_decoder`).
 * @example
 * const cfg = testSsDecoderConfig('tiny'); // channels [32, 16, 8]
 */
export function testSsDecoderConfig(size: TestModelSize): SsDecoderConfig {
  return {
    out_channels: 1,
    latent_channels: 8,
    num_res_blocks: 2,
    num_res_blocks_middle: 2,
    channels: size === 'tiny' ? [32, 16, 8] : [512, 128, 32],
    norm_type: 'layer',
    use_fp16: true,
  };
}

/**
 * SLAT flow arguments per size (`full`: configs.json `slat_flow_model`).
 * @example
 * const cfg = testSlatFlowConfig('full'); // width 1024, 24 blocks, io [128]
 */
export function testSlatFlowConfig(size: TestModelSize): SLatFlowConfig {
  const tiny = size === 'tiny';
  return {
    resolution: 64,
    in_channels: 8,
    out_channels: 8,
    model_channels: tiny ? 128 : 1024,
    cond_channels: 1024,
    num_blocks: tiny ? 2 : 24,
    num_heads: tiny ? 2 : 16,
    num_head_channels: 64,
    mlp_ratio: 4,
    patch_size: 2,
    num_io_res_blocks: tiny ? 1 : 2,
    io_block_channels: tiny ? [32] : [128],
    pe_mode: 'ape',
    use_fp16: true,
    use_checkpoint: false,
    use_skip_connection: true,
    share_mod: false,
    qk_rms_norm: true,
    qk_rms_norm_cross: false,
    mask_cond_type: 'mask_patcher',
  };
}

/**
 * SLAT decoder arguments per size (`full`: configs.json `slat_decoder_*`): the trunk, plus the decoder's
 * `representation_config` when given (the Gaussian decoder: `GS_REPRESENTATION_DEFAULTS`; the mesh decoder:
 * `{ use_color: true }`; the radiance field: `{ rank: 16, dim: 8 }`).
 * @example
 * const cfg = testSlatDecoderConfig('full', { ...GS_REPRESENTATION_DEFAULTS });
 */
export function testSlatDecoderConfig(
  size: TestModelSize,
  representation?: Record<string, unknown>,
): SlatDecoderConfig {
  const tiny = size === 'tiny';
  const trunk: SlatDecoderConfig = {
    resolution: 64,
    // The mesh decoder needs a multiple of 256 (see the file notes).
    model_channels: tiny ? 256 : 768,
    latent_channels: 8,
    num_blocks: tiny ? 2 : 12,
    num_heads: tiny ? 4 : 12,
    mlp_ratio: 4,
    attn_mode: 'swin',
    window_size: 8,
    pe_mode: 'ape',
    use_fp16: true,
    use_checkpoint: false,
    qk_rms_norm: false,
  };
  return representation ? { ...trunk, representation_config: representation } : trunk;
}

/** The checkpoints of a test model (stems follow the release's naming). */
export function testModelSpecs(size: TestModelSize): ModelSpec[] {
  const tiny = size === 'tiny';
  const sfx = tiny ? '_tiny' : '';
  return [
    {
      role: 'sparse_structure_flow_model',
      stem: `${CKPT_DIR}/ss_flow_img_dit_L_16l8_fp16${sfx}`,
      className: 'SparseStructureFlowModelMaskAsCondWeighted',
      args: { ...testSsFlowConfig(size) },
    },
    {
      role: 'sparse_structure_decoder',
      stem: `${CKPT_DIR}/ss_dec_conv3d_16l8_fp16${sfx}`,
      className: 'SparseStructureDecoder',
      args: { ...testSsDecoderConfig(size) },
    },
    {
      role: 'slat_flow_model',
      stem: `${CKPT_DIR}/slat_flow_img_dit_L_64l8p2_fp16${sfx}`,
      className: 'SLatFlowModelMaskAsCondWeighted',
      args: { ...testSlatFlowConfig(size) },
    },
    {
      role: 'slat_decoder_gs',
      stem: `${CKPT_DIR}/slat_dec_gs_swin8_B_64l8gs32_fp16${sfx}`,
      className: 'SLatGaussianDecoder',
      args: { ...testSlatDecoderConfig(size, { ...GS_REPRESENTATION_DEFAULTS }) },
    },
    {
      role: 'slat_decoder_mesh',
      stem: `${CKPT_DIR}/slat_dec_mesh_swin8_B_64l8m256c_fp16${sfx}`,
      className: 'SLatMeshDecoder',
      args: { ...testSlatDecoderConfig(size, { use_color: true }) },
    },
  ];
}

/** Stable 32-bit hash of a string (FNV-1a), to give each tensor its own random stream. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const TOKEN_PARAMS = new Set(['cls_token', 'register_tokens', 'mask_token', 'pos_embed']);
const TOKEN_STD = 0.02;
const BIAS_RANGE = 0.02;
/**
 * The flows' velocity heads (`out_layer.weight`, 0 in the official init) get 5% of the usual scale: a random
 * velocity of unit size, amplified by CFG (1 + 7.5), would swamp the noise, and the sampled latent would no longer
 * look like the standard-normal latents the occupancy calibration assumes.
 */
const VELOCITY_HEAD_SCALE = 0.05;

/**
 * Values of one randomly initialised parameter (see the file notes for the scheme).
 * @example
 * const w = initParameter('blocks.0.attn.qkv.weight', [3072, 1024], 0);
 */
export function initParameter(name: string, shape: readonly number[], seed: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const leaf = name.split('.').pop() ?? name;
  const rank1Scale = shape.length === 1 && leaf === 'weight';
  if (leaf === 'gamma' || rank1Scale) return out.fill(1);
  const rng = new Rng(seed, hash32(name));
  let half: number;
  if (TOKEN_PARAMS.has(name)) half = Math.sqrt(3) * TOKEN_STD;
  else if (leaf === 'bias') half = BIAS_RANGE;
  else {
    const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
    half = Math.sqrt(3 / Math.max(1, fanIn)) * (name === 'out_layer.weight' ? VELOCITY_HEAD_SCALE : 1);
  }
  for (let i = 0; i < n; i++) out[i] = (rng.nextU32() / 4294967296) * 2 * half - half;
  return out;
}

/** Fixed (non-learned) tensors a class stores, computed as the official module does. */
function fixedBuffers(className: string, args: Record<string, unknown>): Map<string, Float32Array> {
  const m = new Map<string, Float32Array>();
  if (className === 'SparseStructureFlowModelMaskAsCondWeighted')
    m.set('pos_emb', ssFlowPosEmb(args as unknown as SsFlowConfig));
  if (className === 'SLatGaussianDecoder') {
    // The official constructor fills this buffer from a Hammersley sequence (not learned, not random).
    const rep = args.representation_config as { num_gaussians: number; voxel_size: number };
    m.set('offset_perturbation', offsetPerturbation(rep.num_gaussians, rep.voxel_size));
  }
  return m;
}

/** f16-rounded copy (what an F16 file will give back). */
function roundTripF16(v: Float32Array): Float32Array {
  return roundToDType(Float32Array.from(v), 'f16');
}

type Stored = { shape: number[]; data: Float32Array };
type Packed = { shape: number[]; data: Float32Array | Uint16Array };

/** Every parameter of one checkpoint (fixed buffers, else seeded initialisation), through `convert`. */
function generateParameters<T>(
  expected: Map<string, number[]>,
  buffers: Map<string, Float32Array>,
  seed: number,
  convert: (raw: Float32Array) => T,
): Map<string, { shape: number[]; data: T }> {
  const out = new Map<string, { shape: number[]; data: T }>();
  for (const [name, shape] of expected)
    out.set(name, { shape, data: convert(buffers.get(name) ?? initParameter(name, shape, seed)) });
  return out;
}

/** All parameters as f32 values (f16-rounded when `fp16`), for models evaluated here. */
function generateWeights(
  expected: Map<string, number[]>,
  buffers: Map<string, Float32Array>,
  seed: number,
  fp16: boolean,
): Map<string, Stored> {
  return generateParameters(expected, buffers, seed, (raw) => (fp16 ? roundTripF16(raw) : raw));
}

/**
 * All parameters as they will be stored: f16 bits straight away for fp16 models, so a full-size checkpoint holds
 * 2 bytes per parameter in memory, not 4 (the 24-block flows have ~0.5 G parameters).
 */
function generatePacked(
  expected: Map<string, number[]>,
  buffers: Map<string, Float32Array>,
  seed: number,
  fp16: boolean,
): Map<string, Packed> {
  return generateParameters<Float32Array | Uint16Array>(expected, buffers, seed, (raw) =>
    fp16 ? packF16(raw) : raw,
  );
}

function toWritable(weights: Map<string, Packed>, fp16: boolean): Record<string, WritableTensor> {
  const rec: Record<string, WritableTensor> = {};
  for (const [k, t] of weights) {
    rec[k] =
      t.data instanceof Uint16Array
        ? { dtype: 'F16', shape: t.shape, data: t.data }
        : { dtype: fp16 ? 'F16' : 'F32', shape: t.shape, data: t.data };
  }
  return rec;
}

/** Seconds since `from` (to `to`, default now), one decimal, for the progress log. */
function seconds(from: number, to = performance.now()): string {
  return ((to - from) / 1000).toFixed(1);
}

/** Voxels per 64^3 grid that the calibrated decoder should mark on a standard-normal latent. */
export const TARGET_VOXELS: Readonly<Record<TestModelSize, number>> = { tiny: 500, full: 20000 };
/** Latents used for the calibration (their logits are pooled). */
const CALIBRATION_LATENTS = 1;

/**
 * Shifts `out_layer.2.bias` so the decoder marks ~`target` voxels per latent; returns the shift and the count
 * measured after the (f16-rounded) shift.
 */
async function calibrateDecoder(
  weights: Map<string, Stored>,
  config: SsDecoderConfig,
  gpu: GpuContext | null,
  seed: number,
  target: number,
  fp16: boolean,
  log: (m: string) => void,
): Promise<{ shift: number; voxels: number }> {
  const run = async (): Promise<Float32Array[]> => {
    // One decoder pass per latent; out_channels is 1 (occupancy), so the bias is a single value.
    const store = new MapWeightStore(weights, 'test-model SS decoder');
    const dec = await SparseStructureDecoder.load(store, config, { gpu });
    const g = new TorchGenerator(seed + 1);
    const outs: Float32Array[] = [];
    try {
      for (let i = 0; i < CALIBRATION_LATENTS; i++) {
        const z = Tensor.fromArray(
          g.randn([1, config.latent_channels, 16, 16, 16]),
          [1, config.latent_channels, 16, 16, 16],
          {
            gpu,
          },
        );
        const l = dec.forward(z);
        z.dispose();
        outs.push(await l.toArray());
        l.dispose();
      }
    } finally {
      dec.dispose();
    }
    return outs;
  };
  const t0 = performance.now();
  const logits = await run();
  log(`calibration decoder pass: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const pooled = new Float32Array(logits.reduce((a, l) => a + l.length, 0));
  let o = 0;
  for (const l of logits) {
    pooled.set(l, o);
    o += l.length;
  }
  for (const v of pooled) {
    if (!Number.isFinite(v))
      throw new Error('make-test-model: the random SS decoder produced non-finite logits');
  }
  pooled.sort();
  const k = Math.min(pooled.length - 1, target * CALIBRATION_LATENTS);
  // Threshold between the k-th and (k+1)-th largest logits.
  const q = 0.5 * (pooled[pooled.length - k] + pooled[pooled.length - 1 - k]);
  const bias = weights.get('out_layer.2.bias');
  if (!bias) throw new Error('make-test-model: SS decoder has no out_layer.2.bias');
  const shifted = bias.data.map((b) => b - q);
  const stored = fp16 ? roundTripF16(shifted) : shifted;
  // The output conv adds its bias last (in f32), so the shifted logits are the old ones plus the bias change.
  const delta = stored[0] - bias.data[0];
  bias.data = stored;
  const voxels = logits.reduce((a, l) => a + l.filter((v) => v + delta > 0).length, 0) / CALIBRATION_LATENTS;
  return { shift: -q, voxels };
}

export interface MakeTestModelOptions {
  config: TestModelSize;
  out: string;
  /** Seed of the weights (default 0). */
  seed?: number;
  /** GPU for the occupancy calibration (null = CPU). */
  gpu?: GpuContext | null;
  /** Replace an existing output folder. */
  force?: boolean;
  /** Voxels the calibrated SS decoder should mark (default {@link TARGET_VOXELS}). */
  targetVoxels?: number;
  /**
   * Run the occupancy calibration (default true). Off leaves the random bias: fast (no decoder pass), for tests
   * that only need the layout.
   */
  calibrate?: boolean;
  onLog?: (message: string) => void;
  /**
   * Cancels the run: checked between tensors' files (a checkpoint's generation itself is synchronous, up to a
   * minute at full size); the temporary folder is removed and the promise rejects with the signal's reason.
   */
  signal?: AbortSignal;
}

export interface MakeTestModelResult {
  dir: string;
  /** Checkpoints written, by role, with their parameter counts. */
  models: { role: ModelRole; stem: string; parameters: number }[];
  /** Roles left out because this build has no implementation for them. */
  skipped: { role: ModelRole; reason: string }[];
  dinov2Parameters: number;
  /** Shift added to the SS decoder's final bias, and voxels it marks per standard-normal latent afterwards. */
  calibration: { shift: number; voxels: number };
  seconds: number;
}

/**
 * Writes a random model directory. Written into a temporary sibling folder, renamed into place at the end.
 *
 * @example
 * const r = await makeTestModel({ config: 'tiny', out: 'models/tiny', seed: 0 });
 * const model = await openModelDir(r.dir);
 */
export async function makeTestModel(options: MakeTestModelOptions): Promise<MakeTestModelResult> {
  const t0 = performance.now();
  const size = options.config;
  if (size !== 'tiny' && size !== 'full')
    throw new Error(`make-test-model: --config must be tiny or full, got '${String(size)}'`);
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new Error(`make-test-model: seed must be a non-negative integer, got ${seed}`);
  const out = resolve(options.out);
  if (existsSync(out) && !options.force && (await readdir(out)).length > 0)
    throw new Error(`make-test-model: ${out} exists and is not empty; pass --force to replace it`);
  const log = options.onLog ?? (() => {});
  const gpu = options.gpu ?? null;
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}-${Date.now()}`);
  await mkdir(join(tmp, CKPT_DIR), { recursive: true });
  try {
    const models: MakeTestModelResult['models'] = [];
    const skipped: MakeTestModelResult['skipped'] = [];
    let calibration = { shift: 0, voxels: 0 };
    const listed: Record<string, string> = {};
    for (const spec of testModelSpecs(size)) {
      const shapesFn = expectedShapesFor(spec.className);
      if (!shapesFn) {
        skipped.push({ role: spec.role, reason: `${spec.className} is not implemented in this build` });
        log(`skipping ${spec.role}: ${spec.className} is not implemented in this build`);
        continue;
      }
      const fp16 = spec.args.use_fp16 === true;
      const tSpec = performance.now();
      const expected = shapesFn(spec.args);
      const buffers = fixedBuffers(spec.className, spec.args);
      const calibrate = spec.role === 'sparse_structure_decoder' && options.calibrate !== false;
      // Only the SS decoder runs here (calibration); it needs f32 values, the others go straight to f16 bits.
      const f32Weights = calibrate ? generateWeights(expected, buffers, seed, fp16) : null;
      const weights: Map<string, Packed> = f32Weights ?? generatePacked(expected, buffers, seed, fp16);
      if (f32Weights) {
        options.signal?.throwIfAborted();
        calibration = await calibrateDecoder(
          f32Weights,
          spec.args as unknown as SsDecoderConfig,
          gpu,
          seed,
          options.targetVoxels ?? TARGET_VOXELS[size],
          fp16,
          log,
        );
        log(
          `SS decoder bias shifted by ${calibration.shift.toFixed(4)}: ${calibration.voxels} voxels per random latent`,
        );
      }
      const parameters = [...weights.values()].reduce((a, t) => a + t.data.length, 0);
      const tWrite = performance.now();
      options.signal?.throwIfAborted();
      await writeSafetensors(join(tmp, `${spec.stem}.safetensors`), toWritable(weights, fp16), {
        format: 'pt',
      });
      await writeFile(
        join(tmp, `${spec.stem}.json`),
        `${JSON.stringify({ name: spec.className, args: spec.args }, null, 2)}\n`,
      );
      listed[spec.role] = spec.stem;
      models.push({ role: spec.role, stem: spec.stem, parameters });
      log(
        `wrote ${spec.stem} (${parameters} parameters, ${fp16 ? 'f16' : 'f32'}; generated in ${seconds(tSpec, tWrite)} s, written in ${seconds(tWrite)} s)`,
      );
    }
    const dcfg = testDinov2Config(size);
    const tDino = performance.now();
    const dino = generateWeights(dinov2ExpectedShapes(dcfg), new Map(), seed, false);
    await mkdir(join(tmp, DINOV2_SUBDIR));
    options.signal?.throwIfAborted();
    await writeSafetensors(join(tmp, DINOV2_SUBDIR, DINOV2_FILES.hubWeights), toWritable(dino, false), {
      format: 'pt',
    });
    await writeFile(
      join(tmp, DINOV2_SUBDIR, DINOV2_FILES.hubConfig),
      `${JSON.stringify({ args: dcfg }, null, 2)}\n`,
    );
    const dinov2Parameters = [...dino.values()].reduce((a, t) => a + t.data.length, 0);
    log(
      `wrote ${DINOV2_SUBDIR}/${DINOV2_FILES.hubWeights} (${dinov2Parameters} parameters, f32; ${seconds(tDino)} s)`,
    );
    const pipeline = {
      name: 'Amodal3RImageTo3DPipeline',
      args: {
        models: listed,
        sparse_structure_sampler: sampler(25, 7.5),
        slat_sampler: sampler(25, 3.0),
        slat_normalization: SLAT_NORMALIZATION,
        image_cond_model: 'dinov2_vitl14_reg',
      },
      test_model: { config: size, seed, note: 'random weights written by amodal3r make-test-model' },
    };
    await writeFile(join(tmp, PIPELINE_FILE), `${JSON.stringify(pipeline, null, 2)}\n`);
    options.signal?.throwIfAborted();
    if (existsSync(out)) await rm(out, { recursive: true, force: true });
    await mkdir(dirname(out), { recursive: true });
    await rename(tmp, out);
    return {
      dir: out,
      models,
      skipped,
      dinov2Parameters,
      calibration,
      seconds: (performance.now() - t0) / 1000,
    };
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
