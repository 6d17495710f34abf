/**
 * The transformer block shared by Amodal3R's two flow models (stage 1 `SparseStructureFlowModelMaskAsCondWeighted`,
 * stage 2 `SLatFlowModelMaskAsCondWeighted`; ARCHITECTURE.md §c, §e): its state-dict keys, weights, the
 * cross-attention, the dense self-attention, the timestep-embedding MLP and the block op order
 * [adaLN self-attention] -> [affine-LN + mask-weighted cross-attention] -> [LN + occlusion cross-attention]
 * -> [adaLN GELU-tanh MLP].
 *
 * Notes: the self-attention is a parameter of `flowBlock` so a model can substitute its own; both models pass
 * `denseSelfAttention` today (stage 2 runs batch 1, where full attention over the voxels is one dense sequence,
 * the same as the official flash-attn varlen call). The exact shortcuts of flow-shortcuts.ts (constant
 * cross-attentions for the all-zero condition, rank-1 occlusion attention, cached condition keys/values) are
 * applied here, so both models get them; the rank-1 path needs the occlusion attention without qk-RMSNorm.
 */

import {
  type BlockShortcuts,
  blockShortcuts,
  type CrossAttnArrays,
  type CrossAttnBiasArrays,
  disposeBlockShortcuts,
  occlusionAttentionRank1,
} from '../models/flow-shortcuts.ts';
import type { FlowCondition } from '../models/ss-flow.ts';
import type { DType } from '../runtime/dtype.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { Tensor } from '../runtime/tensor.ts';
import { timestepEmbedding } from './embeddings.ts';
import {
  add,
  attention,
  gatedResidual,
  layerNorm,
  linear,
  modulatedLayerNorm,
  multiHeadRmsNorm,
  slice,
} from './ops.ts';
import { checkWeights, type WeightStore } from './weights.ts';

/** LayerNorm eps inside the blocks (official `eps=1e-6`). */
export const FLOW_BLOCK_LN_EPS = 1e-6;
/** Width of the sinusoidal timestep features fed to `t_embedder`. */
export const FLOW_FREQ_DIM = 256;
/** Channels of the condition tokens (the flow's `cond_channels`). */
const CTX_CHANNELS = 1024;

/** Weights of one attention layer: `qkv` for self-attention, `q` + `kv` for cross-attention. */
export interface AttnWeights {
  qkv?: Tensor;
  qkvB?: Tensor;
  q?: Tensor;
  qB?: Tensor;
  kv?: Tensor;
  kvB?: Tensor;
  qGamma?: Tensor;
  kGamma?: Tensor;
  out: Tensor;
  outB: Tensor;
}

/** Weights of one flow transformer block. */
export interface FlowBlockWeights {
  ada?: Tensor;
  adaB?: Tensor;
  norm2W: Tensor;
  norm2B: Tensor;
  self: AttnWeights;
  cross: AttnWeights;
  crossMask: AttnWeights;
  fc1: Tensor;
  fc1B: Tensor;
  fc2: Tensor;
  fc2B: Tensor;
}

/** Widths and flags that fix a block's key table. */
export interface FlowBlockDims {
  C: number;
  heads: number;
  hidden: number;
  shareMod: boolean;
  qkRms: boolean;
  qkRmsCross: boolean;
}

/**
 * Adds the state-dict keys and shapes of one attention layer under `prefix`.
 * @example
 * attnExpectedKeys(m, 'blocks.0.cross_attn', 1024, 1024, false, false, 16); // to_q, to_kv, to_out
 */
export function attnExpectedKeys(
  out: Map<string, number[]>,
  prefix: string,
  C: number,
  ctx: number,
  self: boolean,
  rms: boolean,
  heads: number,
): void {
  if (self) {
    out.set(`${prefix}.to_qkv.weight`, [3 * C, C]);
    out.set(`${prefix}.to_qkv.bias`, [3 * C]);
  } else {
    out.set(`${prefix}.to_q.weight`, [C, C]);
    out.set(`${prefix}.to_q.bias`, [C]);
    out.set(`${prefix}.to_kv.weight`, [2 * C, ctx]);
    out.set(`${prefix}.to_kv.bias`, [2 * C]);
  }
  if (rms) {
    out.set(`${prefix}.q_rms_norm.gamma`, [heads, C / heads]);
    out.set(`${prefix}.k_rms_norm.gamma`, [heads, C / heads]);
  }
  out.set(`${prefix}.to_out.weight`, [C, C]);
  out.set(`${prefix}.to_out.bias`, [C]);
}

