/**
 * The transformer trunk shared by the three SLAT decoders (official `SparseTransformerBase`,
 * A:`amodal3r/models/structured_latent_vae/base.py`, ARCHITECTURE.md §f):
 *
 *   h = input_layer(x) + APE(coords)          # SparseLinear(8 -> C) and sin-cos APE, f32
 *   h -> model dtype                          # f16 with use_fp16
 *   num_blocks x [ h += attn(LN(h)); h += mlp(LN(h)) ]   # pre-LN (no affine, eps 1e-6), swin windows
 *
 * Block i attends inside windows of `window_size` voxels per axis, shifted by (window/2) * (i % 2) on all axes
 * (`attn_mode: 'swin'`); the MLP is Linear -> GELU(tanh) -> Linear. Only 'swin' and 'full' attention and the
 * 'ape' position embedding are supported (the released decoders use exactly those).
 *
 * Precision (use_fp16, §k): the block Linear weights and the residual stream are f16, LayerNorm statistics f32
 * (LayerNorm32: computed in f32, rounded once to the stream dtype), input layer and APE f32. `precision: 'f32'`
 * runs everything in f32 (what the parity fixtures use).
 *
 * Notes: the q/k/v split slices the fused [N, 3, H, D] projection (three copies of N*C values per block); a fused
 * kernel reading the packed projection directly would save them, not measured yet.
 */

import { absolutePositionEmbedding } from '../nn/embeddings.ts';
import { add, cast, concat, layerNorm, linear, slice } from '../nn/ops.ts';
import { checkWeights, type WeightStore } from '../nn/weights.ts';
import { RowIndex } from '../ops/layout/index.ts';
import { gatherRows } from '../ops/layout/rows.ts';
import type { DType } from '../runtime/dtype.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { Tensor } from '../runtime/tensor.ts';
import { type SparseAttentionMode, sparseSelfAttention } from '../sparse/attention.ts';
import type { SparseTensor } from '../sparse/sparse-tensor.ts';

/** eps of the decoders' final F.layer_norm (its default). */
const HEAD_LN_EPS = 1e-5;

const BLOCK_LN_EPS = 1e-6;

/** Constructor arguments of the official decoders (the `args` of the checkpoint's .json). */
export interface SlatDecoderConfig {
  resolution: number;
  model_channels: number;
  latent_channels: number;
  num_blocks: number;
  num_heads?: number | null;
  num_head_channels?: number;
  mlp_ratio?: number;
  attn_mode?: 'swin' | 'full' | 'shift_window' | 'shift_sequence' | 'shift_order';
  window_size?: number;
  pe_mode?: 'ape' | 'rope';
  use_fp16?: boolean;
  use_checkpoint?: boolean;
  qk_rms_norm?: boolean;
  representation_config?: Record<string, unknown>;
}

/** Defaults of the official constructors. */
export const SLAT_DECODER_DEFAULTS = {
  num_head_channels: 64,
  mlp_ratio: 4,
  attn_mode: 'swin',
  window_size: 8,
  pe_mode: 'ape',
  use_fp16: false,
  qk_rms_norm: false,
} as const;

/** The resolved trunk geometry. */
export interface SlatTrunkDims {
  res: number;
  inC: number;
  C: number;
  heads: number;
  headDim: number;
  hidden: number;
  blocks: number;
  attnMode: 'swin' | 'full';
  window: number;
}

/**
 * Resolves defaults and refuses configurations this port does not implement, naming every problem.
 * @example
 * const d = resolveSlatTrunk({ resolution: 64, model_channels: 768, latent_channels: 8, num_blocks: 12, num_heads: 12 });
 */
