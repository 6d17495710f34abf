/**
 * Stage 2: Amodal3R's structured-latent flow (`SLatFlowModelMaskAsCondWeighted`, official
 * amodal3r/models/structured_latent_flow_doubleattn_weighted.py; ARCHITECTURE.md §e).
 *
 * A sparse U-shaped DiT over the voxels of stage 1: input Linear (8 -> io[0]), io res-blocks at 64^3 with a
 * downsampling block per stage (SparseResBlock3d: emb scale/shift with SCALE FIRST; up/down-sample before the
 * norms), APE of the downsampled coordinates (computed per coordinate set, cached), `num_blocks` sparse transformer
 * blocks with the stage-1 op order (adaLN self-attention with qk-RMSNorm -> affine-LN + mask-weighted
 * cross-attention -> LN + occlusion cross-attention -> adaLN GELU-tanh MLP), output res-blocks on
 * [h | skip] with upsampling, final parameter-free LayerNorm in the MODEL dtype (stage 1 casts to f32 first:
 * the asymmetry is the official code's), output Linear in f32.
 *
 * Batch: the official inference calls the flow with one sample per call (the conditional and unconditional passes
 * are separate calls), and its mask-weighted sparse attention (`sparse_scaled_dot_product_attention_weighted`)
 * concatenates the queries of ALL batch items and the keys of ALL items into one sequence, so with B > 1 every
 * voxel would attend to every item's condition (a bug that only training with batch 2 per GPU hit). We support
 * batch 1, where per-item attention and the official code coincide; `forward` rejects B > 1.
 *
 * Precision: `use_fp16` (or `precision: 'f16'`) keeps the timestep MLP, the input/output Linear and all norms in
 * f32 and runs the res-blocks' convs/Linears, the transformer blocks and the residual stream in f16, as
 * `convert_to_fp16`. The sparse convs accumulate all 27 taps in f32 and round once (spconv's fp16 native algorithm
 * rounds after every tap): see src/sparse/conv.ts.
 *
 * @example
 * const flow = await SLatFlow.load(store, json.args, { gpu });
 * const v = await flow.forward(x, 750, prepareFlowCondition(cond, gpu, flow.dtype)); // x: SparseTensor [N, 8]
 */

import { absolutePositionEmbedding } from '../nn/embeddings.ts';
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
import { add, cast, concat, layerNorm, linear, modulatedLayerNorm, silu, slice } from '../nn/ops.ts';
import type { WeightStore } from '../nn/weights.ts';
import type { DType } from '../runtime/dtype.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { Tensor } from '../runtime/tensor.ts';
import { prepareSparseConvWeight, type SparseConvWeight, submConv3d } from '../sparse/conv.ts';
import { sparseDownsample, sparseUpsample } from '../sparse/resample.ts';
import type { SparseTensor } from '../sparse/sparse-tensor.ts';
import { COND_CHANNELS, type FlowCondition } from './ss-flow.ts';

const RES_LN_EPS = 1e-6;
const FINAL_LN_EPS = 1e-5;

/** Constructor arguments of the official class (the `args` of the checkpoint's .json). */
export interface SLatFlowConfig {
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
  num_io_res_blocks?: number;
  io_block_channels: number[];
  pe_mode?: 'ape' | 'rope';
  use_fp16?: boolean;
  use_checkpoint?: boolean;
  use_skip_connection?: boolean;
  share_mod?: boolean;
  qk_rms_norm?: boolean;
  qk_rms_norm_cross?: boolean;
  mask_cond_type?: string;
}

/** Defaults of the official constructor. */
export const SLAT_FLOW_CONFIG_DEFAULTS = {
  num_head_channels: 64,
  mlp_ratio: 4,
  patch_size: 2,
  num_io_res_blocks: 2,
  pe_mode: 'ape',
  use_fp16: false,
  use_skip_connection: true,
  share_mod: false,
  qk_rms_norm: false,
  qk_rms_norm_cross: false,
} as const;

