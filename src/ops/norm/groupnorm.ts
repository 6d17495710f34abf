/**
 * GroupNorm on channel-last tensors: x [B, N, C] (or [N, C] = one batch item, e.g. the sparse voxels of the mesh
 * decoder's `GroupNorm32`; a dense channel-last volume [B, D, H, W, C] is passed as [B, D*H*W, C]). Statistics
 * per batch item over all N positions and the C / groups consecutive channels of each group, in f32; affine in f32;
 * one rounding to the output dtype (= x's: `GroupNorm32` computes in f32 and casts back).
 *
 * Three passes, because N can be millions of rows (more than one workgroup, or one binding, can hold):
 * 1. `groupnorm_stats`: per block of R rows and per group, the block mean and the sum of squared deviations from
 *    it (two passes over ~2-4k values in cache), written as (mean, M2, count);
 * 2. `groupnorm_combine`: per (batch item, group), Chan's parallel merge of the block partials -> (mean, rstd);
 * 3. `groupnorm_apply`: elementwise normalisation + affine.
 * Notes: naive sum / sum-of-squares in f32 loses the variance for large N with a non-zero mean, and a single
 * global Welford pass would serialise; block two-pass + Chan merge keeps f32 statistics accurate (tested against an
 * f64 twin at N = 20000 with mean 5). Binding windows for the stats pass may start at any row (x_base), so batch
 * items need not start on an aligned byte offset.
 *
 * @example
 * const h = groupNorm(feats, w, b, { groups: 32, eps: 1e-5 }); // feats [N, 768]
 */

import { alignedRows, binding, planRowChunks, splitWorkgroups } from '../../runtime/chunk.ts';
import { bytesPerElement, type DType } from '../../runtime/dtype.ts';
import { ShapeError, shapeStr } from '../../runtime/shape.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { enablesFor, specialize, templateKey } from '../../runtime/wgsl.ts';
import { elementWindow, windowBytes } from '../attention/window.ts';
import { WGSL } from '../wgsl.generated.ts';
import { groupNormCpu } from './groupnorm.cpu.ts';

const WORKGROUP = 256;
/** Values one stats workgroup aims to read (rows per block = this / channels per group, a power of two). */
const BLOCK_VALUES = 2048;

export interface GroupNormOptions {
  /** Number of channel groups (C must be a multiple). Default 32 (`GroupNorm32`). */
  groups?: number;
  /** Default 1e-5 (PyTorch). */
  eps?: number;
  /** Output dtype; defaults to x's. */
  dtype?: DType;
}

export const GROUP_NORM_DEFAULTS = { groups: 32, eps: 1e-5 } as const;

/** Rows per stats block: a power of two with about BLOCK_VALUES values per block. */
export function groupNormBlockRows(cpg: number): number {
  let r = 1;
  while (r * 2 * cpg <= BLOCK_VALUES) r *= 2;
  return r;
}

/**
 * GroupNorm over channel-last x [B, N, C] or [N, C]; weight/bias [C] or null.
 * @example
 * const y = groupNorm(x, weight, bias, { groups: 32 });
 */