export function resolveSlatTrunk(c: SlatDecoderConfig, what = 'SLAT decoder'): SlatTrunkDims {
  const d = { ...SLAT_DECODER_DEFAULTS, ...c };
  const heads = d.num_heads ?? Math.floor(d.model_channels / d.num_head_channels);
  const problems: string[] = [];
  if (d.pe_mode !== 'ape') problems.push(`pe_mode '${d.pe_mode}' is not supported (only 'ape', as released)`);
  if (d.attn_mode !== 'swin' && d.attn_mode !== 'full')
    problems.push(`attn_mode '${d.attn_mode}' is not supported (only 'swin' and 'full')`);
  if (d.qk_rms_norm) problems.push('qk_rms_norm is not supported (the released decoders do not use it)');
  if (!(heads > 0) || d.model_channels % heads !== 0)
    problems.push(`model_channels ${d.model_channels} not divisible by ${heads} heads`);
  if (d.attn_mode === 'swin' && !(d.window_size > 0))
    problems.push(`window_size ${d.window_size} must be > 0`);
  if (problems.length) throw new Error(`${what} config: ${problems.join('; ')}`);
  return {
    res: d.resolution,
    inC: d.latent_channels,
    C: d.model_channels,
    heads,
    headDim: d.model_channels / heads,
    hidden: Math.floor(d.model_channels * d.mlp_ratio),
    blocks: d.num_blocks,
    attnMode: d.attn_mode as 'swin' | 'full',
    window: d.window_size,
  };
}

/** The trunk's state-dict keys -> shapes (input layer and blocks). */
export function slatTrunkExpectedShapes(d: SlatTrunkDims): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const { C } = d;
  m.set('input_layer.weight', [C, d.inC]);
  m.set('input_layer.bias', [C]);
  for (let i = 0; i < d.blocks; i++) {
    const b = `blocks.${i}`;
    m.set(`${b}.attn.to_qkv.weight`, [3 * C, C]);
    m.set(`${b}.attn.to_qkv.bias`, [3 * C]);
    m.set(`${b}.attn.to_out.weight`, [C, C]);
    m.set(`${b}.attn.to_out.bias`, [C]);
    m.set(`${b}.mlp.mlp.0.weight`, [d.hidden, C]);
    m.set(`${b}.mlp.mlp.0.bias`, [d.hidden]);
    m.set(`${b}.mlp.mlp.2.weight`, [C, d.hidden]);
    m.set(`${b}.mlp.mlp.2.bias`, [C]);
  }
  return m;
}

/** Options of every decoder's `load`. */
export interface SlatDecoderLoadOptions {
  gpu: GpuContext | null;
  /** 'auto' follows the config's use_fp16 (falling back to f32 without shader-f16). */
  precision?: 'auto' | 'f32' | 'f16';
}

/** The model dtype a load resolves to. */
export function slatModelDtype(config: SlatDecoderConfig, options: SlatDecoderLoadOptions): DType {
  const precision = options.precision ?? 'auto';
  const wantF16 = precision === 'f16' || (precision === 'auto' && !!config.use_fp16);
  return wantF16 && (!options.gpu || options.gpu.features.f16) ? 'f16' : 'f32';
}

/**
 * Checks every key and shape (one error listing all problems), then loads each tensor: those `inModelDtype` picks
 * (the modules `convert_to_fp16` converts) in the model dtype, the rest in f32.
 * @example
 * const w = await loadSlatWeights(store, expected, (k) => k.startsWith('blocks.'), gpu, 'f16', 'SLatGaussianDecoder');
 */
export async function loadSlatWeights(
  store: WeightStore,
  expected: ReadonlyMap<string, readonly number[]>,
  inModelDtype: (name: string) => boolean,
  gpu: GpuContext | null,
  dtype: DType,
  what: string,
  /** The full key table to check (defaults to `expected`; a superset when some keys are read on the CPU). */
  check: ReadonlyMap<string, readonly number[]> = expected,
): Promise<Map<string, Tensor>> {
  checkWeights(store, check, what);
  const w = new Map<string, Tensor>();
  for (const name of expected.keys()) {
    w.set(name, await store.load(name, { gpu, dtype: inModelDtype(name) ? dtype : 'f32' }));
  }
  return w;
}

/** Block Linear layers (converted by `convert_to_fp16`). */
export const TRUNK_F16_KEY = /^blocks\.\d+\.(attn\.to_(qkv|out)|mlp\.mlp\.[02])\./;

