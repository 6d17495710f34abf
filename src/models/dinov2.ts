/**
 * DINOv2 ViT with register tokens (`dinov2_vitl14_reg`), producing what Amodal3R conditions on: the pre-norm
 * tokens of the last block followed by a parameter-free LayerNorm (eps 1e-5), [V, 1 + 4 + (S/14)^2, C].
 * ARCHITECTURE.md §b.
 *
 * Algebraic shortcuts (exact up to f32 rounding): LayerScale gammas are folded into the following Linear
 * (gamma * (W x + b) = (diag(gamma) W) x + gamma b), the CLS position embedding is added to the CLS token at
 * load time, and the patch-embedding Conv2d(k = s = 14) is patchify + one Linear.
 *
 * Weights: torch-hub key names (`blocks.0.attn.qkv.weight`, ...). The Hugging Face transformers layout
 * (`Dinov2WithRegistersModel`) is mapped to these names by `hfDinov2Store` (see dinov2-keys.ts).
 */

import { add, attention, cast, concat, layerNorm, linear, patchify2d, slice } from '../nn/ops.ts';
import { checkWeights, type WeightStore } from '../nn/weights.ts';
import type { DType } from '../runtime/dtype.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { Tensor } from '../runtime/tensor.ts';

export interface Dinov2Config {
  img_size: number;
  patch_size: number;
  embed_dim: number;
  depth: number;
  num_heads: number;
  mlp_ratio: number;
  num_register_tokens: number;
  qkv_bias?: boolean;
  proj_bias?: boolean;
  ffn_bias?: boolean;
  ffn_layer?: 'mlp';
  init_values?: number | null;
  in_chans?: number;
}

/** `dinov2_vitl14_reg` as torch.hub builds it (img_size 518 so the stored grid is 37x37). */
export const DINOV2_VITL14_REG: Dinov2Config = {
  img_size: 518,
  patch_size: 14,
  embed_dim: 1024,
  depth: 24,
  num_heads: 16,
  mlp_ratio: 4,
  num_register_tokens: 4,
  qkv_bias: true,
  proj_bias: true,
  ffn_bias: true,
  ffn_layer: 'mlp',
  init_values: 1.0,
  in_chans: 3,
};

const BLOCK_LN_EPS = 1e-6;
/** Amodal3R re-normalises `x_prenorm` with F.layer_norm's default eps and no affine parameters. */
export const DINO_FEATURE_LN_EPS = 1e-5;

export function dinov2ExpectedShapes(c: Dinov2Config): Map<string, number[]> {
  const C = c.embed_dim;
  const inC = c.in_chans ?? 3;
  const grid = Math.floor(c.img_size / c.patch_size);
  const hidden = Math.floor(C * c.mlp_ratio);
  const layerScale = c.init_values != null && c.init_values !== 0;
  const m = new Map<string, number[]>();
  m.set('cls_token', [1, 1, C]);
  if (c.num_register_tokens > 0) m.set('register_tokens', [1, c.num_register_tokens, C]);
  m.set('pos_embed', [1, grid * grid + 1, C]);
  m.set('mask_token', [1, C]);
  m.set('patch_embed.proj.weight', [C, inC, c.patch_size, c.patch_size]);
  m.set('patch_embed.proj.bias', [C]);
  for (let i = 0; i < c.depth; i++) {
    const b = `blocks.${i}`;
    m.set(`${b}.norm1.weight`, [C]);
    m.set(`${b}.norm1.bias`, [C]);
    m.set(`${b}.attn.qkv.weight`, [3 * C, C]);
    if (c.qkv_bias ?? true) m.set(`${b}.attn.qkv.bias`, [3 * C]);
    m.set(`${b}.attn.proj.weight`, [C, C]);
    if (c.proj_bias ?? true) m.set(`${b}.attn.proj.bias`, [C]);
    if (layerScale) m.set(`${b}.ls1.gamma`, [C]);
    m.set(`${b}.norm2.weight`, [C]);
    m.set(`${b}.norm2.bias`, [C]);
    m.set(`${b}.mlp.fc1.weight`, [hidden, C]);
    if (c.ffn_bias ?? true) m.set(`${b}.mlp.fc1.bias`, [hidden]);
    m.set(`${b}.mlp.fc2.weight`, [C, hidden]);
    if (c.ffn_bias ?? true) m.set(`${b}.mlp.fc2.bias`, [C]);
    if (layerScale) m.set(`${b}.ls2.gamma`, [C]);
  }
  m.set('norm.weight', [C]);
  m.set('norm.bias', [C]);
  return m;
}

