/**
 * SLAT mesh decoder network (official `SLatMeshDecoder`, A:`.../structured_latent_vae/decoder_mesh.py`,
 * ARCHITECTURE.md §f.2) up to its FlexiCubes features: the shared trunk (no final LayerNorm), two
 * `SparseSubdivideBlock3d` (C -> C/4 at 2x resolution, C/4 -> C/8 at 4x), then `h -> f32, out_layer C/8 -> 101`.
 * The result is 101 channels per voxel at 4 * resolution (256^3 for the released model): sdf 8 | deform 24 |
 * weights 21 | colour 48, which `extractMesh` (src/representations/flexicubes.ts) turns into a mesh.
 *
 * SparseSubdivideBlock3d(C -> C'):
 *   h = SiLU(GroupNorm32(x))                     # 32 groups, eps 1e-5, affine; statistics per batch item, f32
 *   h, x = subdivide(h), subdivide(x)            # 8 children per voxel at 2c + (i, j, k), features copied
 *   h = conv3(SiLU(GroupNorm32(conv3(h))))       # submanifold 3x3x3 convolutions at the new resolution
 *   return h + skip(x)                           # skip = SubMConv k = 1 with spconv's [Cin, Cout] reinterpretation
 *
 * Precision (use_fp16): block Linear layers, the subdivide blocks' convolutions and the stream are f16; GroupNorm
 * computes in f32 and rounds once to the stream dtype (GroupNorm32); out_layer is f32.
 *
 * Memory (released size, N = 20k voxels, f16; the second subdivide block and the output dominate): the official
 * order materialises subdivide(x) for the skip branch (N * 8 * 192 values, 491 MiB) next to subdivide(h) (491 MiB)
 * and the convolution's output; the skip (k = 1, a per-row Linear) is computed here on the parents and subdivided
 * after, which is the same rows. The f32 output [64 N, 101] (517 MiB) and its f32 input (491 MiB) are produced and
 * read back in 64 MiB blocks of rows by `decodeFeatures` instead of whole. Estimated peak of the block: ~1.8 GiB ->
 * ~1.3 GiB; of the output step: ~1.5 GiB -> ~0.4 GiB (by shapes). The buffer pool keeps every freed buffer (per
 * power-of-two size) until the stage ends, so the H100 run with those changes still peaked at 3.16 GiB in this stage
 * (21k voxels, docs/measurements/2026-11-27-h100-pipeline-ours.json); `decodeFeatures` now also hands the pool back
 * after the trunk and after each block (sync + trimPool): -24% peak on lavapipe at width 256 and 125k output rows
 * (146 -> 111 MiB); not yet re-measured at full size.
 *
 * @example
 * const dec = await SLatMeshDecoder.load(store, json.args, { gpu });
 * const { coords, feats, resolution } = await dec.decodeFeatures(slat);
 * const mesh = extractMesh(coords, feats, { resolution });
 */

import { add, cast, concat, groupNorm, linear, silu, slice } from '../nn/ops.ts';
import type { WeightStore } from '../nn/weights.ts';
import type { DType } from '../runtime/dtype.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import type { Tensor } from '../runtime/tensor.ts';
import { prepareSparseConvWeight, type SparseConvWeight, submConv3d } from '../sparse/conv.ts';
import { sparseSubdivide } from '../sparse/resample.ts';
import type { SparseTensor } from '../sparse/sparse-tensor.ts';
import {
  loadSlatWeights,
  resolveSlatTrunk,
  type SlatDecoderConfig,
  type SlatDecoderLoadOptions,
  SlatTrunk,
  type SlatTrunkDims,
  slatModelDtype,
  slatTrunkExpectedShapes,
  TRUNK_F16_KEY,
} from './slat-decoder-base.ts';

/** FlexiCubes feature channels with colour (`SparseFeatures2Mesh._calc_layout`, use_color true). */
export const MESH_FEATURE_CHANNELS = 101;
/** Channel ranges [start, end) of the 101 features. */
export const MESH_FEATURE_LAYOUT = {
  sdf: [0, 8],
  deform: [8, 32],
  weights: [32, 53],
  color: [53, 101],
} as const;
const GROUPS = 32;
const GN_EPS = 1e-5;
/** Options of {@link SLatMeshDecoder.decodeFeatures}. */
export interface DecodeFeaturesOptions {
  /** Upper bound of one block of the f32 output (and of its f32 input), in bytes. */
  outBlockBytes?: number;
}