/** One SparseResBlock3d: its key prefix, widths and resampling. */
export interface ResBlockSpec {
  prefix: string;
  cin: number;
  cout: number;
  down: boolean;
  up: boolean;
}

export interface SLatFlowResolved {
  inC: number;
  outC: number;
  C: number;
  heads: number;
  headDim: number;
  hidden: number;
  blocks: number;
  shareMod: boolean;
  skip: boolean;
  io: number[];
  inputBlocks: ResBlockSpec[];
  outBlocks: ResBlockSpec[];
}

export function resolveSLatFlowConfig(c: SLatFlowConfig): SLatFlowResolved {
  const d = { ...SLAT_FLOW_CONFIG_DEFAULTS, ...c };
  const heads = d.num_heads ?? Math.floor(d.model_channels / d.num_head_channels);
  const io = d.io_block_channels;
  const problems: string[] = [];
  if (d.pe_mode !== 'ape') problems.push(`pe_mode '${d.pe_mode}' is not supported (only 'ape', as released)`);
  if (d.cond_channels !== COND_CHANNELS)
    problems.push(`cond_channels must be ${COND_CHANNELS}, got ${d.cond_channels}`);
  if (d.model_channels % heads !== 0)
    problems.push(`model_channels ${d.model_channels} not divisible by ${heads} heads`);
  if (!Array.isArray(io) || io.length === 0) problems.push('io_block_channels must be a non-empty list');
  else if (2 ** io.length !== d.patch_size)
    problems.push(`patch_size ${d.patch_size} must be 2^len(io_block_channels) = ${2 ** io.length}`);
  if (!(d.num_io_res_blocks >= 1))
    problems.push(`num_io_res_blocks must be >= 1, got ${d.num_io_res_blocks}`);
  if (problems.length) throw new Error(`SLatFlowModelMaskAsCondWeighted config: ${problems.join('; ')}`);
  const C = d.model_channels;
  const inputBlocks: ResBlockSpec[] = [];
  const outBlocks: ResBlockSpec[] = [];
  const nextChs = [...io.slice(1), C];
  io.forEach((chs, s) => {
    for (let i = 0; i < d.num_io_res_blocks - 1; i++)
      inputBlocks.push({
        prefix: `input_blocks.${inputBlocks.length}`,
        cin: chs,
        cout: chs,
        down: false,
        up: false,
      });
    inputBlocks.push({
      prefix: `input_blocks.${inputBlocks.length}`,
      cin: chs,
      cout: nextChs[s],
      down: true,
      up: false,
    });
  });
  const rev = [...io].reverse();
  const prevChs = [C, ...[...io.slice(1)].reverse()];
  const mul = d.use_skip_connection ? 2 : 1;
  rev.forEach((chs, s) => {
    outBlocks.push({
      prefix: `out_blocks.${outBlocks.length}`,
      cin: prevChs[s] * mul,
      cout: chs,
      down: false,
      up: true,
    });
    for (let i = 0; i < d.num_io_res_blocks - 1; i++)
      outBlocks.push({
        prefix: `out_blocks.${outBlocks.length}`,
        cin: chs * mul,
        cout: chs,
        down: false,
        up: false,
      });
  });
  return {
    inC: d.in_channels,
    outC: d.out_channels,
    C,
    heads,
    headDim: C / heads,
    hidden: Math.floor(C * d.mlp_ratio),
    blocks: d.num_blocks,
    shareMod: d.share_mod,
    skip: d.use_skip_connection,
    io,
    inputBlocks,
    outBlocks,
  };
}

