/**
 * Intermediate dumps and injected tensors of a pipeline run (issue #10). Browser-safe: `runPipeline` hands each
 * intermediate tensor to a {@link DumpSink}; the Node side (`dump-writer.ts`) collects them into one safetensors
 * file per group, and tools/official_dump.py writes the same names from the official pipeline, so
 * `amodal3r compare ours official` lines them up tensor by tensor.
 *
 * A dump name is `<group>/<tensor>`; group `g` becomes `g.safetensors`. The names and shapes (V views, N voxels,
 * M = 32 N Gaussians, R the stage-1 latent side, K its channels) are listed in {@link DUMP_TENSORS} and in
 * docs/reproducibility.md.
 *
 * Injection: stage-1 noise, stage-2 noise and the stage-1 coordinates can be given instead of drawn/computed
 * ({@link InjectedTensor}); `checkInjection` validates their shapes against the model before any work, so a wrong
 * file is refused in the first second with a message naming it.
 *
 * @example
 * const seen: string[] = [];
 * await runPipeline({ ...opts, dump: (name, _data, shape) => { seen.push(`${name} [${shape}]`); } });
 */

import { InputError } from './encode.ts';

/** Element type of a dumped tensor (floats are float32, coordinates and faces int32). */
export type DumpDType = 'f32' | 'i32';

/**
 * Receives one intermediate tensor (row-major `data` of `shape`). May be async; the pipeline awaits it, so a sink
 * that copies lazily sees stable data. Arrays may be reused by the pipeline afterwards only if the sink returned.
 */
export type DumpSink = (
  name: string,
  data: Float32Array | Int32Array,
  shape: readonly number[],
  dtype: DumpDType,
) => void | Promise<void>;

/** A tensor given by the user instead of one the pipeline would draw or compute. */
export interface InjectedTensor<T extends Float32Array | Int32Array> {
  data: T;
  shape: readonly number[];
  /** Where it came from (`file.safetensors:name`), used in error messages. */
  source?: string;
}

/** One documented dump tensor. */
export interface DumpTensorSpec {
  name: string;
  shape: string;
  dtype: DumpDType;
  what: string;
  /** Only with `dumpSteps`. */
  steps?: boolean;
}

/** Every tensor a dump may hold (the table in docs/reproducibility.md is this list). */
export const DUMP_TENSORS: readonly DumpTensorSpec[] = [
  {
    name: 'encode/image',
    shape: '[V,3,518,518]',
    dtype: 'f32',
    what: 'preprocessed, ImageNet-normalised DINOv2 input',
  },
  {
    name: 'encode/cond',
    shape: '[V,4112,1024]',
    dtype: 'f32',
    what: 'condition: 1374 DINOv2 tokens + 1369 visible + 1369 occluded patch ratios (x1024)',
  },
  { name: 'encode/neg_cond', shape: '[1,4112,1024]', dtype: 'f32', what: 'negative condition (zeros)' },
  {
    name: 'stage1/noise',
    shape: '[1,K,R,R,R]',
    dtype: 'f32',
    what: 'initial stage-1 latent (seeded or injected)',
  },
  {
    name: 'stage1/step_NN',
    shape: '[1,K,R,R,R]',
    dtype: 'f32',
    what: 'latent after sampler step NN (00..)',
    steps: true,
  },
  { name: 'stage1/latent', shape: '[1,K,R,R,R]', dtype: 'f32', what: 'final stage-1 latent' },
  {
    name: 'ss_decode/logits',
    shape: '[1,1,64,64,64]',
    dtype: 'f32',
    what: 'occupancy logits (occupied where > 0)',
  },
  {
    name: 'ss_decode/coords',
    shape: '[N,4]',
    dtype: 'i32',
    what: 'occupied voxels (batch, x, y, z), lexicographic',
  },
  {
    name: 'stage2/coords',
    shape: '[N,4]',
    dtype: 'i32',
    what: 'voxels stage 2 runs on (stage 1 or --coords)',
  },
  {
    name: 'stage2/noise_feats',
    shape: '[N,8]',
    dtype: 'f32',
    what: 'initial stage-2 features (seeded or injected)',
  },
  {
    name: 'stage2/step_NN',
    shape: '[N,8]',
    dtype: 'f32',
    what: 'features after sampler step NN',
    steps: true,
  },
  { name: 'stage2/samples', shape: '[N,8]', dtype: 'f32', what: 'sampler output (normalised)' },
  {
    name: 'stage2/slat',
    shape: '[N,8]',
    dtype: 'f32',
    what: 'structured latent, de-normalised (x * std + mean)',
  },
  { name: 'gaussians/xyz', shape: '[M,3]', dtype: 'f32', what: 'Gaussian `_xyz` (raw, unit cube)' },
  { name: 'gaussians/features_dc', shape: '[M,1,3]', dtype: 'f32', what: 'Gaussian `_features_dc`' },
  { name: 'gaussians/scaling', shape: '[M,3]', dtype: 'f32', what: 'Gaussian `_scaling` (raw)' },
  { name: 'gaussians/rotation', shape: '[M,4]', dtype: 'f32', what: 'Gaussian `_rotation` (raw)' },
  { name: 'gaussians/opacity', shape: '[M,1]', dtype: 'f32', what: 'Gaussian `_opacity` (raw)' },
  { name: 'mesh/vertices', shape: '[Nv,3]', dtype: 'f32', what: 'FlexiCubes vertices' },
  { name: 'mesh/faces', shape: '[Nf,3]', dtype: 'i32', what: 'triangles (vertex indices)' },
  { name: 'mesh/vertex_attrs', shape: '[Nv,6]', dtype: 'f32', what: 'per-vertex colour + normal channels' },
];

