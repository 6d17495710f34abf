/**
 * SLAT radiance-field decoder (official `SLatRadianceFieldDecoder`, A:`.../structured_latent_vae/decoder_rf.py`,
 * ARCHITECTURE.md §f.3; optional, Amodal3R's pipeline does not call it): the shared trunk, then
 * `h -> f32, LayerNorm (no affine, eps 1e-5), out_layer C -> rank * (3 dim + 1 + 3)`, then `to_representation`
 * into Strivec parameters per voxel: `trivec` [rank, 3, dim] (+1), `density` [rank], `features_dc` [rank, 1, 3].
 * The parameters are returned as plain arrays; there is no Strivec renderer in this port.
 *
 * @example
 * const dec = await SLatRadianceFieldDecoder.load(store, json.args, { gpu });
 * const [rf] = await dec.decode(slat); // rf.trivec.length === N * 16 * 3 * 8
 */

import { slice } from '../nn/ops.ts';
import type { WeightStore } from '../nn/weights.ts';
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

/** `representation_config` of the RF decoder (released: rank 16, dim 8). */
export interface StrivecRepresentationConfig {
  rank: number;
  dim: number;
}

export const RF_REPRESENTATION_DEFAULTS: StrivecRepresentationConfig = { rank: 16, dim: 8 };

/** One batch item's Strivec parameters (official `Strivec` fields set by `to_representation`). */
export interface StrivecParams {
  resolution: number;
  rank: number;
  dim: number;
  /** [N*3] voxel centres (coord + 0.5) / resolution in [0, 1]. */
  position: Float32Array;
  /** [N] octree depth log2(resolution). */
  depth: Uint8Array;
  /** [N, rank, 3, dim] raw + 1. */
  trivec: Float32Array;
  /** [N, rank]. */
  density: Float32Array;
  /** [N, rank, 1, 3]. */
  featuresDc: Float32Array;
  /** Always 0 (the decoder sets `density_shift = 0`). */
  densityShift: number;
}

/** Channels per voxel and the start of each field. */
export function strivecLayout(rep: StrivecRepresentationConfig): {
  trivec: number;
  density: number;
  featuresDc: number;
  channels: number;
} {
  const t = rep.rank * 3 * rep.dim;
  return { trivec: 0, density: t, featuresDc: t + rep.rank, channels: t + rep.rank + rep.rank * 3 };
}

/**
 * The official `to_representation` for one batch item: raw [N, channels] -> Strivec parameters.
 * @example
 * const p = strivecFromDecoderOutput(raw, coords, 64, { rank: 16, dim: 8 });
 */
export function strivecFromDecoderOutput(
  raw: Float32Array,
  coords: Int32Array,
  resolution: number,
  rep: StrivecRepresentationConfig,
): StrivecParams {
  const L = strivecLayout(rep);
  const n = coords.length / 4;
  if (raw.length !== n * L.channels) {
    throw new Error(
      `strivecFromDecoderOutput: ${raw.length} values for ${n} voxels x ${L.channels} channels`,
    );
  }
  const tv = rep.rank * 3 * rep.dim;
  const trivec = new Float32Array(n * tv);
  const density = new Float32Array(n * rep.rank);
  const featuresDc = new Float32Array(n * rep.rank * 3);
  for (let v = 0; v < n; v++) {
    const r = v * L.channels;
    trivec.set(raw.subarray(r, r + tv), v * tv);
    density.set(raw.subarray(r + L.density, r + L.density + rep.rank), v * rep.rank);
    featuresDc.set(raw.subarray(r + L.featuresDc, r + L.channels), v * rep.rank * 3);
  }
  return strivecFromFields({ trivec, density, featuresDc }, coords, resolution, rep);
}

/**
 * `to_representation` on the out_layer channels already split by field (trivec [N, rank*3*dim], density
 * [N, rank], features_dc [N, rank*3], as `raw[:, range]`); trivec gets its + 1 in place.
 * @example
 * const p = strivecFromFields({ trivec, density, featuresDc }, coords, 64, { rank: 16, dim: 8 });
 */
export function strivecFromFields(
  fields: { trivec: Float32Array; density: Float32Array; featuresDc: Float32Array },
  coords: Int32Array,
  resolution: number,
  rep: StrivecRepresentationConfig,
): StrivecParams {
  const n = coords.length / 4;
  const { trivec, density, featuresDc } = fields;
  const want = [rep.rank * 3 * rep.dim, rep.rank, rep.rank * 3];
  [trivec, density, featuresDc].forEach((a, i) => {
    if (a.length !== n * want[i]) {
      throw new Error(`strivecFromFields: field ${i} has ${a.length} values, want ${n} x ${want[i]}`);
    }
  });
  for (let j = 0; j < trivec.length; j++) trivec[j] += 1; // the store rounds to float32, as raw + 1 does
  const position = new Float32Array(n * 3);
  for (let v = 0; v < n; v++) {
    for (let a = 0; a < 3; a++) position[3 * v + a] = Math.fround((coords[4 * v + 1 + a] + 0.5) / resolution);
  }
  return {
    resolution,
    rank: rep.rank,
    dim: rep.dim,
    position,
    depth: new Uint8Array(n).fill(Math.round(Math.log2(resolution))),
    trivec,
    density,
    featuresDc,
    densityShift: 0,
  };
}