export const DECODE_FEATURES_DEFAULTS: Required<DecodeFeaturesOptions> = { outBlockBytes: 64 * 1024 * 1024 };
const UPSAMPLE_F16_KEY = /^upsample\.\d+\.(out_layers\.[03]|skip_connection)\.conv\./;

/** Channels through the two subdivide blocks: C -> C/4 -> C/8. */
function upsampleChannels(C: number): [number, number][] {
  return [
    [C, C / 4],
    [C / 4, C / 8],
  ];
}

function featureChannels(config: SlatDecoderConfig): number {
  const useColor = (config.representation_config as { use_color?: boolean } | undefined)?.use_color ?? false;
  return useColor ? MESH_FEATURE_CHANNELS : 53;
}

/** The exact state-dict key -> shape table of the official module. */
export function slatMeshExpectedShapes(config: SlatDecoderConfig): Map<string, number[]> {
  const d = resolveSlatTrunk(config, 'SLatMeshDecoder');
  if (d.C % 8 !== 0 || (d.C / 8) % GROUPS !== 0) {
    throw new Error(
      `SLatMeshDecoder config: model_channels ${d.C} must be a multiple of 256 (GroupNorm(32) runs on model_channels / 8)`,
    );
  }
  const m = slatTrunkExpectedShapes(d);
  upsampleChannels(d.C).forEach(([cin, cout], i) => {
    const p = `upsample.${i}`;
    m.set(`${p}.act_layers.0.weight`, [cin]);
    m.set(`${p}.act_layers.0.bias`, [cin]);
    m.set(`${p}.out_layers.0.conv.weight`, [cout, 3, 3, 3, cin]);
    m.set(`${p}.out_layers.0.conv.bias`, [cout]);
    m.set(`${p}.out_layers.1.weight`, [cout]);
    m.set(`${p}.out_layers.1.bias`, [cout]);
    m.set(`${p}.out_layers.3.conv.weight`, [cout, 3, 3, 3, cout]);
    m.set(`${p}.out_layers.3.conv.bias`, [cout]);
    m.set(`${p}.skip_connection.conv.weight`, [cout, 1, 1, 1, cin]);
    m.set(`${p}.skip_connection.conv.bias`, [cout]);
  });
  const out = featureChannels(config);
  m.set('out_layer.weight', [out, d.C / 8]);
  m.set('out_layer.bias', [out]);
  return m;
}

/**
 * GroupNorm32 over a sparse tensor's features, statistics per batch item (official `SparseGroupNorm32`): f32
 * arithmetic, output in the features' dtype.
 * @example
 * const h = sparseGroupNorm(x, weight, bias); // x [N, C], C % 32 === 0
 */
export function sparseGroupNorm(x: SparseTensor, weight: Tensor | null, bias: Tensor | null): Tensor {
  const opts = { groups: GROUPS, eps: GN_EPS };
  if (x.batchSize === 1) return groupNorm(x.feats, weight, bias, opts);
  const parts: Tensor[] = [];
  for (let b = 0; b < x.batchSize; b++) {
    const rows = slice(x.feats, 0, x.batchStarts[b], x.batchStarts[b + 1]);
    parts.push(groupNorm(rows, weight, bias, opts));
    rows.dispose();
  }
  const out = concat(parts, 0);
  for (const t of parts) t.dispose();
  return out;
}

interface SubdivideWeights {
  gn1W: Tensor;
  gn1B: Tensor;
  conv1: SparseConvWeight;
  conv1B: Tensor;
  gn2W: Tensor;
  gn2B: Tensor;
  conv2: SparseConvWeight;
  conv2B: Tensor;
  skip: SparseConvWeight;
  skipB: Tensor;
}