/**
 * The trunk's absolute position embedding [N, C] (f32) on x's device. Every row is three [sin | cos] blocks, one
 * per axis, each a function of that axis's integer coordinate alone: the blocks for the values 0..max are
 * computed once (with `absolutePositionEmbedding` itself, so the float32 values are the same) and gathered per
 * (voxel, axis) on the device. The gather index is cached on the coordinates.
 * @example
 * const ape = slatPositionEmbedding(x, 768); // [N, 768] f32 on x's device
 *
 * Alternative (the previous code): the whole [N, C] on the CPU and one upload per call. At the released size (20,256 voxels x 768) that is 15.6M
 * sin/cos plus a 62 MiB array and upload per decoder call (~0.3 s CPU on a loaded 2-core box, most of it
 * first-touching the array); the gather moves 62 MiB on the GPU instead (~0.1 ms on an H100).
 */
export function slatPositionEmbedding(x: SparseTensor, C: number): Tensor {
  const n = x.n;
  const gpu = x.feats.gpu;
  const freqDim = Math.floor(Math.floor(C / 3) / 2);
  if (freqDim === 0) return Tensor.zeros([n, C], { gpu }); // C < 6: all padding
  const index = x.cached('ape.axisRows', () => {
    const idx = new Int32Array(n * 3);
    let max = 0;
    for (let i = 0; i < n; i++) {
      for (let a = 0; a < 3; a++) {
        const c = x.coords[4 * i + 1 + a];
        idx[3 * i + a] = c;
        if (c > max) max = c;
      }
    }
    const rows = RowIndex.from(idx);
    return { rows, distinct: max + 1, dispose: () => rows.dispose() };
  });
  // Rows (c, c, c) for c = 0..max: their first block is [sin | cos] of c.
  const D = index.distinct;
  const probe = new Int32Array(D * 3);
  for (let c = 0; c < D; c++) probe.fill(c, 3 * c, 3 * c + 3);
  const full = absolutePositionEmbedding(probe, C);
  const block = new Float32Array(D * 2 * freqDim);
  for (let c = 0; c < D; c++) block.set(full.subarray(c * C, c * C + 2 * freqDim), c * 2 * freqDim);
  const table = Tensor.fromArray(block, [D, 2 * freqDim], { gpu });
  const body = gatherRows(table, index.rows).reshape([n, 6 * freqDim]);
  table.dispose();
  if (C === 6 * freqDim) return body;
  // C not a multiple of 6: the embedding ends in C - 6 freqDim (< 6) zero channels.
  const pad = Tensor.zeros([n, C - 6 * freqDim], { gpu });
  const ape = concat([body, pad], 1);
  body.dispose();
  pad.dispose();
  return ape;
}

interface BlockWeights {
  qkv: Tensor;
  qkvB: Tensor;
  out: Tensor;
  outB: Tensor;
  fc1: Tensor;
  fc1B: Tensor;
  fc2: Tensor;
  fc2B: Tensor;
}

/**
 * The `SparseTransformerBase` forward over loaded weights (the decoders own the weight map and dispose it).
 * @example
 * const trunk = new SlatTrunk(dims, weights, 'f16');
 * const h = trunk.forward(x); // x: SparseTensor [N, 8] f32 -> [N, C] in the model dtype
 */
export class SlatTrunk {
  readonly dims: SlatTrunkDims;
  readonly dtype: DType;
  private readonly w: ReadonlyMap<string, Tensor>;
  private readonly blocks: BlockWeights[] = [];

