/**
 * Stage 1 decoder: the sparse-structure VAE decoder (`SparseStructureDecoder`), latent [B, 8, 16^3] -> occupancy
 * logits [B, 1, 64^3] -> occupied voxel coordinates. ARCHITECTURE.md §d.
 *
 * Volumes are channel-last inside ([B, D, H, W, C]): convolutions become implicit GEMMs and the official
 * ChannelLayerNorm32 (LayerNorm over channels at every voxel) is a plain last-dim LayerNorm.
 * Precision: the input conv and the output head run in f32; with use_fp16 the res-blocks and upsampling convs run
 * in f16 (norms compute in f32 and round back), as the official module does.
 */

import {
  add,
  type Conv3dWeight,
  cast,
  conv3d,
  layerNorm,
  permute,
  pixelShuffle3d,
  prepareConv3dWeight,
  silu,
} from '../nn/ops.ts';
import { checkWeights, type WeightStore } from '../nn/weights.ts';
import type { DType } from '../runtime/dtype.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import type { Tensor } from '../runtime/tensor.ts';

const CHANNEL_LN_EPS = 1e-5;
/** Occupied iff logit > 0 (strict), as `argwhere(logits > 0)`. */
export const OCCUPANCY_THRESHOLD = 0;

export interface SsDecoderConfig {
  out_channels: number;
  latent_channels: number;
  num_res_blocks: number;
  channels: number[];
  num_res_blocks_middle?: number;
  norm_type?: 'layer' | 'group';
  use_fp16?: boolean;
}

export const SS_DECODER_CONFIG_DEFAULTS = {
  num_res_blocks_middle: 2,
  norm_type: 'layer',
  use_fp16: false,
} as const;

type BlockSpec =
  | { kind: 'res'; prefix: string; ch: number }
  | { kind: 'up'; prefix: string; inC: number; outC: number };

function blockSpecs(c: SsDecoderConfig): BlockSpec[] {
  const d = { ...SS_DECODER_CONFIG_DEFAULTS, ...c };
  if (d.norm_type !== 'layer')
    throw new Error(
      `SparseStructureDecoder: norm_type '${d.norm_type}' is not supported (released: 'layer')`,
    );
  const specs: BlockSpec[] = [];
  for (let i = 0; i < d.num_res_blocks_middle; i++)
    specs.push({ kind: 'res', prefix: `middle_block.${i}`, ch: d.channels[0] });
  let k = 0;
  d.channels.forEach((ch, i) => {
    for (let j = 0; j < d.num_res_blocks; j++) specs.push({ kind: 'res', prefix: `blocks.${k++}`, ch });
    if (i < d.channels.length - 1)
      specs.push({ kind: 'up', prefix: `blocks.${k++}`, inC: ch, outC: d.channels[i + 1] });
  });
  return specs;
}

/** The exact state-dict key -> shape table of the official module. */
export function ssDecoderExpectedShapes(c: SsDecoderConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const ch0 = c.channels[0];
  const last = c.channels[c.channels.length - 1];
  m.set('input_layer.weight', [ch0, c.latent_channels, 3, 3, 3]);
  m.set('input_layer.bias', [ch0]);
  for (const s of blockSpecs(c)) {
    if (s.kind === 'res') {
      for (const n of ['norm1', 'norm2']) {
        m.set(`${s.prefix}.${n}.weight`, [s.ch]);
        m.set(`${s.prefix}.${n}.bias`, [s.ch]);
      }
      for (const n of ['conv1', 'conv2']) {
        m.set(`${s.prefix}.${n}.weight`, [s.ch, s.ch, 3, 3, 3]);
        m.set(`${s.prefix}.${n}.bias`, [s.ch]);
      }
    } else {
      m.set(`${s.prefix}.conv.weight`, [s.outC * 8, s.inC, 3, 3, 3]);
      m.set(`${s.prefix}.conv.bias`, [s.outC * 8]);
    }
  }
  m.set('out_layer.0.weight', [last]);
  m.set('out_layer.0.bias', [last]);
  m.set('out_layer.2.weight', [c.out_channels, last, 3, 3, 3]);
  m.set('out_layer.2.bias', [c.out_channels]);
  return m;
}

export interface SsDecoderLoadOptions {
  gpu: GpuContext | null;
  precision?: 'auto' | 'f32' | 'f16';
}

export class SparseStructureDecoder {
  readonly config: SsDecoderConfig;
  readonly dtype: DType;
  private readonly specs: BlockSpec[];
  private readonly convs = new Map<string, { w: Conv3dWeight; b: Tensor }>();
  private readonly tensors = new Map<string, Tensor>();

  private constructor(config: SsDecoderConfig, dtype: DType) {
    this.config = config;
    this.dtype = dtype;
    this.specs = blockSpecs(config);
  }