function resBlockKeys(m: Map<string, number[]>, b: ResBlockSpec, C: number): void {
  m.set(`${b.prefix}.norm1.weight`, [b.cin]);
  m.set(`${b.prefix}.norm1.bias`, [b.cin]);
  m.set(`${b.prefix}.conv1.conv.weight`, [b.cout, 3, 3, 3, b.cin]);
  m.set(`${b.prefix}.conv1.conv.bias`, [b.cout]);
  m.set(`${b.prefix}.conv2.conv.weight`, [b.cout, 3, 3, 3, b.cout]);
  m.set(`${b.prefix}.conv2.conv.bias`, [b.cout]);
  m.set(`${b.prefix}.emb_layers.1.weight`, [2 * b.cout, C]);
  m.set(`${b.prefix}.emb_layers.1.bias`, [2 * b.cout]);
  if (b.cin !== b.cout) {
    m.set(`${b.prefix}.skip_connection.weight`, [b.cout, b.cin]);
    m.set(`${b.prefix}.skip_connection.bias`, [b.cout]);
  }
}

/**
 * The exact state-dict key -> shape table of the official module (ARCHITECTURE.md §e.7).
 * @example
 * const shapes = slatFlowExpectedShapes(json.args); // Map { 't_embedder.mlp.0.weight' => [1024, 256], ... }
 */
export function slatFlowExpectedShapes(config: SLatFlowConfig): Map<string, number[]> {
  const r = resolveSLatFlowConfig(config);
  const d = { ...SLAT_FLOW_CONFIG_DEFAULTS, ...config };
  const { C } = r;
  const m = new Map<string, number[]>();
  flowHeadKeys(m, C, r.shareMod);
  m.set('input_layer.weight', [r.io[0], r.inC]);
  m.set('input_layer.bias', [r.io[0]]);
  for (const b of r.inputBlocks) resBlockKeys(m, b, C);
  const dims = { ...r, qkRms: d.qk_rms_norm, qkRmsCross: d.qk_rms_norm_cross };
  for (let i = 0; i < r.blocks; i++) flowBlockKeys(m, `blocks.${i}`, dims);
  for (const b of r.outBlocks) resBlockKeys(m, b, C);
  m.set('out_layer.weight', [r.outC, r.io[0]]);
  m.set('out_layer.bias', [r.outC]);
  return m;
}

interface ResBlockWeights {
  spec: ResBlockSpec;
  norm1W: Tensor;
  norm1B: Tensor;
  conv1: SparseConvWeight;
  conv1B: Tensor;
  conv2: SparseConvWeight;
  conv2B: Tensor;
  emb: Tensor;
  embB: Tensor;
  skip?: Tensor;
  skipB?: Tensor;
}

/** Load options (shared with the other flow model). */
export type SLatFlowLoadOptions = FlowLoadOptions;

/** Weights that `convert_to_fp16` turns to half: Linear and sparse-conv parameters inside the three stacks. */
const MODEL_DTYPE_KEY =
  /^(blocks\.\d+\.(adaLN_modulation\.1|self_attn\.to_|cross_attn(_mask)?\.to_|mlp\.mlp\.)|(input|out)_blocks\.\d+\.(conv[12]\.conv|emb_layers\.1|skip_connection)\.)/;

export class SLatFlow {
  readonly config: SLatFlowConfig;
  readonly r: SLatFlowResolved;
  readonly gpu: GpuContext | null;
  /** dtype of the three stacks' weights and of the feature stream between input_layer and the final norm. */
  readonly dtype: DType;
  /** Weights, transformer blocks and shortcut constants. */
  private readonly core: LoadedFlow;
  private readonly weight: (name: string) => Tensor;
  private readonly inputBlocks: ResBlockWeights[];
  private readonly outBlocks: ResBlockWeights[];