/**
 * Adds the keys of the timestep MLP (`t_embedder.mlp.{0,2}`) and, with share_mod, the shared adaLN Linear.
 * @example
 * flowHeadKeys(m, 1024, false);
 */
export function flowHeadKeys(out: Map<string, number[]>, C: number, shareMod: boolean): void {
  out.set('t_embedder.mlp.0.weight', [C, FLOW_FREQ_DIM]);
  out.set('t_embedder.mlp.0.bias', [C]);
  out.set('t_embedder.mlp.2.weight', [C, C]);
  out.set('t_embedder.mlp.2.bias', [C]);
  if (shareMod) {
    out.set('adaLN_modulation.1.weight', [6 * C, C]);
    out.set('adaLN_modulation.1.bias', [6 * C]);
  }
}

/**
 * Adds the keys and shapes of block `prefix` (e.g. 'blocks.3').
 * @example
 * flowBlockKeys(m, 'blocks.0', { C: 1024, heads: 16, hidden: 4096, shareMod: false, qkRms: true, qkRmsCross: false });
 */
export function flowBlockKeys(out: Map<string, number[]>, prefix: string, d: FlowBlockDims): void {
  const { C } = d;
  if (!d.shareMod) {
    out.set(`${prefix}.adaLN_modulation.1.weight`, [6 * C, C]);
    out.set(`${prefix}.adaLN_modulation.1.bias`, [6 * C]);
  }
  out.set(`${prefix}.norm2.weight`, [C]);
  out.set(`${prefix}.norm2.bias`, [C]);
  attnExpectedKeys(out, `${prefix}.self_attn`, C, C, true, d.qkRms, d.heads);
  attnExpectedKeys(out, `${prefix}.cross_attn`, C, CTX_CHANNELS, false, d.qkRmsCross, d.heads);
  attnExpectedKeys(out, `${prefix}.cross_attn_mask`, C, CTX_CHANNELS, false, d.qkRmsCross, d.heads);
  out.set(`${prefix}.mlp.mlp.0.weight`, [d.hidden, C]);
  out.set(`${prefix}.mlp.mlp.0.bias`, [d.hidden]);
  out.set(`${prefix}.mlp.mlp.2.weight`, [C, d.hidden]);
  out.set(`${prefix}.mlp.mlp.2.bias`, [C]);
}

/**
 * Collects one attention layer's loaded weights; `get` throws for a missing key, optional ones use `map.get`.
 * @example
 * const a = attnWeights(get, w, 'blocks.0.self_attn', true);
 */
export function attnWeights(
  get: (k: string) => Tensor,
  w: ReadonlyMap<string, Tensor>,
  prefix: string,
  self: boolean,
): AttnWeights {
  const p = prefix;
  return {
    ...(self
      ? { qkv: get(`${p}.to_qkv.weight`), qkvB: get(`${p}.to_qkv.bias`) }
      : {
          q: get(`${p}.to_q.weight`),
          qB: get(`${p}.to_q.bias`),
          // Optional: the occlusion attention's is not loaded when the rank-1 shortcut replaces it.
          kv: w.get(`${p}.to_kv.weight`),
          kvB: get(`${p}.to_kv.bias`),
        }),
    qGamma: w.get(`${p}.q_rms_norm.gamma`),
    kGamma: w.get(`${p}.k_rms_norm.gamma`),
    out: get(`${p}.to_out.weight`),
    outB: get(`${p}.to_out.bias`),
  };
}

/**
 * Collects block `prefix`'s loaded weights.
 * @example
 * const blk = flowBlockWeights(get, w, 'blocks.0');
 */