/** `step_00`, `step_01`, ...: the per-step dump name (two digits, three from 100 steps). */
export function stepName(i: number): string {
  return `step_${String(i).padStart(2, '0')}`;
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function label(t: InjectedTensor<Float32Array | Int32Array>, what: string): string {
  return t.source ? `${what} (${t.source})` : what;
}

/** What `checkInjection` needs to know about the model. */
export interface InjectionModelShapes {
  /** Stage-1 latent shape [1, K, R, R, R]. */
  ssNoiseShape: readonly number[];
  /** Stage-2 feature channels (8). */
  slatChannels: number;
  /** Side of the occupancy grid (64). */
  gridSide: number;
}

/**
 * Checks injected tensors against the model (before any work). Coordinates must be [N, 4] int32 with batch 0,
 * inside the grid and without repeats; the stage-2 noise must be [N, C] with the same N.
 * @example
 * checkInjection({ coords, noiseSlat }, { ssNoiseShape: [1, 8, 16, 16, 16], slatChannels: 8, gridSide: 64 });
 */
export function checkInjection(
  inj: {
    noiseSs?: InjectedTensor<Float32Array>;
    noiseSlat?: InjectedTensor<Float32Array>;
    coords?: InjectedTensor<Int32Array>;
  },
  m: InjectionModelShapes,
): void {
  for (const [key, t] of Object.entries(inj)) {
    if (t && t.data.length !== numel(t.shape))
      throw new InputError(
        `${label(t, key)}: shape [${t.shape.join(',')}] needs ${numel(t.shape)} values, got ${t.data.length}`,
      );
  }
  const { noiseSs, noiseSlat, coords } = inj;
  if (noiseSs) {
    const want = m.ssNoiseShape;
    const same = noiseSs.shape.length === want.length && noiseSs.shape.every((d, i) => d === want[i]);
    if (!same)
      throw new InputError(
        `${label(noiseSs, 'stage-1 noise')} has shape [${noiseSs.shape.join(',')}], but this model's stage-1 latent is [${want.join(',')}]; dump it from a run of the same model (stage1/noise)`,
      );
  }
  if (coords) {
    const s = coords.shape;
    if (s.length !== 2 || s[1] !== 4)
      throw new InputError(
        `${label(coords, 'coordinates')} has shape [${s.join(',')}]; expected [N,4] int32 rows (batch, x, y, z)`,
      );
    if (s[0] === 0) throw new InputError(`${label(coords, 'coordinates')} holds no voxel`);
    const seen = new Set<number>();
    const g = m.gridSide;
    const d = coords.data;
    for (let i = 0; i < s[0]; i++) {
      const [b, x, y, z] = [d[4 * i], d[4 * i + 1], d[4 * i + 2], d[4 * i + 3]];
      if (b !== 0)
        throw new InputError(
          `${label(coords, 'coordinates')}: row ${i} has batch ${b}; only batch 0 is supported`,
        );
      if (x < 0 || y < 0 || z < 0 || x >= g || y >= g || z >= g)
        throw new InputError(
          `${label(coords, 'coordinates')}: row ${i} (${x}, ${y}, ${z}) lies outside the ${g}^3 grid`,
        );
      const key = (x * g + y) * g + z;
      if (seen.has(key))
        throw new InputError(
          `${label(coords, 'coordinates')}: voxel (${x}, ${y}, ${z}) is listed twice (row ${i})`,
        );
      seen.add(key);
    }
  }
  if (noiseSlat) {
    const s = noiseSlat.shape;
    if (s.length !== 2 || s[1] !== m.slatChannels)
      throw new InputError(
        `${label(noiseSlat, 'stage-2 noise')} has shape [${s.join(',')}]; expected [N,${m.slatChannels}]`,
      );
    if (coords && s[0] !== coords.shape[0])
      throw new InputError(
        `${label(noiseSlat, 'stage-2 noise')} has ${s[0]} rows but ${label(coords, 'the coordinates')} hold ${coords.shape[0]} voxels; give the noise and coordinates of the same run`,
      );
  }
}