interface BlockW {
  n1w: Tensor;
  n1b: Tensor;
  qkv: Tensor;
  qkvB: Tensor | undefined;
  proj: Tensor;
  projB: Tensor;
  n2w: Tensor;
  n2b: Tensor;
  fc1: Tensor;
  fc1B: Tensor | undefined;
  fc2: Tensor;
  fc2B: Tensor;
}

export interface Dinov2LoadOptions {
  gpu: GpuContext | null;
  /**
   * 'f32' (default) is what the official pipeline runs. 'f16' keeps the block Linear weights and the residual
   * stream in half precision (norm statistics and the final feature LayerNorm in f32); needs shader-f16 on a GPU.
   */
  precision?: 'f32' | 'f16';
}

export class Dinov2 {
  readonly config: Dinov2Config;
  private readonly gpu: GpuContext | null;
  private readonly patchW: Tensor;
  private readonly patchB: Tensor;
  /** [1 + registers, C]: CLS (+ its position embedding) followed by the registers (no position embedding). */
  private readonly prefix: Float32Array;
  private readonly posPatches: Tensor;
  private readonly blocks: BlockW[];
  /** dtype of the block weights and the residual stream. */
  readonly dtype: DType;

  private constructor(
    config: Dinov2Config,
    gpu: GpuContext | null,
    parts: { patchW: Tensor; patchB: Tensor; prefix: Float32Array; posPatches: Tensor; blocks: BlockW[] },
    dtype: DType,
  ) {
    this.dtype = dtype;
    this.config = config;
    this.gpu = gpu;
    this.patchW = parts.patchW;
    this.patchB = parts.patchB;
    this.prefix = parts.prefix;
    this.posPatches = parts.posPatches;
    this.blocks = parts.blocks;
  }

  /**
   * @example
   * const dino = await Dinov2.load(store, DINOV2_VITL14_REG, { gpu });
   * const tokens = await dino.forward(images); // [V, 1374, 1024]
   */
  static async load(store: WeightStore, config: Dinov2Config, options: Dinov2LoadOptions): Promise<Dinov2> {
    const expected = dinov2ExpectedShapes(config);
    checkWeights(store, expected, 'DINOv2 (torch-hub key names)');
    const { gpu } = options;
    const C = config.embed_dim;
    const inC = config.in_chans ?? 3;
    const p = config.patch_size;
    const f32 = { gpu, dtype: 'f32' as const };
    const dtype: DType = options.precision === 'f16' && (!gpu || gpu.features.f16) ? 'f16' : 'f32';
    const wt = { gpu, dtype };
    const up = (data: Float32Array, shape: number[], d: DType = 'f32') =>
      Tensor.fromArray(data, shape, { gpu, dtype: d });
    const patchW = up(await store.readFloat32('patch_embed.proj.weight'), [C, inC * p * p]);
    const patchB = await store.load('patch_embed.proj.bias', f32);
    const pos = await store.readFloat32('pos_embed');
    const cls = await store.readFloat32('cls_token');
    const nReg = config.num_register_tokens;
    const reg = nReg > 0 ? await store.readFloat32('register_tokens') : new Float32Array(0);
    const prefix = new Float32Array((1 + nReg) * C);
    for (let c = 0; c < C; c++) prefix[c] = Math.fround(cls[c] + pos[c]);
    prefix.set(reg, C);
    const posPatches = up(pos.subarray(C), [pos.length / C - 1, C]);
    const layerScale = config.init_values != null && config.init_values !== 0;
    const zeros = new Float32Array(C);
    const blocks: BlockW[] = [];
    for (let i = 0; i < config.depth; i++) {
      const b = `blocks.${i}`;
      const opt = async (k: string) => (expected.has(k) ? store.readFloat32(k) : null);
      // Fold LayerScale into the projection that feeds it.
      const fold = async (wName: string, bName: string, gName: string, rows: number, cols: number) => {
        // Copies (the store may share its arrays); slice(), not Float32Array.from, which iterates element by element.
        const w = (await store.readFloat32(wName)).slice();
        const bias = ((await opt(bName)) ?? zeros).slice();
        if (layerScale) {
          const g = await store.readFloat32(gName);
          for (let r = 0; r < rows; r++) {
            for (let c = 0; c < cols; c++) w[r * cols + c] = Math.fround(w[r * cols + c] * g[r]);
            bias[r] = Math.fround(bias[r] * g[r]);
          }
        }
        return { w: up(w, [rows, cols], dtype), b: up(bias, [rows], dtype) };
      };
      const hidden = Math.floor(C * config.mlp_ratio);
      const proj = await fold(`${b}.attn.proj.weight`, `${b}.attn.proj.bias`, `${b}.ls1.gamma`, C, C);
      const fc2 = await fold(`${b}.mlp.fc2.weight`, `${b}.mlp.fc2.bias`, `${b}.ls2.gamma`, C, hidden);
      const loadOpt = async (k: string) => (expected.has(k) ? store.load(k, wt) : undefined);
      blocks.push({
        n1w: await store.load(`${b}.norm1.weight`, f32),
        n1b: await store.load(`${b}.norm1.bias`, f32),
        qkv: await store.load(`${b}.attn.qkv.weight`, wt),
        qkvB: await loadOpt(`${b}.attn.qkv.bias`),
        proj: proj.w,
        projB: proj.b,
        n2w: await store.load(`${b}.norm2.weight`, f32),
        n2b: await store.load(`${b}.norm2.bias`, f32),
        fc1: await store.load(`${b}.mlp.fc1.weight`, wt),
        fc1B: await loadOpt(`${b}.mlp.fc1.bias`),
        fc2: fc2.w,
        fc2B: fc2.b,
      });
    }
    return new Dinov2(config, gpu, { patchW, patchB, prefix, posPatches, blocks }, dtype);
  }