  /**
   * @example
   * const dec = await SparseStructureDecoder.load(store, json.args, { gpu });
   * const logits = dec.forward(z); // [1, 64, 64, 64, 1] channel-last
   */
  static async load(
    store: WeightStore,
    config: SsDecoderConfig,
    options: SsDecoderLoadOptions,
  ): Promise<SparseStructureDecoder> {
    const expected = ssDecoderExpectedShapes(config);
    checkWeights(store, expected, 'SparseStructureDecoder');
    const gpu = options.gpu;
    const precision = options.precision ?? 'auto';
    const wantF16 = precision === 'f16' || (precision === 'auto' && !!config.use_fp16);
    const dtype: DType = wantF16 && (!gpu || gpu.features.f16) ? 'f16' : 'f32';
    const dec = new SparseStructureDecoder(config, dtype);
    for (const [name, shape] of expected) {
      const inTorso = name.startsWith('blocks.') || name.startsWith('middle_block.');
      // convert_module_to_f16 touches only Conv3d/Linear parameters of the torso; norms stay f32.
      const isConvParam = /conv\d?\.(weight|bias)$|input_layer|out_layer\.2/.test(name);
      const wdtype: DType = inTorso && isConvParam ? dtype : 'f32';
      if (name.endsWith('.weight') && shape.length === 5) {
        const biasName = name.replace(/weight$/, 'bias');
        const w = await store.load(name, { gpu, dtype: 'f32' });
        const b = await store.load(biasName, { gpu, dtype: wdtype });
        dec.convs.set(name.replace(/\.weight$/, ''), { w: prepareConv3dWeight(w, { dtype: wdtype }), b });
        w.dispose();
      } else if (!(name.endsWith('.bias') && expected.get(name.replace(/bias$/, 'weight'))?.length === 5)) {
        dec.tensors.set(name, await store.load(name, { gpu, dtype: 'f32' }));
      }
    }
    return dec;
  }

  dispose(): void {
    for (const c of this.convs.values()) {
      c.w.dispose();
      c.b.dispose();
    }
    for (const t of this.tensors.values()) t.dispose();
  }

  private conv(name: string, x: Tensor): Tensor {
    const c = this.convs.get(name);
    if (!c) throw new Error(`SparseStructureDecoder: conv ${name} not loaded`);
    return conv3d(x, c.w, c.b);
  }

  private norm(name: string, x: Tensor): Tensor {
    return layerNorm(x, {
      weight: this.tensors.get(`${name}.weight`),
      bias: this.tensors.get(`${name}.bias`),
      eps: CHANNEL_LN_EPS,
    });
  }

  private resBlock(prefix: string, x: Tensor): Tensor {
    const n1 = this.norm(`${prefix}.norm1`, x);
    const a1 = silu(n1);
    n1.dispose();
    const h1 = this.conv(`${prefix}.conv1`, a1);
    a1.dispose();
    const n2 = this.norm(`${prefix}.norm2`, h1);
    h1.dispose();
    const a2 = silu(n2);
    n2.dispose();
    const h2 = this.conv(`${prefix}.conv2`, a2);
    a2.dispose();
    const out = add(h2, x);
    h2.dispose();
    return out;
  }

  /**
   * Latent z [B, 8, R, R, R] (PyTorch layout, f32) -> logits [B, 4R, 4R, 4R, out_channels] (channel-last, f32).
   */
  forward(z: Tensor): Tensor {
    const lc = this.config.latent_channels;
    if (z.rank !== 5 || z.shape[1] !== lc)
      throw new Error(
        `SparseStructureDecoder.forward: z must be [B, ${lc}, D, H, W], got [${z.shape.join(', ')}]`,
      );
    const zl = permute(z, [0, 2, 3, 4, 1]);
    const h0 = this.conv('input_layer', zl);
    zl.dispose();
    let h = this.dtype === 'f32' ? h0 : cast(h0, this.dtype);
    if (h !== h0) h0.dispose();
    for (const s of this.specs) {
      let next: Tensor;
      if (s.kind === 'res') next = this.resBlock(s.prefix, h);
      else {
        const c = this.conv(`${s.prefix}.conv`, h);
        next = pixelShuffle3d(c);
        c.dispose();
      }
      h.dispose();
      h = next;
    }
    const h32 = this.dtype === 'f32' ? h : cast(h, 'f32');
    if (h32 !== h) h.dispose();
    const n = this.norm('out_layer.0', h32);
    h32.dispose();
    const a = silu(n);
    n.dispose();
    const out = this.conv('out_layer.2', a);
    a.dispose();
    return out;
  }
}

/** Occupied voxel coordinates [N, 4] (batch, x, y, z), lexicographic, from channel-last logits [B, D, H, W, 1]. */
export function occupiedCoords(logits: Float32Array, shape: readonly number[]): Int32Array {
  const [B, D, H, W] = shape;
  const out: number[] = [];
  for (let b = 0; b < B; b++)
    for (let x = 0; x < D; x++)
      for (let y = 0; y < H; y++)
        for (let z = 0; z < W; z++)
          if (logits[((b * D + x) * H + y) * W + z] > OCCUPANCY_THRESHOLD) out.push(b, x, y, z);
  return Int32Array.from(out);
}