  private constructor(config: SLatFlowConfig, gpu: GpuContext | null, loaded: LoadedFlow) {
    this.core = loaded;
    this.config = config;
    this.r = resolveSLatFlowConfig(config);
    this.gpu = gpu;
    this.dtype = loaded.dtype;
    this.weight = loaded.get;
    const w = loaded.w;
    const g = loaded.get;
    const res = (spec: ResBlockSpec): ResBlockWeights => ({
      spec,
      norm1W: g(`${spec.prefix}.norm1.weight`),
      norm1B: g(`${spec.prefix}.norm1.bias`),
      conv1: prepareSparseConvWeight(g(`${spec.prefix}.conv1.conv.weight`)),
      conv1B: g(`${spec.prefix}.conv1.conv.bias`),
      conv2: prepareSparseConvWeight(g(`${spec.prefix}.conv2.conv.weight`)),
      conv2B: g(`${spec.prefix}.conv2.conv.bias`),
      emb: g(`${spec.prefix}.emb_layers.1.weight`),
      embB: g(`${spec.prefix}.emb_layers.1.bias`),
      skip: w.get(`${spec.prefix}.skip_connection.weight`),
      skipB: w.get(`${spec.prefix}.skip_connection.bias`),
    });
    this.inputBlocks = this.r.inputBlocks.map(res);
    this.outBlocks = this.r.outBlocks.map(res);
  }

  /**
   * Checks every key and shape, then loads the weights one tensor at a time.
   * @example
   * const flow = await SLatFlow.load(store, json.args, { gpu, precision: 'f32' });
   */
  static async load(
    store: WeightStore,
    config: SLatFlowConfig,
    options: SLatFlowLoadOptions,
  ): Promise<SLatFlow> {
    const r = resolveSLatFlowConfig(config);
    const loaded = await loadFlowWeights(
      store,
      slatFlowExpectedShapes(config),
      'SLatFlowModelMaskAsCondWeighted',
      config.use_fp16,
      options,
      MODEL_DTYPE_KEY,
      r,
    );
    return new SLatFlow(config, options.gpu, loaded);
  }

  /** Releases the weights (the conv GEMM operands alias the stored k = 3 weights). */
  dispose(): void {
    disposeLoadedFlow(this.core);
  }

  /** SparseResBlock3d; `tSilu` = SiLU(t_emb) in the model dtype [1, C]; `target` = the pre-downsample tensor. */
  private resBlock(
    x: SparseTensor,
    b: ResBlockWeights,
    tSilu: Tensor,
    target: SparseTensor | null,
  ): SparseTensor {
    const { cout } = b.spec;
    const emb = linear(tSilu, b.emb, b.embB);
    const scale = slice(emb, 1, 0, cout); // SCALE FIRST (torch.chunk order)
    const shift = slice(emb, 1, cout, 2 * cout);
    emb.dispose();
    let xs = x;
    if (b.spec.down) xs = sparseDownsample(x);
    else if (b.spec.up) {
      if (!target)
        throw new Error(`SLatFlow: ${b.spec.prefix} upsamples but no pre-downsample tensor is known`);
      xs = sparseUpsample(x, target);
    }
    const n1 = layerNorm(xs.feats, { weight: b.norm1W, bias: b.norm1B, eps: RES_LN_EPS });
    const a1 = silu(n1);
    n1.dispose();
    const c1 = submConv3d(xs.withFeats(a1), b.conv1, b.conv1B);
    a1.dispose();
    const n2 = modulatedLayerNorm(c1.feats, shift, scale, { eps: RES_LN_EPS });
    c1.feats.dispose();
    scale.dispose();
    shift.dispose();
    const a2 = silu(n2);
    n2.dispose();
    const c2 = submConv3d(xs.withFeats(a2), b.conv2, b.conv2B);
    a2.dispose();
    const sk = b.skip ? linear(xs.feats, b.skip, b.skipB) : xs.feats;
    const out = add(c2.feats, sk);
    c2.feats.dispose();
    if (sk !== xs.feats) sk.dispose();
    if (xs !== x) xs.feats.dispose();
    return xs.withFeats(out);
  }

