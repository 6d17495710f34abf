/**
 * SLAT Gaussian decoder (official `SLatGaussianDecoder`, A:`.../structured_latent_vae/decoder_gs.py`,
 * ARCHITECTURE.md §f.1): the shared trunk, then `h -> f32, LayerNorm (no affine, eps 1e-5), out_layer C -> 448`,
 * then `to_representation`: per voxel 32 Gaussians whose fields are read from the 448 channels
 * (`_xyz` 96 | `_features_dc` 96 | `_scaling` 96 | `_rotation` 128 | `_opacity` 32), each times its lr multiplier;
 * `_xyz` = voxel centre + tanh(raw + offset_perturbation) / res * 0.5 * voxel_size.
 *
 * The head runs on the device; `to_representation` runs on the CPU (a few hundred thousand Gaussians: elementwise
 * work that the PLY writer / rasterizer reads from the CPU anyway). On the GPU each field's channel range is sliced
 * on the device and read back as that field's array (transformed in place), instead of one [N, 448] readback
 * re-laid out per voxel on the CPU: at the released size that saves a 36 MiB CPU copy per call (issue #6: the
 * H100 wall time of the decoder was 566 ms against 116 ms of GPU kernels; CPU-side work was most of the gap).
 *
 * @example
 * const dec = await SLatGaussianDecoder.load(store, json.args, { gpu });
 * const [gaussians] = await dec.decode(slat); // slat: SparseTensor [N, 8] at 64^3
 */

import { slice } from '../nn/ops.ts';
import type { WeightStore } from '../nn/weights.ts';
import { Gaussians } from '../representations/gaussians.ts';
import type { DType } from '../runtime/dtype.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import type { Tensor } from '../runtime/tensor.ts';
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

/** `representation_config` of the Gaussian decoder. */
export interface GaussianRepresentationConfig {
  lr: { _xyz: number; _features_dc: number; _opacity: number; _scaling: number; _rotation: number };
  perturb_offset: boolean;
  voxel_size: number;
  num_gaussians: number;
  '2d_filter_kernel_size': number;
  '3d_filter_kernel_size': number;
  scaling_bias: number;
  opacity_bias: number;
  scaling_activation: 'softplus' | 'exp';
}

/** The released decoder's representation_config (TRELLIS slat_dec_gs_swin8_B_64l8gs32_fp16). */
export const GS_REPRESENTATION_DEFAULTS: GaussianRepresentationConfig = {
  lr: { _xyz: 1.0, _features_dc: 1.0, _opacity: 1.0, _scaling: 1.0, _rotation: 0.1 },
  perturb_offset: true,
  voxel_size: 1.5,
  num_gaussians: 32,
  '2d_filter_kernel_size': 0.1,
  '3d_filter_kernel_size': 9e-4,
  scaling_bias: 4e-3,
  opacity_bias: 0.1,
  scaling_activation: 'softplus',
};

export type GaussianField = '_xyz' | '_features_dc' | '_scaling' | '_rotation' | '_opacity';
const FIELDS: readonly (readonly [GaussianField, number])[] = [
  ['_xyz', 3],
  ['_features_dc', 3],
  ['_scaling', 3],
  ['_rotation', 4],
  ['_opacity', 1],
];

/** Channel range [start, end) of each field for `g` Gaussians per voxel (official `_calc_layout` order). */
export function gaussianLayout(
  g: number,
): Record<GaussianField, readonly [number, number]> & { channels: number } {
  let start = 0;
  const out = {} as Record<GaussianField, readonly [number, number]>;
  for (const [k, w] of FIELDS) {
    out[k] = [start, start + g * w];
    start += g * w;
  }
  return { ...out, channels: start };
}

/** Radical inverse of n in `base` (official `radical_inverse`, float64). */
function radicalInverse(base: number, n: number): number {
  let val = 0;
  const inv = 1 / base;
  let invN = inv;
  let m = n;
  while (m > 0) {
    val += (m % base) * invN;
    m = Math.floor(m / base);
    invN *= inv;
  }
  return val;
}

/**
 * The `offset_perturbation` buffer [g, 3]: atanh((hammersley_3(i, g) * 2 - 1) / voxel_size), each step in f32 as
 * the constructor computes it (the buffer is also stored in checkpoints).
 * @example
 * offsetPerturbation(32, 1.5).length; // 96
 */
export function offsetPerturbation(g: number, voxelSize: number): Float32Array {
  const f = Math.fround;
  const out = new Float32Array(g * 3);
  for (let i = 0; i < g; i++) {
    const h = [i / g, radicalInverse(2, i), radicalInverse(3, i)];
    for (let a = 0; a < 3; a++) out[3 * i + a] = f(Math.atanh(f(f(f(f(h[a]) * 2) - 1) / f(voxelSize))));
  }
  return out;
}