  dispose(): void {
    this.patchW.dispose();
    this.patchB.dispose();
    this.posPatches.dispose();
    for (const b of this.blocks) for (const t of Object.values(b)) (t as Tensor | undefined)?.dispose();
  }

  /**
   * Normalised images [V, 3, S, S] (S = img_size) -> Amodal3R's DINO features [V, 1 + registers + (S/p)^2, C]:
   * x_prenorm followed by a parameter-free LayerNorm (eps 1e-5).
   */
  forward(images: Tensor): Tensor {
    const c = this.config;
    const C = c.embed_dim;
    const [V, ch, H, W] = images.shape;
    if (images.rank !== 4 || ch !== (c.in_chans ?? 3) || H !== c.img_size || W !== c.img_size) {
      throw new Error(
        `DINOv2.forward: images must be [V, ${c.in_chans ?? 3}, ${c.img_size}, ${c.img_size}] (position-embedding interpolation for other sizes is not implemented), got [${images.shape.join(', ')}]`,
      );
    }
    const heads = c.num_heads;
    const hd = C / heads;
    const patches = patchify2d(images, c.patch_size);
    const emb = linear(patches, this.patchW, this.patchB);
    patches.dispose();
    const embPos = add(emb, this.posPatches);
    emb.dispose();
    const nPre = this.prefix.length / C;
    const pre = new Float32Array(V * this.prefix.length);
    for (let v = 0; v < V; v++) pre.set(this.prefix, v * this.prefix.length);
    const preT = Tensor.fromArray(pre, [V, nPre, C], { gpu: this.gpu });
    const x32 = concat([preT, embPos], 1);
    preT.dispose();
    embPos.dispose();
    let x = this.dtype === 'f32' ? x32 : cast(x32, this.dtype);
    if (x !== x32) x32.dispose();
    const L = x.shape[1];
    for (const b of this.blocks) {
      const n1 = layerNorm(x, { weight: b.n1w, bias: b.n1b, eps: BLOCK_LN_EPS });
      const qkv = linear(n1, b.qkv, b.qkvB).reshape([V, L, 3, heads, hd]);
      n1.dispose();
      const q = slice(qkv, 2, 0, 1).reshape([V, L, heads, hd]);
      const k = slice(qkv, 2, 1, 2).reshape([V, L, heads, hd]);
      const v = slice(qkv, 2, 2, 3).reshape([V, L, heads, hd]);
      qkv.dispose();
      const o = attention(q, k, v);
      for (const t of [q, k, v]) t.dispose();
      const a = linear(o.reshape([V, L, C]), b.proj, b.projB);
      o.dispose();
      const x1 = add(x, a);
      a.dispose();
      x.dispose();
      const n2 = layerNorm(x1, { weight: b.n2w, bias: b.n2b, eps: BLOCK_LN_EPS });
      const m1 = linear(n2, b.fc1, b.fc1B, { activation: 'gelu_erf' });
      n2.dispose();
      const m2 = linear(m1, b.fc2, b.fc2B);
      m1.dispose();
      x = add(x1, m2);
      x1.dispose();
      m2.dispose();
    }
    const out = layerNorm(x, { eps: DINO_FEATURE_LN_EPS, dtype: 'f32' });
    x.dispose();
    return out;
  }
}
