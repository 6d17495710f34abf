/**
 * Stage 1: Amodal3R's sparse-structure flow transformer (`SparseStructureFlowModelMaskAsCondWeighted`).
 *
 * Dense DiT over the (R/p)^3 tokens of an 8-channel R^3 latent: timestep embedding, APE, N blocks of
 * [adaLN self-attention with qk-RMSNorm] -> [affine-LN + mask-weighted cross-attention to the 1374 DINOv2 tokens]
 * -> [LN + occlusion cross-attention to the 1369 occlusion-ratio tokens] -> [adaLN GELU-tanh MLP], output head.
 * ARCHITECTURE.md §c; op order and rounding points follow the official module.
 *
 * Precision: with `use_fp16` the official code keeps the timestep MLP, input/output layers and norms in f32 and
 * runs the block Linear layers and the residual stream in f16 (§k). `precision: 'f16'` does the same here.
 */

import { absolutePositionEmbedding, gridCoords } from '../nn/embeddings.ts';
import {
  denseSelfAttention,
  disposeLoadedFlow,
  type FlowLoadOptions,
  flowBlockKeys,
  flowBlockStack,
  flowHeadKeys,
  flowTimeEmbedding,
  type LoadedFlow,
  loadFlowWeights,
} from '../nn/flow-block.ts';
import { add, cast, layerNorm, linear, permute, silu } from '../nn/ops.ts';
import type { WeightStore } from '../nn/weights.ts';
import { type DType, roundF16 } from '../runtime/dtype.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { Tensor } from '../runtime/tensor.ts';
import { disposeOcclusionStats, type OcclusionStats, occlusionStats } from './flow-shortcuts.ts';

/** Condition tokens: DINOv2 (1 CLS + 4 registers + 37x37 patches) + visibility + occlusion. */
export const COND_IMAGE_TOKENS = 1374;
export const COND_PATCHES = 1369;
export const COND_SPECIAL_TOKENS = 5;
export const COND_TOKENS = COND_IMAGE_TOKENS + 2 * COND_PATCHES;
/** The mask tokens are hard-coded to 1024 channels in the official pipeline (`repeat(1, 1, 1024)`). */
export const COND_CHANNELS = 1024;
/** eps inside log(w + eps) of the mask-weighted attention. */
export const MASK_BIAS_EPS = 1e-6;
const FINAL_LN_EPS = 1e-5;

/** Constructor arguments of the official class (the `args` of the checkpoint's .json). */
export interface SsFlowConfig {
  resolution: number;
  in_channels: number;
  model_channels: number;
  cond_channels: number;
  out_channels: number;
  num_blocks: number;
  num_heads?: number | null;
  num_head_channels?: number;
  mlp_ratio?: number;
  patch_size?: number;
  pe_mode?: 'ape' | 'rope';
  use_fp16?: boolean;
  share_mod?: boolean;
  qk_rms_norm?: boolean;
  qk_rms_norm_cross?: boolean;
  use_checkpoint?: boolean;
  mask_cond_type?: string;
}

/** Defaults of the official constructor. */
export const SS_FLOW_CONFIG_DEFAULTS = {
  num_head_channels: 64,
  mlp_ratio: 4,
  patch_size: 2,
  pe_mode: 'ape',
  use_fp16: false,
  share_mod: false,
  qk_rms_norm: false,
  qk_rms_norm_cross: false,
} as const;

interface Resolved {
  res: number;
  inC: number;
  outC: number;
  C: number;
  heads: number;
  headDim: number;
  hidden: number;
  p: number;
  blocks: number;
  shareMod: boolean;
  qkRms: boolean;
  qkRmsCross: boolean;
  tokens: number;
}