export function flowBlockWeights(
  get: (k: string) => Tensor,
  w: ReadonlyMap<string, Tensor>,
  prefix: string,
): FlowBlockWeights {
  const b = prefix;
  return {
    ada: w.get(`${b}.adaLN_modulation.1.weight`),
    adaB: w.get(`${b}.adaLN_modulation.1.bias`),
    norm2W: get(`${b}.norm2.weight`),
    norm2B: get(`${b}.norm2.bias`),
    self: attnWeights(get, w, `${b}.self_attn`, true),
    cross: attnWeights(get, w, `${b}.cross_attn`, false),
    crossMask: attnWeights(get, w, `${b}.cross_attn_mask`, false),
    fc1: get(`${b}.mlp.mlp.0.weight`),
    fc1B: get(`${b}.mlp.mlp.0.bias`),
    fc2: get(`${b}.mlp.mlp.2.weight`),
    fc2B: get(`${b}.mlp.mlp.2.bias`),
  };
}

/**
 * Multi-head cross-attention of `h` [B, L, C] to `ctx` [B, Lk, Cctx] (to_q, to_kv, optional qk-RMSNorm, optional
 * additive key bias [B, Lk], to_out). `ctxKv` = a precomputed to_kv(ctx) (not disposed here).
 * @example
 * const a = crossAttention(n, cond.tokens, blk.cross, 16, cond.keyBias);
 */
export function crossAttention(
  h: Tensor,
  ctx: Tensor,
  a: AttnWeights,
  heads: number,
  keyBias: Tensor | null,
  ctxKv?: Tensor,
): Tensor {
  const [B, L, C] = h.shape;
  const headDim = C / heads;
  const Lk = ctx.shape[1];
  if (!a.q || !a.qB || !a.kv || !a.kvB)
    throw new Error(`crossAttention: the layer has no to_q/to_kv weights (h [${h.shape.join(', ')}])`);
  const q = linear(h, a.q, a.qB).reshape([B, L, heads, headDim]);
  const kv = ctxKv ?? linear(ctx, a.kv, a.kvB);
  const kv5 = kv.reshape([B, Lk, 2, heads, headDim]);
  let k = slice(kv5, 2, 0, 1).reshape([B, Lk, heads, headDim]);
  const v = slice(kv5, 2, 1, 2).reshape([B, Lk, heads, headDim]);
  if (!ctxKv) kv.dispose();
  let qn = q;
  if (a.qGamma && a.kGamma) {
    qn = multiHeadRmsNorm(q, a.qGamma);
    const kn = multiHeadRmsNorm(k, a.kGamma);
    q.dispose();
    k.dispose();
    k = kn;
  }
  const o = attention(qn, k, v, keyBias ? { keyBias } : {});
  const out = linear(o.reshape([B, L, C]), a.out, a.outB);
  for (const t of [qn, k, v, o]) t.dispose();
  return out;
}

/** A self-attention implementation for `flowBlock`: h [B, L, C] -> [B, L, C]. */
export type SelfAttentionFn = (h: Tensor, a: AttnWeights, heads: number) => Tensor;

/**
 * Full multi-head self-attention over each batch item's L tokens (to_qkv, optional qk-RMSNorm, to_out).
 * @example
 * const a = denseSelfAttention(n, blk.self, 16); // n [B, L, C]
 */
export function denseSelfAttention(h: Tensor, a: AttnWeights, heads: number): Tensor {
  const [B, L, C] = h.shape;
  const headDim = C / heads;
  if (!a.qkv || !a.qkvB)
    throw new Error(`denseSelfAttention: the layer has no to_qkv weights (h [${h.shape.join(', ')}])`);
  const qkv = linear(h, a.qkv, a.qkvB).reshape([B, L, 3, heads, headDim]);
  let q = slice(qkv, 2, 0, 1).reshape([B, L, heads, headDim]);
  let k = slice(qkv, 2, 1, 2).reshape([B, L, heads, headDim]);
  const v = slice(qkv, 2, 2, 3).reshape([B, L, heads, headDim]);
  qkv.dispose();
  if (a.qGamma && a.kGamma) {
    const qn = multiHeadRmsNorm(q, a.qGamma);
    const kn = multiHeadRmsNorm(k, a.kGamma);
    q.dispose();
    k.dispose();
    q = qn;
    k = kn;
  }
  const o = attention(q, k, v);
  const out = linear(o.reshape([B, L, C]), a.out, a.outB);
  for (const t of [q, k, v, o]) t.dispose();
  return out;
}

/**
 * The conditioned timestep embedding [B, C] in f32: sinusoidal features -> Linear -> SiLU -> Linear.
 * @example
 * const temb = flowTimeEmbedding((k) => weights.get(k)!, 750, 1, gpu);
 */
