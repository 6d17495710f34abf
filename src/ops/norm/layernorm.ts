/**
 * LayerNorm over the last dimension, and the fused adaLN modulation of the TRELLIS/Amodal3R blocks.
 *
 * - `layerNorm(x, { weight, bias, eps })`: PyTorch `LayerNorm32` / `F.layer_norm` semantics: statistics, normalisation
 *   and affine in f32, one rounding to the output dtype (= x's dtype unless `dtype` is given). Also the SS VAE's
 *   `ChannelLayerNorm32`, since 3-D volumes are kept channel-last (`[B, D, H, W, C]`): it is this op as is.
 * - `modulatedLayerNorm(x, shift, scale, { eps })`: `LN_noaffine(x) * (1 + scale) + shift`, shift/scale `[B, C]`
 *   broadcast over the L tokens of each batch item (`x` is `[B, L, C]`, or `[N, C]` with B = 1 for sparse tensors).
 *   Rounding points follow the official code (`modulated.py`: `h = norm(x); h = h * (1 + scale) + shift`, with
 *   `LayerNorm32` casting its f32 result back to x's dtype, and each PyTorch op rounding to its result dtype):
 *   1. `v = rnd(LN_f32(x))`, 2. `s = rnd(1 + scale)`, 3. `m = rnd(v * s)`, 4. `y = rnd(m + shift)`,
 *   where `rnd` rounds to x's dtype (a no-op for f32; for f16 four roundings, matching the fp16 flows bit for bit
 *   up to the f32 statistics). shift and scale must have x's dtype (PyTorch would promote mixed dtypes to f32,
 *   which the models never do).
 *
 * Notes: one kernel, one workgroup (256 threads) per row for rows of >= 1024 values and several rows per
 * workgroup for narrower ones (RT = threads per row, a power of two near n/4). Statistics are two-pass over
 * register-cached values (PT <= 16 values per thread, rows up to 4096); wider rows are re-read from memory.
 * Welford was not needed: two passes over cached values cost no extra memory traffic.
 * A subgroup reduction was not used: the workgroup-memory tree is portable and the reduction is a small part of
 * the cost (each row is one memory read and one write).
 *
 * @example
 * const h = layerNorm(x, { weight: w, bias: b, eps: 1e-6 });
 * const m = modulatedLayerNorm(x, shiftMsa, scaleMsa, { eps: 1e-6 });
 */

import { alignedRows, binding, planRowChunks, splitWorkgroups } from '../../runtime/chunk.ts';
import { bytesPerElement, type DType } from '../../runtime/dtype.ts';
import type { GpuContext } from '../../runtime/gpu.ts';
import { ShapeError, shapeStr } from '../../runtime/shape.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { enablesFor, specialize, type TemplateVars, templateKey } from '../../runtime/wgsl.ts';
import { WGSL } from '../wgsl.generated.ts';
import { layerNormCpu, modulatedLayerNormCpu } from './layernorm.cpu.ts';

const WORKGROUP = 256;
/** Most values a thread keeps in registers; rows longer than WORKGROUP * this are re-read per pass. */
const MAX_PER_THREAD = 16;

export interface LayerNormOptions {
  /** Affine scale [C]; omitted = none. */
  weight?: Tensor | null;
  /** Affine shift [C]; omitted = none. */
  bias?: Tensor | null;
  /** Added to the variance. Default 1e-5 (PyTorch); the TRELLIS blocks use 1e-6. */
  eps?: number;
  /** Output dtype; defaults to x's. */
  dtype?: DType;
}

export const LAYER_NORM_DEFAULTS = { eps: 1e-5 } as const;

export interface ModulatedLayerNormOptions {
  /** Default 1e-6, the value of every adaLN LayerNorm in TRELLIS/Amodal3R. */
  eps?: number;
}

export const MODULATED_LAYER_NORM_DEFAULTS = { eps: 1e-6 } as const;