export function resolveSsFlowConfig(c: SsFlowConfig): Resolved {
  const d = { ...SS_FLOW_CONFIG_DEFAULTS, ...c };
  const heads = d.num_heads ?? Math.floor(d.model_channels / d.num_head_channels);
  const problems: string[] = [];
  if (d.pe_mode !== 'ape') problems.push(`pe_mode '${d.pe_mode}' is not supported (only 'ape', as released)`);
  if (d.cond_channels !== COND_CHANNELS)
    problems.push(`cond_channels must be ${COND_CHANNELS}, got ${d.cond_channels}`);
  if (d.model_channels % heads !== 0)
    problems.push(`model_channels ${d.model_channels} not divisible by ${heads} heads`);
  if (d.resolution % d.patch_size !== 0)
    problems.push(`resolution ${d.resolution} not divisible by patch ${d.patch_size}`);
  if (problems.length)
    throw new Error(`SparseStructureFlowModelMaskAsCondWeighted config: ${problems.join('; ')}`);
  const p = d.patch_size;
  return {
    res: d.resolution,
    inC: d.in_channels,
    outC: d.out_channels,
    C: d.model_channels,
    heads,
    headDim: d.model_channels / heads,
    hidden: Math.floor(d.model_channels * d.mlp_ratio),
    p,
    blocks: d.num_blocks,
    shareMod: d.share_mod,
    qkRms: d.qk_rms_norm,
    qkRmsCross: d.qk_rms_norm_cross,
    tokens: (d.resolution / p) ** 3,
  };
}

/** The exact state-dict key -> shape table of the official module. */
export function ssFlowExpectedShapes(config: SsFlowConfig): Map<string, number[]> {
  const r = resolveSsFlowConfig(config);
  const { C, p } = r;
  const m = new Map<string, number[]>();
  m.set('pos_emb', [r.tokens, C]);
  flowHeadKeys(m, C, r.shareMod);
  m.set('input_layer.weight', [C, r.inC * p ** 3]);
  m.set('input_layer.bias', [C]);
  for (let i = 0; i < r.blocks; i++) flowBlockKeys(m, `blocks.${i}`, r);
  m.set('out_layer.weight', [r.outC * p ** 3, C]);
  m.set('out_layer.bias', [r.outC * p ** 3]);
  return m;
}

/** One view's condition, prepared once and reused at every sampling step. */
export interface FlowCondition {
  /** DINOv2 tokens [1, 1374, 1024] in the model dtype. */
  tokens: Tensor;
  /** log(w + 1e-6) per condition token [1, 1374] (CLS + registers weight 1), in the model dtype's rounding. */
  keyBias: Tensor;
  /** Occlusion-ratio tokens [1, 1369, 1024] in the model dtype. */
  occ: Tensor;
  /** True for the all-zero (unconditional) condition: the cross-attentions reduce to constants. */
  isZero: boolean;
  /** Distinct occlusion ratios and counts (rank-1 occlusion attention). */
  occStats: OcclusionStats;
  /** Per-model caches of the condition's cross-attention keys/values (same at every step); freed with the condition. */
  cache: Map<object, Tensor[]>;
}

/**
 * Splits a [1, 4112, 1024] condition (as `get_cond_w_masks` builds it) into a `FlowCondition`: the mask-weight
 * bias is computed on the CPU with the official rounding (fp16 model: w, w + eps and log each rounded to f16).
 */
export function prepareFlowCondition(
  cond: Float32Array,
  gpu: GpuContext | null,
  dtype: DType,
): FlowCondition {
  if (cond.length !== COND_TOKENS * COND_CHANNELS) {
    throw new Error(`flow condition: expected ${COND_TOKENS}x${COND_CHANNELS} values, got ${cond.length}`);
  }
  const r = dtype === 'f16' ? roundF16 : Math.fround;
  const bias = new Float32Array(COND_IMAGE_TOKENS);
  for (let j = 0; j < COND_IMAGE_TOKENS; j++) {
    const w =
      j < COND_SPECIAL_TOKENS ? 1 : r(cond[(COND_IMAGE_TOKENS + j - COND_SPECIAL_TOKENS) * COND_CHANNELS]);
    bias[j] = r(Math.log(r(w + Math.fround(MASK_BIAS_EPS))));
  }
  const tokens = Tensor.fromArray(
    cond.subarray(0, COND_IMAGE_TOKENS * COND_CHANNELS),
    [1, COND_IMAGE_TOKENS, COND_CHANNELS],
    { gpu, dtype },
  );
  const occ = Tensor.fromArray(
    cond.subarray((COND_IMAGE_TOKENS + COND_PATCHES) * COND_CHANNELS),
    [1, COND_PATCHES, COND_CHANNELS],
    { gpu, dtype },
  );
  const ratios = new Float32Array(COND_PATCHES);
  for (let j = 0; j < COND_PATCHES; j++)
    ratios[j] = cond[(COND_IMAGE_TOKENS + COND_PATCHES + j) * COND_CHANNELS];
  return {
    tokens,
    keyBias: Tensor.fromArray(bias, [1, COND_IMAGE_TOKENS], { gpu, dtype }),
    occ,
    isZero: cond.every((v) => v === 0),
    occStats: occlusionStats(ratios, dtype, gpu),
    cache: new Map(),
  };
}