export function flowTimeEmbedding(
  weight: (k: string) => Tensor,
  t1000: number,
  B: number,
  gpu: GpuContext | null,
): Tensor {
  const freq = Tensor.fromArray(timestepEmbedding(new Array(B).fill(t1000)), [B, FLOW_FREQ_DIM], { gpu });
  const h1 = linear(freq, weight('t_embedder.mlp.0.weight'), weight('t_embedder.mlp.0.bias'), {
    activation: 'silu',
  });
  const temb = linear(h1, weight('t_embedder.mlp.2.weight'), weight('t_embedder.mlp.2.bias'));
  freq.dispose();
  h1.dispose();
  return temb;
}

/**
 * Reads the cross-attention weights of every block and precomputes the shortcut constants (flow-shortcuts.ts).
 * @example
 * const sc = await loadFlowShortcuts(store, 24, 1024, 16, 'f16', gpu);
 */
export async function loadFlowShortcuts(
  store: WeightStore,
  blocks: number,
  C: number,
  heads: number,
  dtype: DType,
  gpu: GpuContext | null,
): Promise<BlockShortcuts[]> {
  const biasArrays = async (p: string): Promise<CrossAttnBiasArrays> => ({
    kvB: await store.readFloat32(`${p}.to_kv.bias`),
    outW: await store.readFloat32(`${p}.to_out.weight`),
    outB: await store.readFloat32(`${p}.to_out.bias`),
  });
  // The mask-weighted cross-attention's to_kv weight ([2C, 1024], ~50M values over 24 blocks) is not read: its
  // constant needs only biases and to_out (issue #7: it was ~10% of the flow's load time).
  const arrays = async (p: string): Promise<CrossAttnArrays> => ({
    kvW: await store.readFloat32(`${p}.to_kv.weight`),
    ...(await biasArrays(p)),
  });
  const out: BlockShortcuts[] = [];
  for (let i = 0; i < blocks; i++) {
    const b = `blocks.${i}`;
    out.push(
      blockShortcuts(
        await biasArrays(`${b}.cross_attn`),
        await arrays(`${b}.cross_attn_mask`),
        C,
        heads,
        dtype,
        gpu,
      ),
    );
  }
  return out;
}

/**
 * to_kv(condition tokens) of every block's mask-weighted cross-attention, computed once per (model, condition)
 * and cached on the condition (freed with it); null for the all-zero condition (the shortcut needs none).
 * @example
 * const kv = cachedConditionKv(this, this.blocks, cond);
 */
export function cachedConditionKv(
  owner: object,
  blocks: readonly FlowBlockWeights[],
  cond: FlowCondition,
): Tensor[] | null {
  if (cond.isZero) return null;
  let kv = cond.cache.get(owner);
  if (!kv) {
    kv = blocks.map((b) => {
      if (!b.cross.kv || !b.cross.kvB) throw new Error('cachedConditionKv: cross_attn has no to_kv weights');
      return linear(cond.tokens, b.cross.kv, b.cross.kvB);
    });
    cond.cache.set(owner, kv);
  }
  return kv;
}

/** Per-call settings of `flowBlock`. */
export interface FlowBlockOptions {
  heads: number;
  /** dtype of the residual stream (the rank-1 occlusion attention's output dtype). */
  dtype: DType;
  selfAttention: SelfAttentionFn;
  /** This block's shortcut constants; undefined runs the official computation. */
  shortcuts?: BlockShortcuts;
  /** Cached to_kv(cond.tokens) of this block (with shortcuts on). */
  condKv?: Tensor;
}

/**
 * One flow transformer block on `h` [B, L, C] (consumed; the result is a new tensor). `mod` [B, 6C] is the adaLN
 * Linear output (shift/scale/gate for attention and MLP), not disposed here.
 * @example
 * h = flowBlock(h, blk, mod, cond, { heads: 16, dtype: 'f32', selfAttention: denseSelfAttention });
 */