/** The mesh decoder's per-voxel FlexiCubes features at 4x the latent resolution. */
export interface MeshFeatures {
  /** [M*4] (batch, x, y, z) at `resolution`, in the official row order (subdivision children order). */
  coords: Int32Array;
  /** [M*101] float32. */
  feats: Float32Array;
  resolution: number;
}

export class SLatMeshDecoder {
  readonly config: SlatDecoderConfig;
  readonly dims: SlatTrunkDims;
  readonly dtype: DType;
  readonly gpu: GpuContext | null;
  private readonly trunk: SlatTrunk;
  private readonly w: Map<string, Tensor>;
  private readonly blocks: SubdivideWeights[] = [];

  private constructor(
    config: SlatDecoderConfig,
    gpu: GpuContext | null,
    dtype: DType,
    w: Map<string, Tensor>,
  ) {
    this.config = config;
    this.dims = resolveSlatTrunk(config, 'SLatMeshDecoder');
    this.gpu = gpu;
    this.dtype = dtype;
    this.w = w;
    this.trunk = new SlatTrunk(this.dims, w, dtype);
    const g = (k: string) => this.trunk.weight(k);
    for (let i = 0; i < 2; i++) {
      const p = `upsample.${i}`;
      this.blocks.push({
        gn1W: g(`${p}.act_layers.0.weight`),
        gn1B: g(`${p}.act_layers.0.bias`),
        conv1: prepareSparseConvWeight(g(`${p}.out_layers.0.conv.weight`)),
        conv1B: g(`${p}.out_layers.0.conv.bias`),
        gn2W: g(`${p}.out_layers.1.weight`),
        gn2B: g(`${p}.out_layers.1.bias`),
        conv2: prepareSparseConvWeight(g(`${p}.out_layers.3.conv.weight`)),
        conv2B: g(`${p}.out_layers.3.conv.bias`),
        skip: prepareSparseConvWeight(g(`${p}.skip_connection.conv.weight`)),
        skipB: g(`${p}.skip_connection.conv.bias`),
      });
    }
  }

  /**
   * Checks every key and shape, then loads the weights (block Linear layers and the subdivide blocks'
   * convolutions in the model dtype; GroupNorm, input and output layers f32).
   * @example
   * const dec = await SLatMeshDecoder.load(store, json.args, { gpu });
   */
  static async load(
    store: WeightStore,
    config: SlatDecoderConfig,
    options: SlatDecoderLoadOptions,
  ): Promise<SLatMeshDecoder> {
    const expected = slatMeshExpectedShapes(config);
    const dtype = slatModelDtype(config, options);
    const w = await loadSlatWeights(
      store,
      expected,
      (k) => TRUNK_F16_KEY.test(k) || UPSAMPLE_F16_KEY.test(k),
      options.gpu,
      dtype,
      'SLatMeshDecoder',
    );
    return new SLatMeshDecoder(config, options.gpu, dtype, w);
  }

  dispose(): void {
    // k = 1 weights are re-laid-out copies; k = 3 matrices alias the loaded tensors.
    for (const b of this.blocks) b.skip.matrix.dispose();
    for (const t of this.w.values()) t.dispose();
  }

  private subdivideBlock(x: SparseTensor, b: SubdivideWeights): SparseTensor {
    // The skip branch (a k = 1 convolution, i.e. the same Linear on every row) runs on the parent rows and is
    // subdivided afterwards: the 8 children of a voxel carry copies of its features, so this gives exactly the
    // official subdivide-then-convolve rows with 1/8 of the work, and the subdivided input (N * 8 * Cin values,
    // 491 MiB in f16 for the second block at 20k voxels) is never materialised.
    const skipParent = submConv3d(x, b.skip, b.skipB);
    const n1 = sparseGroupNorm(x, b.gn1W, b.gn1B);
    const a1 = silu(n1);
    n1.dispose();
    const hs = sparseSubdivide(x.withFeats(a1));
    a1.dispose();
    const c1 = submConv3d(hs, b.conv1, b.conv1B);
    hs.feats.dispose();
    const n2 = sparseGroupNorm(c1, b.gn2W, b.gn2B);
    c1.feats.dispose();
    const a2 = silu(n2);
    n2.dispose();
    const c2 = submConv3d(c1.withFeats(a2), b.conv2, b.conv2B);
    a2.dispose();
    const skip = sparseSubdivide(skipParent);
    skipParent.feats.dispose();
    const out = add(c2.feats, skip.feats);
    c2.feats.dispose();
    skip.feats.dispose();
    return c2.withFeats(out);
  }