export function disposeFlowCondition(c: FlowCondition): void {
  c.tokens.dispose();
  c.keyBias.dispose();
  c.occ.dispose();
  disposeOcclusionStats(c.occStats);
  for (const ts of c.cache.values()) for (const t of ts) t.dispose();
  c.cache.clear();
}

/** Block Linear weights/biases go to the model dtype (convert_module_to_f16); norms and RMS gammas stay f32. */
const MODEL_DTYPE_KEY =
  /^blocks\.\d+\.(adaLN_modulation\.1|self_attn\.to_|cross_attn(_mask)?\.to_|mlp\.mlp\.)/;

/** Load options (shared with the other flow model). */
export type SsFlowLoadOptions = FlowLoadOptions;

export class SparseStructureFlow {
  readonly config: SsFlowConfig;
  readonly r: Resolved;
  readonly gpu: GpuContext | null;
  /** dtype of the block weights and the residual stream. */
  readonly dtype: DType;
  /** Weights, transformer blocks and shortcut constants. */
  private readonly core: LoadedFlow;
  private readonly weight: (name: string) => Tensor;

  private constructor(config: SsFlowConfig, gpu: GpuContext | null, loaded: LoadedFlow) {
    this.core = loaded;
    this.config = config;
    this.r = resolveSsFlowConfig(config);
    this.gpu = gpu;
    this.dtype = loaded.dtype;
    this.weight = loaded.get;
  }

  /**
   * Checks every key and shape, then loads the weights one tensor at a time.
   * @example
   * const flow = await SparseStructureFlow.load(store, json.args, { gpu });
   */
  static async load(
    store: WeightStore,
    config: SsFlowConfig,
    options: SsFlowLoadOptions,
  ): Promise<SparseStructureFlow> {
    const r = resolveSsFlowConfig(config);
    const loaded = await loadFlowWeights(
      store,
      ssFlowExpectedShapes(config),
      'SparseStructureFlowModelMaskAsCondWeighted',
      config.use_fp16,
      options,
      MODEL_DTYPE_KEY,
      r,
    );
    return new SparseStructureFlow(config, options.gpu, loaded);
  }

  dispose(): void {
    disposeLoadedFlow(this.core);
  }

  /** [B, Cin, R, R, R] -> [B, L, Cin p^3] (official patchify + flatten + transpose). */
  private async toTokens(x: Tensor): Promise<Tensor> {
    const { p, inC, res } = this.r;
    const B = x.shape[0];
    if (p === 1) return permute(x.reshape([B, inC, res ** 3]), [0, 2, 1]);
    // Patch sizes > 1 need a rank-8 permutation: done on the CPU (the latent is only B*8*R^3 values).
    const v = await x.toArray();
    const q = res / p;
    const out = new Float32Array(v.length);
    const cp = inC * p ** 3;
    for (let b = 0; b < B; b++)
      for (let c = 0; c < inC; c++)
        for (let z0 = 0; z0 < res; z0++)
          for (let y0 = 0; y0 < res; y0++)
            for (let x0 = 0; x0 < res; x0++) {
              const tok = (Math.floor(z0 / p) * q + Math.floor(y0 / p)) * q + Math.floor(x0 / p);
              const ch = c * p ** 3 + ((z0 % p) * p + (y0 % p)) * p + (x0 % p);
              out[(b * q ** 3 + tok) * cp + ch] = v[(((b * inC + c) * res + z0) * res + y0) * res + x0];
            }
    return Tensor.fromArray(out, [B, q ** 3, cp], { gpu: this.gpu });
  }