export function flowBlock(
  h0: Tensor,
  blk: FlowBlockWeights,
  mod: Tensor,
  cond: FlowCondition,
  o: FlowBlockOptions,
): Tensor {
  const C = h0.shape[h0.rank - 1];
  const sc = o.shortcuts;
  let h = h0;
  const chunk = (i: number) => slice(mod, 1, i * C, (i + 1) * C);
  const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = [0, 1, 2, 3, 4, 5].map(chunk);
  const step = (next: Tensor) => {
    h.dispose();
    h = next;
  };
  const residual = (a: Tensor, gate: Tensor | null) => {
    const next = gatedResidual(h, a, gate);
    a.dispose();
    step(next);
  };
  // 1. adaLN self-attention
  let n = modulatedLayerNorm(h, shiftMsa, scaleMsa, { eps: FLOW_BLOCK_LN_EPS });
  let a = o.selfAttention(n, blk.self, o.heads);
  n.dispose();
  residual(a, gateMsa);
  // 2. mask-weighted cross-attention to the image tokens (affine LN, no gate)
  if (sc && cond.isZero) step(add(h, sc.negCross));
  else {
    n = layerNorm(h, { weight: blk.norm2W, bias: blk.norm2B, eps: FLOW_BLOCK_LN_EPS });
    a = crossAttention(n, cond.tokens, blk.cross, o.heads, cond.keyBias, o.condKv);
    n.dispose();
    residual(a, null);
  }
  // 3. occlusion-aware cross-attention (plain LN, no gate)
  if (sc && cond.isZero) step(add(h, sc.negOcc));
  else {
    n = layerNorm(h, { eps: FLOW_BLOCK_LN_EPS });
    const m = blk.crossMask;
    if (sc && !m.qGamma && m.q && m.qB) {
      // rank-1 trick: exact only without qk-RMSNorm on the occlusion attention
      const q = linear(n, m.q, m.qB);
      const e = occlusionAttentionRank1(q, sc, cond.occStats, o.dtype);
      q.dispose();
      a = linear(e, m.out, m.outB);
      e.dispose();
    } else {
      a = crossAttention(n, cond.occ, m, o.heads, null);
    }
    n.dispose();
    residual(a, null);
  }
  // 4. adaLN MLP (GELU tanh)
  n = modulatedLayerNorm(h, shiftMlp, scaleMlp, { eps: FLOW_BLOCK_LN_EPS });
  const m1 = linear(n, blk.fc1, blk.fc1B, { activation: 'gelu_tanh' });
  n.dispose();
  a = linear(m1, blk.fc2, blk.fc2B);
  m1.dispose();
  residual(a, gateMlp);
  for (const t of [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp]) t.dispose();
  return h;
}

/** Load options shared by both flow models. */
export interface FlowLoadOptions {
  gpu: GpuContext | null;
  /** 'auto' follows the config's use_fp16 (falling back to f32 without shader-f16). */
  precision?: 'auto' | 'f32' | 'f16';
  /**
   * Exact algebraic savings (flow-shortcuts.ts): constant cross-attentions for the all-zero condition, rank-1
   * occlusion attention, cached condition keys/values. Default true; false runs the official computation.
   */
  shortcuts?: boolean;
}

/** `blocks.N.cross_attn_mask.to_kv.weight`: the occlusion attention's key/value projection. */
const OCC_KV_WEIGHT = /^blocks\.\d+\.cross_attn_mask\.to_kv\.weight$/;

/**
 * True for a weight the GPU never reads when the shortcuts are on: the occlusion attention's to_kv weight, which
 * the rank-1 path replaces by its row sums (flow-shortcuts.ts), unless that attention has qk-RMSNorm (then the full
 * path runs and needs it). Not uploading it saves 24 x 4 MiB f16 per flow and its load time (issue #7).
 */
function rank1OnlyWeight(name: string, expected: ReadonlyMap<string, readonly number[]>): boolean {
  return OCC_KV_WEIGHT.test(name) && !expected.has(name.replace(/to_kv\.weight$/, 'q_rms_norm.gamma'));
}

/** What `loadFlowWeights` returns. */
export interface LoadedFlow {
  /** The model dtype (block weights and residual stream). */
  dtype: DType;
  w: Map<string, Tensor>;
  /** Per-block shortcut constants (empty when shortcuts are off). */
  shortcuts: BlockShortcuts[];
  /** Looks a loaded weight up; throws naming `who` and the key when it is missing. */
  get: (k: string) => Tensor;
  /** The transformer blocks' weights (`blocks.0` ...). */
  blocks: FlowBlockWeights[];
}