/**
 * The official `to_representation` for one batch item: raw [rows, 448] out_layer values of voxels `coords`
 * (N x (b, x, y, z)) -> `Gaussians`, voxel-major (voxel k -> Gaussians g k .. g k + g - 1).
 * @example
 * const g = gaussiansFromDecoderOutput(raw, coords, 64, GS_REPRESENTATION_DEFAULTS, offsetPerturbation(32, 1.5));
 */
export function gaussiansFromDecoderOutput(
  raw: Float32Array,
  coords: Int32Array,
  resolution: number,
  rep: GaussianRepresentationConfig,
  perturbation: Float32Array,
): Gaussians {
  const g = rep.num_gaussians;
  const layout = gaussianLayout(g);
  const n = coords.length / 4;
  const C = layout.channels;
  if (raw.length !== n * C) {
    throw new Error(`gaussiansFromDecoderOutput: ${raw.length} values for ${n} voxels x ${C} channels`);
  }
  if (rep.perturb_offset && perturbation.length !== g * 3) {
    throw new Error(
      `gaussiansFromDecoderOutput: offset_perturbation has ${perturbation.length} values, want ${g * 3}`,
    );
  }
  const fields = {} as Record<GaussianField, Float32Array>;
  for (const [k, w] of FIELDS) {
    // Field by field over contiguous channel runs (one copy per voxel and field).
    const [s] = layout[k];
    const gw = g * w;
    const dst = new Float32Array(n * gw);
    for (let v = 0; v < n; v++) dst.set(raw.subarray(v * C + s, v * C + s + gw), v * gw);
    fields[k] = dst;
  }
  return gaussiansFromFields(fields, coords, resolution, rep, perturbation);
}

/**
 * The `to_representation` arithmetic on the out_layer channels already split by field (each [N, g * width],
 * voxel-major, as `raw[:, range]` of the official code), transformed in place: lr multipliers, then
 * `_xyz` = voxel centre + tanh(raw + offset_perturbation) / res * 0.5 * voxel_size.
 * @example
 * const g = gaussiansFromFields(fields, coords, 64, GS_REPRESENTATION_DEFAULTS, offsetPerturbation(32, 1.5));
 */
export function gaussiansFromFields(
  fields: Record<GaussianField, Float32Array>,
  coords: Int32Array,
  resolution: number,
  rep: GaussianRepresentationConfig,
  perturbation: Float32Array,
): Gaussians {
  const f = Math.fround;
  const g = rep.num_gaussians;
  const n = coords.length / 4;
  for (const [k, w] of FIELDS) {
    if (fields[k].length !== n * g * w) {
      throw new Error(`gaussiansFromFields: ${k} has ${fields[k].length} values, want ${n} x ${g * w}`);
    }
    if (k === '_xyz') continue;
    // Float32Array stores round to float32 where the reference's float32 multiply rounds; x * 1 is x exactly.
    const lr = f(rep.lr[k]);
    const dst = fields[k];
    if (lr !== 1) for (let j = 0; j < dst.length; j++) dst[j] *= lr;
  }
  const half = f(0.5);
  const xyz = fields._xyz;
  const lrXyz = f(rep.lr._xyz);
  const scale = f(rep.voxel_size);
  const centre = new Float64Array(3);
  for (let v = 0; v < n; v++) {
    for (let a = 0; a < 3; a++) centre[a] = f(f(coords[4 * v + 1 + a] + half) / resolution);
    const o0 = v * g * 3;
    for (let j = 0; j < g * 3; j++) {
      const val = f(xyz[o0 + j] * lrXyz);
      const o = rep.perturb_offset ? f(val + perturbation[j]) : val;
      const off = f(f(f(f(Math.tanh(o)) / resolution) * half) * scale);
      xyz[o0 + j] = centre[j % 3] + off;
    }
  }
  return new Gaussians(
    {
      xyz: fields._xyz,
      featuresDc: fields._features_dc,
      scaling: fields._scaling,
      rotation: fields._rotation,
      opacity: fields._opacity,
    },
    {
      aabb: [-0.5, -0.5, -0.5, 1, 1, 1],
      minKernelSize: rep['3d_filter_kernel_size'],
      scalingBias: rep.scaling_bias,
      opacityBias: rep.opacity_bias,
      scalingActivation: rep.scaling_activation,
    },
  );
}

function repConfig(c: SlatDecoderConfig): GaussianRepresentationConfig {
  const r = (c.representation_config ?? {}) as Partial<GaussianRepresentationConfig>;
  return { ...GS_REPRESENTATION_DEFAULTS, ...r, lr: { ...GS_REPRESENTATION_DEFAULTS.lr, ...(r.lr ?? {}) } };
}