  /** Inverse of toTokens for the output channels. */
  private async fromTokens(h: Tensor): Promise<Tensor> {
    const { p, outC, res } = this.r;
    const B = h.shape[0];
    if (p === 1) {
      const t = permute(h, [0, 2, 1]);
      return t.reshape([B, outC, res, res, res]);
    }
    const v = await h.toArray();
    const q = res / p;
    const out = new Float32Array(v.length);
    const cp = outC * p ** 3;
    for (let b = 0; b < B; b++)
      for (let c = 0; c < outC; c++)
        for (let z0 = 0; z0 < res; z0++)
          for (let y0 = 0; y0 < res; y0++)
            for (let x0 = 0; x0 < res; x0++) {
              const tok = (Math.floor(z0 / p) * q + Math.floor(y0 / p)) * q + Math.floor(x0 / p);
              const ch = c * p ** 3 + ((z0 % p) * p + (y0 % p)) * p + (x0 % p);
              out[(((b * outC + c) * res + z0) * res + y0) * res + x0] = v[(b * q ** 3 + tok) * cp + ch];
            }
    return Tensor.fromArray(out, [B, outC, res, res, res], { gpu: this.gpu });
  }

  /**
   * Predicted velocity for latent `x` [B, 8, R, R, R] (f32) at model time `t1000` (= 1000 t) given one view's
   * condition (batch 1, broadcast over B).
   */
  async forward(x: Tensor, t1000: number, cond: FlowCondition): Promise<Tensor> {
    const { res, inC } = this.r;
    const B = x.shape[0];
    if (x.rank !== 5 || x.shape[1] !== inC || x.shape.slice(2).some((d) => d !== res)) {
      throw new Error(
        `SparseStructureFlow.forward: x must be [B, ${inC}, ${res}, ${res}, ${res}], got [${x.shape.join(', ')}]`,
      );
    }
    if (B !== 1 && cond.tokens.shape[0] !== B)
      throw new Error('SparseStructureFlow.forward: batch > 1 needs a condition per batch item');
    const tokens = await this.toTokens(x);
    const h0 = linear(tokens, this.weight('input_layer.weight'), this.weight('input_layer.bias'));
    tokens.dispose();
    const h1 = add(h0, this.weight('pos_emb'));
    h0.dispose();
    const temb32 = flowTimeEmbedding(this.weight, t1000, B, this.gpu);
    const temb = this.dtype === 'f32' ? temb32 : cast(temb32, this.dtype);
    let h = this.dtype === 'f32' ? h1 : cast(h1, this.dtype);
    if (h !== h1) h1.dispose();
    // adaLN_modulation = Sequential(SiLU, Linear): SiLU on the model-dtype embedding.
    const tSilu = silu(temb);
    h = flowBlockStack(h, tSilu, cond, this.core, {
      heads: this.r.heads,
      shareMod: this.r.shareMod,
      selfAttention: denseSelfAttention,
    });
    tSilu.dispose();
    if (temb !== temb32) temb.dispose();
    temb32.dispose();
    const h32 = this.dtype === 'f32' ? h : cast(h, 'f32');
    if (h32 !== h) h.dispose();
    const hn = layerNorm(h32, { eps: FINAL_LN_EPS });
    h32.dispose();
    const out = linear(hn, this.weight('out_layer.weight'), this.weight('out_layer.bias'));
    hn.dispose();
    const v = await this.fromTokens(out);
    out.dispose();
    return v;
  }
}

/** The APE buffer of the official constructor (for building test checkpoints; official files store it). */
export function ssFlowPosEmb(config: SsFlowConfig): Float32Array {
  const r = resolveSsFlowConfig(config);
  return absolutePositionEmbedding(gridCoords(r.res / r.p), r.C);
}