  constructor(dims: SlatTrunkDims, weights: ReadonlyMap<string, Tensor>, dtype: DType) {
    this.dims = dims;
    this.dtype = dtype;
    this.w = weights;
    for (let i = 0; i < dims.blocks; i++) {
      const b = `blocks.${i}`;
      this.blocks.push({
        qkv: this.weight(`${b}.attn.to_qkv.weight`),
        qkvB: this.weight(`${b}.attn.to_qkv.bias`),
        out: this.weight(`${b}.attn.to_out.weight`),
        outB: this.weight(`${b}.attn.to_out.bias`),
        fc1: this.weight(`${b}.mlp.mlp.0.weight`),
        fc1B: this.weight(`${b}.mlp.mlp.0.bias`),
        fc2: this.weight(`${b}.mlp.mlp.2.weight`),
        fc2B: this.weight(`${b}.mlp.mlp.2.bias`),
      });
    }
  }

  weight(name: string): Tensor {
    const t = this.w.get(name);
    if (!t) throw new Error(`SLAT decoder: weight ${name} was not loaded`);
    return t;
  }

  /** Attention mode of block i (official `block_attn_config` for 'swin': shift = window/2 on odd blocks). */
  attnMode(i: number): SparseAttentionMode {
    const { attnMode, window } = this.dims;
    if (attnMode === 'full') return { kind: 'full' };
    return { kind: 'swin', window, shift: Math.floor(window / 2) * (i % 2) };
  }

  /**
   * The Gaussian and radiance-field decoders' head: trunk, then (in f32) a parameter-free LayerNorm (eps 1e-5)
   * and `out_layer`. Returns the raw [N, out] f32 output in x's row order.
   */
  forwardHead(x: SparseTensor): Tensor {
    const h = this.forward(x);
    const h32 = h.feats.dtype === 'f32' ? h.feats : cast(h.feats, 'f32');
    if (h32 !== h.feats) h.feats.dispose();
    const hn = layerNorm(h32, { eps: HEAD_LN_EPS });
    h32.dispose();
    const out = linear(hn, this.weight('out_layer.weight'), this.weight('out_layer.bias'));
    hn.dispose();
    return out;
  }

  /** Input layer + APE (f32), cast to the model dtype, then the blocks. Returns [N, C] in the model dtype. */
  forward(x: SparseTensor): SparseTensor {
    const { C, heads, headDim, inC } = this.dims;
    if (x.channels !== inC) {
      throw new Error(
        `SLAT decoder: input has ${x.channels} channels, the model expects ${inC} (latent_channels)`,
      );
    }
    const n = x.n;
    const feats32 = x.feats.dtype === 'f32' ? x.feats : cast(x.feats, 'f32');
    const h0 = linear(feats32, this.weight('input_layer.weight'), this.weight('input_layer.bias'));
    if (feats32 !== x.feats) feats32.dispose();
    const ape = slatPositionEmbedding(x, C);
    const h1 = add(h0, ape);
    h0.dispose();
    ape.dispose();
    let h = this.dtype === 'f32' ? h1 : cast(h1, this.dtype);
    if (h !== h1) h1.dispose();
    for (let i = 0; i < this.blocks.length; i++) {
      const blk = this.blocks[i];
      // attention
      let nrm = layerNorm(h, { eps: BLOCK_LN_EPS });
      const qkv = linear(nrm, blk.qkv, blk.qkvB).reshape([n, 3, heads, headDim]);
      nrm.dispose();
      const part = (j: number) => slice(qkv, 1, j, j + 1).reshape([n, heads, headDim]);
      const q = part(0);
      const k = part(1);
      const v = part(2);
      qkv.dispose();
      const o = sparseSelfAttention(q, k, v, x, this.attnMode(i));
      for (const t of [q, k, v]) t.dispose();
      let a = linear(o.reshape([n, C]), blk.out, blk.outB);
      o.dispose();
      let next = add(h, a);
      a.dispose();
      h.dispose();
      h = next;
      // MLP
      nrm = layerNorm(h, { eps: BLOCK_LN_EPS });
      const m1 = linear(nrm, blk.fc1, blk.fc1B, { activation: 'gelu_tanh' });
      nrm.dispose();
      a = linear(m1, blk.fc2, blk.fc2B);
      m1.dispose();
      next = add(h, a);
      a.dispose();
      h.dispose();
      h = next;
    }
    return x.withFeats(h);
  }
}