/**
 * LayerNorm over the last dimension (f32 statistics and affine, one rounding to the output dtype).
 * @example
 * const y = layerNorm(x, { eps: 1e-5 }); // parameter-free, e.g. DINOv2 feature renorm
 */
export function layerNorm(x: Tensor, options: LayerNormOptions = {}): Tensor {
  const op = 'layerNorm';
  if (x.rank === 0) throw new ShapeError(op, `needs at least one dimension, got ${shapeStr(x.shape)}`);
  const n = x.shape[x.rank - 1];
  const eps = options.eps ?? LAYER_NORM_DEFAULTS.eps;
  const dtype = options.dtype ?? x.dtype;
  const weight = options.weight ?? null;
  const bias = options.bias ?? null;
  for (const [name, p] of [
    ['weight', weight],
    ['bias', bias],
  ] as const) {
    if (p && (p.size !== n || p.rank !== 1)) {
      throw new ShapeError(
        op,
        `${name} ${shapeStr(p.shape)} does not match the last dim of x ${shapeStr(x.shape)}`,
      );
    }
    if (p && p.device !== x.device) throw new ShapeError(op, `${name} is on ${p.device}, x on ${x.device}`);
  }
  if (!x.gpu) {
    const data = layerNormCpu(x.data, n, weight?.data ?? null, bias?.data ?? null, eps, dtype);
    return Tensor.fromArray(data, x.shape, { dtype });
  }
  const aux: Tensor[] = [];
  const decl: string[] = [];
  const epi: string[] = [];
  if (weight) {
    decl.push(`@group(0) @binding(${3 + aux.length}) var<storage, read> w: array<${weight.dtype}>;`);
    epi.push('y = y * f32(w[c]);');
    aux.push(weight);
  }
  if (bias) {
    decl.push(`@group(0) @binding(${3 + aux.length}) var<storage, read> b: array<${bias.dtype}>;`);
    epi.push('y = y + f32(b[c]);');
    aux.push(bias);
  }
  return rowNormGpu(op, x, dtype, eps, 1, aux, decl.join('\n'), epi.join('\n    '));
}

/**
 * Fused adaLN: `LN_noaffine(x) * (1 + scale) + shift`, with the official code's rounding points (see the file
 * notes). `x` [B, L, C] (or [L, C] for B = 1), shift/scale [B, C].
 * @example
 * const h = modulatedLayerNorm(x, shift, scale); // x [1, 4096, 1024], shift/scale [1, 1024]
 */
export function modulatedLayerNorm(
  x: Tensor,
  shift: Tensor,
  scale: Tensor,
  options: ModulatedLayerNormOptions = {},
): Tensor {
  const op = 'modulatedLayerNorm';
  const eps = options.eps ?? MODULATED_LAYER_NORM_DEFAULTS.eps;
  const shapes = `x ${shapeStr(x.shape)}, shift ${shapeStr(shift.shape)}, scale ${shapeStr(scale.shape)}`;
  if (x.rank !== 2 && x.rank !== 3) throw new ShapeError(op, `x must be [B, L, C] or [L, C] (${shapes})`);
  const C = x.shape[x.rank - 1];
  const L = x.shape[x.rank - 2];
  const B = x.rank === 3 ? x.shape[0] : 1;
  for (const t of [shift, scale]) {
    const ok =
      (t.rank === 2 && t.shape[0] === B && t.shape[1] === C) || (t.rank === 1 && B === 1 && t.shape[0] === C);
    if (!ok) throw new ShapeError(op, `shift and scale must be [B, C] = [${B}, ${C}] (${shapes})`);
    if (t.dtype !== x.dtype) {
      throw new ShapeError(op, `shift/scale dtype ${t.dtype} differs from x's ${x.dtype} (${shapes})`);
    }
    if (t.device !== x.device) throw new ShapeError(op, `operands are on different devices (${shapes})`);
  }
  if (!x.gpu) {
    const data = modulatedLayerNormCpu(x.data, L, C, shift.data, scale.data, eps, x.dtype);
    return Tensor.fromArray(data, x.shape, { dtype: x.dtype });
  }
  const decl = [
    `@group(0) @binding(3) var<storage, read> shift: array<${x.dtype}>;`,
    `@group(0) @binding(4) var<storage, read> scale: array<${x.dtype}>;`,
  ].join('\n');
  const epi = [
    'let mi = (grow / p.rows_per_batch) * n + c;',
    'let m = rnd(rnd(y) * rnd(1.0 + f32(scale[mi])));',
    'y = m + f32(shift[mi]);',
  ].join('\n    ');
  return rowNormGpu(op, x, x.dtype, eps, L, [shift, scale], decl, epi);
}