/**
 * Checks every key and shape against `expected`, picks the model dtype, loads the weights one tensor at a time
 * (keys matching `modelDtypeKey` in the model dtype, as `convert_to_fp16`; the rest f32) and precomputes the
 * shortcut constants of `blocks` transformer blocks.
 * @example
 * const l = await loadFlowWeights(store, expected, 'SLatFlow', cfg.use_fp16, { gpu }, /^blocks\./, { blocks: 24, C: 1024, heads: 16 });
 */
export async function loadFlowWeights(
  store: WeightStore,
  expected: Map<string, number[]>,
  who: string,
  useFp16: boolean | undefined,
  options: FlowLoadOptions,
  modelDtypeKey: RegExp,
  dims: { blocks: number; C: number; heads: number },
): Promise<LoadedFlow> {
  checkWeights(store, expected, who);
  const gpu = options.gpu;
  const precision = options.precision ?? 'auto';
  const wantF16 = precision === 'f16' || (precision === 'auto' && !!useFp16);
  const dtype: DType = wantF16 && (!gpu || gpu.features.f16) ? 'f16' : 'f32';
  const useShortcuts = options.shortcuts ?? true;
  const w = new Map<string, Tensor>();
  for (const name of expected.keys()) {
    if (useShortcuts && rank1OnlyWeight(name, expected)) continue;
    w.set(name, await store.load(name, { gpu, dtype: modelDtypeKey.test(name) ? dtype : 'f32' }));
  }
  const shortcuts = useShortcuts
    ? await loadFlowShortcuts(store, dims.blocks, dims.C, dims.heads, dtype, gpu)
    : [];
  const get = (k: string) => {
    const t = w.get(k);
    if (!t) throw new Error(`${who}: weight ${k} was not loaded`);
    return t;
  };
  const blocks: FlowBlockWeights[] = [];
  for (let i = 0; i < dims.blocks; i++) blocks.push(flowBlockWeights(get, w, `blocks.${i}`));
  return { dtype, w, shortcuts, get, blocks };
}

/**
 * Frees the weights and shortcut constants of `loadFlowWeights` (condition caches keyed by it go with the condition).
 * @example
 * disposeLoadedFlow(loaded);
 */
export function disposeLoadedFlow(l: LoadedFlow): void {
  for (const t of l.w.values()) t.dispose();
  for (const sc of l.shortcuts) disposeBlockShortcuts(sc);
}

/** Settings of `flowBlockStack` besides the weights, the stream and the condition. */
export interface FlowStackOptions {
  heads: number;
  /** share_mod: one adaLN Linear for all blocks (`adaLN_modulation.1`). */
  shareMod: boolean;
  selfAttention: SelfAttentionFn;
}

/**
 * Runs all transformer blocks of `core` on `h` [B, L, C] (consumed) with `tSilu` = SiLU(t_emb) [B, C] in the model
 * dtype: per block (or once with share_mod) the adaLN Linear, then `flowBlock`. The condition's key/value cache
 * is keyed by `core`.
 * @example
 * h = flowBlockStack(h, tSilu, cond, loaded, { heads: 16, shareMod: false, selfAttention: denseSelfAttention });
 */
export function flowBlockStack(
  h0: Tensor,
  tSilu: Tensor,
  cond: FlowCondition,
  core: LoadedFlow,
  o: FlowStackOptions,
): Tensor {
  const shared = o.shareMod
    ? linear(tSilu, core.get('adaLN_modulation.1.weight'), core.get('adaLN_modulation.1.bias'))
    : null;
  const kvCache = core.shortcuts.length ? cachedConditionKv(core, core.blocks, cond) : null;
  let h = h0;
  for (const [bi, blk] of core.blocks.entries()) {
    let mod = shared;
    if (!mod) {
      if (!blk.ada || !blk.adaB)
        throw new Error(`flowBlockStack: block ${bi} has no adaLN_modulation weights`);
      mod = linear(tSilu, blk.ada, blk.adaB);
    }
    h = flowBlock(h, blk, mod, cond, {
      heads: o.heads,
      dtype: core.dtype,
      selfAttention: o.selfAttention,
      shortcuts: core.shortcuts[bi],
      condKv: kvCache?.[bi],
    });
    if (mod !== shared) mod.dispose();
  }
  shared?.dispose();
  return h;
}