function repConfig(c: SlatDecoderConfig): StrivecRepresentationConfig {
  return {
    ...RF_REPRESENTATION_DEFAULTS,
    ...((c.representation_config ?? {}) as Partial<StrivecRepresentationConfig>),
  };
}

/** The exact state-dict key -> shape table of the official module. */
export function slatRfExpectedShapes(config: SlatDecoderConfig): Map<string, number[]> {
  const d = resolveSlatTrunk(config, 'SLatRadianceFieldDecoder');
  const m = slatTrunkExpectedShapes(d);
  const out = strivecLayout(repConfig(config)).channels;
  m.set('out_layer.weight', [out, d.C]);
  m.set('out_layer.bias', [out]);
  return m;
}

export class SLatRadianceFieldDecoder {
  readonly config: SlatDecoderConfig;
  readonly dims: SlatTrunkDims;
  readonly rep: StrivecRepresentationConfig;
  readonly dtype: DType;
  readonly gpu: GpuContext | null;
  private readonly trunk: SlatTrunk;
  private readonly w: Map<string, Tensor>;

  private constructor(
    config: SlatDecoderConfig,
    gpu: GpuContext | null,
    dtype: DType,
    w: Map<string, Tensor>,
  ) {
    this.config = config;
    this.dims = resolveSlatTrunk(config, 'SLatRadianceFieldDecoder');
    this.rep = repConfig(config);
    this.gpu = gpu;
    this.dtype = dtype;
    this.w = w;
    this.trunk = new SlatTrunk(this.dims, w, dtype);
  }

  /**
   * Checks every key and shape, then loads the weights (block Linear layers in the model dtype).
   * @example
   * const dec = await SLatRadianceFieldDecoder.load(store, json.args, { gpu });
   */
  static async load(
    store: WeightStore,
    config: SlatDecoderConfig,
    options: SlatDecoderLoadOptions,
  ): Promise<SLatRadianceFieldDecoder> {
    const dtype = slatModelDtype(config, options);
    const w = await loadSlatWeights(
      store,
      slatRfExpectedShapes(config),
      (k) => TRUNK_F16_KEY.test(k),
      options.gpu,
      dtype,
      'SLatRadianceFieldDecoder',
    );
    return new SLatRadianceFieldDecoder(config, options.gpu, dtype, w);
  }

  dispose(): void {
    for (const t of this.w.values()) t.dispose();
  }

  /** Trunk + final LayerNorm + out_layer: the raw [N, channels] f32 output. */
  forwardRaw(x: SparseTensor): Tensor {
    return this.trunk.forwardHead(x);
  }

  /**
   * Decodes a structured latent into Strivec parameters, one per batch item.
   * @example
   * const [p] = await dec.decode(slat);
   */
  async decode(x: SparseTensor): Promise<StrivecParams[]> {
    const out = this.forwardRaw(x);
    const L = strivecLayout(this.rep);
    const res: StrivecParams[] = [];
    const ranges = [
      [L.trivec, L.density],
      [L.density, L.featuresDc],
      [L.featuresDc, L.channels],
    ] as const;
    let whole: Float32Array[] = [];
    try {
      if (!out.gpu) {
        const raw = await out.toArray();
        for (let b = 0; b < x.batchSize; b++) {
          const [s, e] = [x.batchStarts[b], x.batchStarts[b + 1]];
          res.push(
            strivecFromDecoderOutput(
              raw.subarray(s * L.channels, e * L.channels),
              x.coords.subarray(4 * s, 4 * e),
              this.dims.res,
              this.rep,
            ),
          );
        }
        return res;
      }
      // On the GPU each field's channel range is sliced on the device and read back as the field array (no
      // [N, channels] CPU copy re-laid out per voxel), as the Gaussian decoder does.
      whole = [];
      for (const [s, e] of ranges) {
        const part = slice(out, 1, s, e);
        try {
          whole.push(await part.toArray());
        } finally {
          part.dispose();
        }
      }
    } finally {
      out.dispose();
    }
    for (let b = 0; b < x.batchSize; b++) {
      const [s, e] = [x.batchStarts[b], x.batchStarts[b + 1]];
      const [trivec, density, featuresDc] = whole.map((a, i) => {
        const w = ranges[i][1] - ranges[i][0];
        const part = a.subarray(s * w, e * w);
        return x.batchSize === 1 ? part : part.slice(); // items own separate buffers
      });
      res.push(
        strivecFromFields(
          { trivec, density, featuresDc },
          x.coords.subarray(4 * s, 4 * e),
          this.dims.res,
          this.rep,
        ),
      );
    }
    return res;
  }
}