  /** Waits for the queued work and destroys the pooled (free) buffers. */
  private async releasePool(): Promise<void> {
    if (!this.gpu) return;
    await this.gpu.sync();
    this.gpu.trimPool();
  }

  /** Trunk + the two subdivide blocks: [M, C/8] in the model dtype at 4x resolution (caller owns the feats). */
  private forwardFeatures(x: SparseTensor): SparseTensor {
    let h = this.trunk.forward(x);
    for (const b of this.blocks) {
      const next = this.subdivideBlock(h, b);
      h.feats.dispose();
      h = next;
    }
    return h;
  }

  /** out_layer (in f32, as the official `h.type(x.dtype)` then Linear) on rows [r0, r1) of `h`. */
  private outLayer(h: Tensor, r0: number, r1: number): Tensor {
    const rows = r0 === 0 && r1 === h.shape[0] ? h : slice(h, 0, r0, r1);
    const h32 = rows.dtype === 'f32' ? rows : cast(rows, 'f32');
    if (rows !== h && rows !== h32) rows.dispose();
    const out = linear(h32, this.trunk.weight('out_layer.weight'), this.trunk.weight('out_layer.bias'));
    if (h32 !== h) h32.dispose();
    return out;
  }

  /**
   * Trunk + the two subdivide blocks + out_layer: [M, 101] f32 features at 4x resolution (on x's device).
   * The intermediate tensors are disposed; the caller owns the result's feats (and may call disposeCache on x).
   */
  forward(x: SparseTensor): SparseTensor {
    const h = this.forwardFeatures(x);
    const out = this.outLayer(h.feats, 0, h.n);
    h.feats.dispose();
    return h.withFeats(out);
  }

  /**
   * Runs the network and reads the features back for the FlexiCubes extractor.
   * @example
   * const { coords, feats, resolution } = await dec.decodeFeatures(slat); // feats.length === 101 * coords.length / 4
   */
  async decodeFeatures(x: SparseTensor, options: DecodeFeaturesOptions = {}): Promise<MeshFeatures> {
    // `??` rather than a spread: an explicit `undefined` must still get the default.
    const outBlockBytes = options.outBlockBytes ?? DECODE_FEATURES_DEFAULTS.outBlockBytes;
    if (!(outBlockBytes > 0))
      throw new Error(`decodeFeatures: outBlockBytes must be > 0, got ${outBlockBytes}`);
    // Phase by phase, handing the pooled buffers of the finished phase back to the device: the pool keeps freed
    // buffers per power-of-two size until the stage ends, and the trunk's and the first block's sizes are mostly
    // not reused by the second block (H100, full size, 21k voxels: the stage peaked at 3.16 GiB without this).
    let h = this.trunk.forward(x);
    await this.releasePool();
    for (const b of this.blocks) {
      const next = this.subdivideBlock(h, b);
      h.feats.dispose();
      h = next;
      await this.releasePool();
    }
    const outC = this.trunk.weight('out_layer.bias').shape[0];
    const feats = new Float32Array(h.n * outC);
    // The f32 output (and its f32 input) in blocks of rows, each read back before the next: at 20k voxels the whole
    // [1.3 M, 101] output and its input would hold ~1 GiB at once (plus the readback copy).
    const rowsPerBlock = Math.max(1, Math.floor(outBlockBytes / (4 * Math.max(outC, h.channels))));
    try {
      for (let r0 = 0; r0 < h.n; r0 += rowsPerBlock) {
        const r1 = Math.min(h.n, r0 + rowsPerBlock);
        const out = this.outLayer(h.feats, r0, r1);
        try {
          feats.set(await out.toArray(), r0 * outC);
        } finally {
          out.dispose();
        }
      }
    } finally {
      h.feats.dispose();
    }
    return { coords: h.coords, feats, resolution: this.dims.res * 4 };
  }
}