  /** APE of the coordinates (x, y, z) of `h`, in the model dtype, cached with the coordinates. */
  private positionEmbedding(h: SparseTensor): Tensor {
    const key = `slat.ape.${this.r.C}.${this.dtype}.${this.gpu ? 'gpu' : 'cpu'}`;
    return h.cached(key, () => {
      const xyz = new Float32Array(h.n * 3);
      for (let i = 0; i < h.n; i++) for (let a = 0; a < 3; a++) xyz[3 * i + a] = h.coords[4 * i + 1 + a];
      return Tensor.fromArray(absolutePositionEmbedding(xyz, this.r.C), [h.n, this.r.C], {
        gpu: this.gpu,
        dtype: this.dtype,
      });
    });
  }

  /**
   * Predicted velocity for the structured latent `x` (feats [N, 8] f32 on this model's device) at model time
   * `t1000` (= 1000 t) under one view's condition. Batch 1 only (see the file notes).
   * @example
   * const v = await flow.forward(x, 1000, cond); // SparseTensor [N, 8], x's coords
   */
  async forward(x: SparseTensor, t1000: number, cond: FlowCondition): Promise<SparseTensor> {
    const { C, inC } = this.r;
    if (x.channels !== inC)
      throw new Error(`SLatFlow.forward: x must have ${inC} channels, got ${x.channels}`);
    if (x.batchSize !== 1) {
      throw new Error(
        `SLatFlow.forward: batch ${x.batchSize} > 1 is not supported (the official mask-weighted sparse attention mixes batch items; inference uses batch 1)`,
      );
    }
    const h32 = linear(x.feats, this.weight('input_layer.weight'), this.weight('input_layer.bias'));
    const hIn = this.dtype === 'f32' ? h32 : cast(h32, this.dtype);
    if (hIn !== h32) h32.dispose();
    const temb32 = flowTimeEmbedding(this.weight, t1000, 1, this.gpu);
    const temb = this.dtype === 'f32' ? temb32 : cast(temb32, this.dtype);
    const tSilu = silu(temb);
    let h = x.withFeats(hIn);
    const skips: Tensor[] = [];
    const targets: SparseTensor[] = [];
    for (const b of this.inputBlocks) {
      if (b.spec.down) targets.push(h);
      h = this.resBlock(h, b, tSilu, null);
      skips.push(h.feats);
    }
    // Only the skips own the stream between input blocks; hIn is not a skip.
    hIn.dispose();
    let feats = add(h.feats, this.positionEmbedding(h));
    const tokens = h;
    // The ModulatedSparseTransformerCrossBlockMaskAsCondWeighted stack on [1, N, C] (batch 1: dense self-attention).
    const t3 = flowBlockStack(feats.reshape([1, h.n, C]), tSilu, cond, this.core, {
      heads: this.r.heads,
      shareMod: this.r.shareMod,
      selfAttention: denseSelfAttention,
    });
    feats = t3.reshape([h.n, C]);
    h = tokens.withFeats(feats);
    for (const b of this.outBlocks) {
      const skip = skips.pop() as Tensor;
      const cat = this.r.skip ? concat([h.feats, skip], 1) : h.feats;
      const target = b.spec.up ? (targets.pop() as SparseTensor) : null;
      const next = this.resBlock(h.withFeats(cat), b, tSilu, target);
      if (cat !== h.feats) cat.dispose();
      h.feats.dispose();
      skip.dispose();
      h = next;
    }
    tSilu.dispose();
    if (temb !== temb32) temb.dispose();
    temb32.dispose();
    // Final LayerNorm in the model dtype (official order), then to f32 for out_layer.
    const hn = layerNorm(h.feats, { eps: FINAL_LN_EPS });
    h.feats.dispose();
    const hn32 = hn.dtype === 'f32' ? hn : cast(hn, 'f32');
    if (hn32 !== hn) hn.dispose();
    const out = linear(hn32, this.weight('out_layer.weight'), this.weight('out_layer.bias'));
    hn32.dispose();
    return x.withFeats(out);
  }
}