/** Threads per row: a power of two near n / 4 (at least 1, at most the workgroup). */
export function rowThreads(n: number, workgroup = WORKGROUP): number {
  let rt = 1;
  while (rt < workgroup && rt * 4 < n) rt *= 2;
  return rt;
}

function assertF16(op: string, gpu: GpuContext, dtypes: DType[]): void {
  if (dtypes.includes('f16') && !gpu.features.f16) {
    throw new Error(`${op}: f16 tensors need the shader-f16 feature, which this adapter lacks`);
  }
}

/** Shared GPU driver: chunks the rows under the binding limit and dispatches layernorm.wgsl. */
function rowNormGpu(
  op: string,
  x: Tensor,
  dtype: DType,
  eps: number,
  rowsPerBatch: number,
  aux: Tensor[],
  auxDecl: string,
  epilogue: string,
): Tensor {
  const gpu = x.gpu!;
  assertF16(op, gpu, [x.dtype, dtype, ...aux.map((a) => a.dtype)]);
  const out = Tensor.empty(x.shape, { dtype, gpu });
  const n = x.shape[x.rank - 1];
  if (x.size === 0 || n === 0) return out;
  for (const a of aux) {
    if (a.byteLength > gpu.maxBinding) {
      throw new ShapeError(op, `parameter ${shapeStr(a.shape)} exceeds the storage binding limit`);
    }
  }
  const rows = x.size / n;
  const rt = rowThreads(n);
  const pt = Math.ceil(n / rt);
  const cache = pt <= MAX_PER_THREAD;
  const vars: TemplateVars = {
    WG: WORKGROUP,
    RT: rt,
    PT: cache ? pt : 1,
    CACHE: cache,
    TX: x.dtype,
    TO: dtype,
    ROUND16: dtype === 'f16',
    AUX_DECL: auxDecl,
    EPILOGUE: epilogue,
  };
  const code = specialize(
    WGSL['ops/norm/layernorm'],
    vars,
    enablesFor(x.dtype, dtype, ...aux.map((a) => a.dtype)),
  );
  const pipeline = gpu.pipeline(templateKey('layernorm', vars), code);
  const rowBytes = [x.dtype, dtype].map((d) => n * bytesPerElement(d));
  const align = Math.max(...rowBytes.map((b) => alignedRows(b, gpu.offsetAlignment)));
  const rowsPerWg = WORKGROUP / rt;
  const params = new ArrayBuffer(32);
  const u32 = new Uint32Array(params);
  const f32 = new Float32Array(params);
  for (const c of planRowChunks(op, rows, rowBytes, gpu.maxBinding, align)) {
    if (c.count === 0) continue;
    const [nx, ny] = splitWorkgroups(
      Math.ceil(c.count / rowsPerWg),
      gpu.limits.maxComputeWorkgroupsPerDimension,
    );
    u32.set([c.count, n, nx, c.start, rowsPerBatch]);
    f32[5] = eps;
    f32[6] = Number.POSITIVE_INFINITY;
    gpu.dispatch(
      pipeline,
      [
        binding(x, c.start * n, c.count * n),
        binding(out, c.start * n, c.count * n),
        gpu.uniform(params),
        ...aux.map((a) => binding(a)),
      ],
      [nx, ny],
    );
  }
  return out;
}