/** The exact state-dict key -> shape table of the official module. */
export function slatGsExpectedShapes(config: SlatDecoderConfig): Map<string, number[]> {
  const d = resolveSlatTrunk(config, 'SLatGaussianDecoder');
  const rep = repConfig(config);
  const m = slatTrunkExpectedShapes(d);
  const out = gaussianLayout(rep.num_gaussians).channels;
  m.set('out_layer.weight', [out, d.C]);
  m.set('out_layer.bias', [out]);
  m.set('offset_perturbation', [rep.num_gaussians, 3]);
  return m;
}

export class SLatGaussianDecoder {
  readonly config: SlatDecoderConfig;
  readonly dims: SlatTrunkDims;
  readonly rep: GaussianRepresentationConfig;
  readonly dtype: DType;
  readonly gpu: GpuContext | null;
  /** The checkpoint's offset_perturbation buffer [g, 3]. */
  readonly perturbation: Float32Array;
  private readonly trunk: SlatTrunk;
  private readonly w: Map<string, Tensor>;

  private constructor(
    config: SlatDecoderConfig,
    gpu: GpuContext | null,
    dtype: DType,
    w: Map<string, Tensor>,
    perturbation: Float32Array,
  ) {
    this.config = config;
    this.dims = resolveSlatTrunk(config, 'SLatGaussianDecoder');
    this.rep = repConfig(config);
    this.gpu = gpu;
    this.dtype = dtype;
    this.w = w;
    this.perturbation = perturbation;
    this.trunk = new SlatTrunk(this.dims, w, dtype);
  }

  /**
   * Checks every key and shape, then loads the weights (block Linear layers in the model dtype).
   * @example
   * const dec = await SLatGaussianDecoder.load(store, json.args, { gpu, precision: 'auto' });
   */
  static async load(
    store: WeightStore,
    config: SlatDecoderConfig,
    options: SlatDecoderLoadOptions,
  ): Promise<SLatGaussianDecoder> {
    const expected = slatGsExpectedShapes(config);
    const dtype = slatModelDtype(config, options);
    // checkWeights sees the full table (the buffer included); the buffer itself is used on the CPU.
    const w = await loadSlatWeights(
      store,
      new Map([...expected].filter(([k]) => k !== 'offset_perturbation')),
      (k) => TRUNK_F16_KEY.test(k),
      options.gpu,
      dtype,
      'SLatGaussianDecoder',
      expected,
    );
    const perturbation = await store.readFloat32('offset_perturbation');
    return new SLatGaussianDecoder(config, options.gpu, dtype, w, Float32Array.from(perturbation));
  }

  dispose(): void {
    for (const t of this.w.values()) t.dispose();
  }

  /** Trunk + final LayerNorm + out_layer: the raw [N, 448] f32 output (rows in x's order). */
  forwardRaw(x: SparseTensor): Tensor {
    return this.trunk.forwardHead(x);
  }

  /**
   * Decodes a structured latent into one `Gaussians` per batch item.
   * @example
   * const [g] = await dec.decode(slat);
   */
  async decode(x: SparseTensor): Promise<Gaussians[]> {
    const out = this.forwardRaw(x);
    const g = this.rep.num_gaussians;
    const layout = gaussianLayout(g);
    let whole: Record<GaussianField, Float32Array>;
    try {
      if (!out.gpu) {
        const raw = await out.toArray();
        const res: Gaussians[] = [];
        for (let b = 0; b < x.batchSize; b++) {
          const [s, e] = [x.batchStarts[b], x.batchStarts[b + 1]];
          res.push(
            gaussiansFromDecoderOutput(
              raw.subarray(s * layout.channels, e * layout.channels),
              x.coords.subarray(4 * s, 4 * e),
              this.dims.res,
              this.rep,
              this.perturbation,
            ),
          );
        }
        return res;
      }
      // On the GPU each field's channel range is sliced into a contiguous tensor and read back as the field
      // array itself: no [N, 448] CPU copy and no per-voxel re-layout on the CPU.
      whole = {} as Record<GaussianField, Float32Array>;
      for (const [k] of FIELDS) {
        const [s, e] = layout[k];
        const part = slice(out, 1, s, e);
        try {
          whole[k] = await part.toArray();
        } finally {
          part.dispose();
        }
      }
    } finally {
      out.dispose();
    }
    const res: Gaussians[] = [];
    for (let b = 0; b < x.batchSize; b++) {
      const [s, e] = [x.batchStarts[b], x.batchStarts[b + 1]];
      const item = {} as Record<GaussianField, Float32Array>;
      for (const [k, w] of FIELDS) {
        const part = whole[k].subarray(s * g * w, e * g * w);
        item[k] = x.batchSize === 1 ? part : part.slice(); // items own separate buffers
      }
      res.push(
        gaussiansFromFields(
          item,
          x.coords.subarray(4 * s, 4 * e),
          this.dims.res,
          this.rep,
          this.perturbation,
        ),
      );
    }
    return res;
  }
}