export function groupNorm(
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  options: GroupNormOptions = {},
): Tensor {
  const op = 'groupNorm';
  const groups = options.groups ?? GROUP_NORM_DEFAULTS.groups;
  const eps = options.eps ?? GROUP_NORM_DEFAULTS.eps;
  const dtype = options.dtype ?? x.dtype;
  if (x.rank !== 2 && x.rank !== 3)
    throw new ShapeError(op, `x must be [B, N, C] or [N, C], got ${shapeStr(x.shape)}`);
  const C = x.shape[x.rank - 1];
  const N = x.shape[x.rank - 2];
  const B = x.rank === 3 ? x.shape[0] : 1;
  if (!Number.isInteger(groups) || groups <= 0 || C % groups !== 0) {
    throw new ShapeError(op, `${C} channels of x ${shapeStr(x.shape)} do not split into ${groups} groups`);
  }
  for (const [name, t] of [
    ['weight', weight],
    ['bias', bias],
  ] as const) {
    if (t && (t.rank !== 1 || t.size !== C)) {
      throw new ShapeError(
        op,
        `${name} ${shapeStr(t.shape)} does not match the ${C} channels of x ${shapeStr(x.shape)}`,
      );
    }
    if (t && t.device !== x.device) throw new ShapeError(op, `${name} is on ${t.device}, x on ${x.device}`);
  }
  if (!x.gpu) {
    const data = groupNormCpu(x.data, B, N, C, groups, weight?.data ?? null, bias?.data ?? null, eps, dtype);
    return Tensor.fromArray(data, x.shape, { dtype });
  }
  const gpu = x.gpu;
  const dts = [x.dtype, dtype, ...(weight ? [weight.dtype] : []), ...(bias ? [bias.dtype] : [])];
  if (dts.includes('f16') && !gpu.features.f16) {
    throw new Error(`${op}: f16 tensors need the shader-f16 feature, which this adapter lacks`);
  }
  const out = Tensor.empty(x.shape, { dtype, gpu });
  if (x.size === 0) return out;
  const cpg = C / groups;
  const align = gpu.offsetAlignment;
  const bpe = bytesPerElement(x.dtype);

  // Pass 1: block partials. Blocks never straddle a dispatch or a batch item.
  const fitRows = Math.floor((gpu.maxBinding - align) / (C * bpe));
  if (fitRows < 1) throw new ShapeError(op, `one row of x ${shapeStr(x.shape)} exceeds the binding limit`);
  const R = Math.min(groupNormBlockRows(cpg), fitRows);
  const blocks = Math.ceil(N / R);
  const partBytes = B * blocks * groups * 16;
  if (partBytes > gpu.maxBinding)
    throw new ShapeError(op, `x ${shapeStr(x.shape)} needs too many partial sums`);
  const part = gpu.allocBuffer(Math.max(16, partBytes));
  const statsVars = { TX: x.dtype };
  const statsPipe = gpu.pipeline(
    templateKey('groupnorm_stats', statsVars),
    specialize(WGSL['ops/norm/groupnorm_stats'], statsVars, enablesFor(x.dtype)),
  );
  const chunkRows = Math.floor(fitRows / R) * R;
  const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
  for (let b = 0; b < B; b++) {
    for (let r0 = 0; r0 < N; r0 += chunkRows) {
      const rows = Math.min(chunkRows, N - r0);
      const start = (b * N + r0) * C;
      const end = start + rows * C;
      if (windowBytes(x.dtype, start, end, align) > gpu.maxBinding)
        throw new Error(`${op}: window planning bug`);
      const w = elementWindow(x, start, end, align);
      const nblk = Math.ceil(rows / R);
      const [nx, ny] = splitWorkgroups(nblk * groups, maxWg);
      const params = new Uint32Array([rows, C, cpg, groups, R, b * blocks + r0 / R, nx, w.base]);
      gpu.dispatch(statsPipe, [w.binding, { buffer: part, size: partBytes }, gpu.uniform(params)], [nx, ny]);
    }
  }

  // Pass 2: merge per (batch item, group).
  const stats = gpu.allocBuffer(Math.max(16, B * groups * 8));
  const combinePipe = gpu.pipeline('groupnorm_combine', WGSL['ops/norm/groupnorm_combine']);
  const cparams = new ArrayBuffer(16);
  new Uint32Array(cparams).set([blocks, groups]);
  new Float32Array(cparams)[2] = eps;
  gpu.dispatch(
    combinePipe,
    [{ buffer: part, size: partBytes }, { buffer: stats, size: B * groups * 8 }, gpu.uniform(cparams)],
    [B * groups],
  );

  // Pass 3: normalise + affine, elementwise in chunks.
  const decl: string[] = [];
  const epi: string[] = [];
  const aux: Tensor[] = [];
  if (weight) {
    decl.push(`@group(0) @binding(${4 + aux.length}) var<storage, read> w: array<${weight.dtype}>;`);
    epi.push('y = y * f32(w[c]);');
    aux.push(weight);
  }
  if (bias) {
    decl.push(`@group(0) @binding(${4 + aux.length}) var<storage, read> bias: array<${bias.dtype}>;`);
    epi.push('y = y + f32(bias[c]);');
    aux.push(bias);
  }
  const vars = { TX: x.dtype, TO: dtype, AUX_DECL: decl.join('\n'), EPILOGUE: epi.join('\n  ') };
  const applyPipe = gpu.pipeline(
    templateKey('groupnorm_apply', vars),
    specialize(WGSL['ops/norm/groupnorm_apply'], vars, enablesFor(...dts)),
  );
  const sizes = [x.dtype, dtype].map(bytesPerElement);
  const elAlign = Math.max(...sizes.map((s) => alignedRows(s, align)));
  for (const c of planRowChunks(op, x.size, sizes, gpu.maxBinding, elAlign)) {
    if (c.count === 0) continue;
    const [nx, ny] = splitWorkgroups(Math.ceil(c.count / WORKGROUP), maxWg);
    const params = new Uint32Array([c.count, nx, c.start, C, cpg, groups, N * C, 0]);
    gpu.dispatch(
      applyPipe,
      [
        binding(x, c.start, c.count),
        binding(out, c.start, c.count),
        gpu.uniform(params),
        { buffer: stats, size: B * groups * 8 },
        ...aux.map((t) => binding(t)),
      ],
      [nx, ny],
    );
  }
  // Dispatches recorded before the release run first, so the pool may hand these buffers out again now.
  gpu.releaseBuffer(part);
  gpu.releaseBuffer(stats);
  return out;
}
