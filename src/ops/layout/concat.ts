/**
 * `concat(tensors, axis)` and `slice(x, axis, start, end)`: both are strided 2-D block copies over the view
 * [outer, axisLen * inner] (copy.wgsl). All inputs of a concat share one dtype; the output takes it (or
 * `options.dtype`, rounding once).
 *
 * Binding limit: a block is copied in pieces of whole rows whose source and destination windows fit the budget,
 * or, when one row is already too large, in column pieces of one row.
 *
 * @example
 * const y = concat([a, b], -1); // [N, 3] ++ [N, 5] -> [N, 8]
 * const z = slice(y, 1, 3, 8);  // -> [N, 5], equal to b
 */

import { splitWorkgroups } from '../../runtime/chunk.ts';
import type { DType } from '../../runtime/dtype.ts';
import { numel, ShapeError, shapeStr } from '../../runtime/shape.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { enablesFor, specialize, templateKey } from '../../runtime/wgsl.ts';
import { WGSL } from '../wgsl.generated.ts';
import { type Copy2d, copy2dCpu } from './copy.cpu.ts';
import { packParams, windowBinding, windowBudget } from './window.ts';

const WORKGROUP = 256;

export interface ConcatOptions {
  /** Output dtype; defaults to the inputs' dtype. */
  dtype?: DType;
}

function normAxis(op: string, axis: number, rank: number, shape: readonly number[]): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new ShapeError(op, `axis ${axis} is out of range for ${shapeStr(shape)}`);
  }
  return a;
}

/** Runs one strided block copy on the GPU, split under the binding limit. */
function copy2dGpu(src: Tensor, dst: Tensor, c: Copy2d): void {
  if (c.rows === 0 || c.cols === 0) return;
  const gpu = src.gpu!;
  const vars = { TX: src.dtype, TO: dst.dtype };
  const code = specialize(WGSL['ops/layout/copy'], vars, enablesFor(src.dtype, dst.dtype));
  const pipeline = gpu.pipeline(templateKey('copy2d', vars), code);
  const budget = windowBudget(gpu);
  const bs = Math.floor(budget / (src.dtype === 'f16' ? 2 : 4));
  const bd = Math.floor(budget / (dst.dtype === 'f16' ? 2 : 4));
  const pieces: { r0: number; nr: number; c0: number; nc: number }[] = [];
  if (c.cols <= Math.min(bs, bd)) {
    const byS = c.rows <= 1 ? 1 : 1 + Math.floor((bs - c.cols) / Math.max(1, c.srcStride));
    const byD = c.rows <= 1 ? 1 : 1 + Math.floor((bd - c.cols) / Math.max(1, c.dstStride));
    const nrPer = Math.max(1, Math.min(byS, byD));
    for (let r0 = 0; r0 < c.rows; r0 += nrPer)
      pieces.push({ r0, nr: Math.min(nrPer, c.rows - r0), c0: 0, nc: c.cols });
  } else {
    const ncPer = Math.min(bs, bd);
    for (let r0 = 0; r0 < c.rows; r0++) {
      for (let c0 = 0; c0 < c.cols; c0 += ncPer)
        pieces.push({ r0, nr: 1, c0, nc: Math.min(ncPer, c.cols - c0) });
    }
  }
  for (const pc of pieces) {
    const s0 = c.srcBase + pc.r0 * c.srcStride + pc.c0;
    const d0 = c.dstBase + pc.r0 * c.dstStride + pc.c0;
    const xw = windowBinding(src, s0, (pc.nr - 1) * c.srcStride + pc.nc);
    const ow = windowBinding(dst, d0, (pc.nr - 1) * c.dstStride + pc.nc);
    const [nx, ny] = splitWorkgroups(
      Math.ceil((pc.nr * pc.nc) / WORKGROUP),
      gpu.limits.maxComputeWorkgroupsPerDimension,
    );
    const params = packParams([pc.nr, pc.nc, c.srcStride, c.dstStride, xw.shift, ow.shift, nx, 0]);
    gpu.dispatch(pipeline, [xw.binding, ow.binding, gpu.uniform(params)], [nx, ny]);
  }
}

function checkF16(op: string, t: Tensor, dtype: DType): void {
  if ((t.dtype === 'f16' || dtype === 'f16') && t.gpu && !t.gpu.features.f16) {
    throw new Error(`${op}: f16 tensors need the shader-f16 feature, which this adapter lacks`);
  }
}

/**
 * Concatenates tensors along `axis` (negative counts from the end), like `torch.cat`.
 * @example
 * concat([Tensor.fromArray([1, 2], [1, 2]), Tensor.fromArray([3], [1, 1])], 1).data; // [1, 2, 3]
 */
export function concat(tensors: readonly Tensor[], axis: number, options: ConcatOptions = {}): Tensor {
  if (tensors.length === 0) throw new ShapeError('concat', 'needs at least one tensor');
  const first = tensors[0];
  const rank = first.rank;
  const a = normAxis('concat', axis, rank, first.shape);
  const shapes = tensors.map((t) => shapeStr(t.shape)).join(', ');
  for (const t of tensors) {
    if (t.rank !== rank || t.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new ShapeError('concat', `shapes ${shapes} differ outside axis ${a}`);
    }
    if (t.device !== first.device || t.gpu !== first.gpu) {
      throw new ShapeError('concat', `tensors ${shapes} are on different devices`);
    }
    if (t.dtype !== first.dtype) throw new ShapeError('concat', `tensors ${shapes} mix dtypes`);
  }
  const dtype = options.dtype ?? first.dtype;
  const total = tensors.reduce((s, t) => s + t.shape[a], 0);
  const outShape = [...first.shape];
  outShape[a] = total;
  const outer = numel(first.shape.slice(0, a));
  const inner = numel(first.shape.slice(a + 1));
  const out = Tensor.empty(outShape, { dtype, gpu: first.gpu });
  let off = 0;
  for (const t of tensors) {
    const c: Copy2d = {
      rows: outer,
      cols: t.shape[a] * inner,
      srcBase: 0,
      srcStride: t.shape[a] * inner,
      dstBase: off * inner,
      dstStride: total * inner,
    };
    if (t.gpu) {
      checkF16('concat', t, dtype);
      copy2dGpu(t, out, c);
    } else copy2dCpu(t.data, out.data, c);
    off += t.shape[a];
  }
  if (!out.gpu && dtype !== first.dtype) return Tensor.fromArray(out.data, outShape, { dtype });
  return out;
}

/**
 * Elements [start, end) of `axis`, materialised (like `x.narrow(axis, start, end - start).contiguous()`).
 * Negative `start`/`end` count from the end of the axis, as in Python slicing; the range is clamped to the axis.
 * @example
 * slice(Tensor.fromArray([1, 2, 3, 4], [4]), 0, 1, -1).data; // [2, 3]
 */
export function slice(
  x: Tensor,
  axis: number,
  start: number,
  end: number,
  options: ConcatOptions = {},
): Tensor {
  const a = normAxis('slice', axis, x.rank, x.shape);
  const len = x.shape[a];
  const clamp = (v: number) => Math.min(len, Math.max(0, v < 0 ? v + len : v));
  const s = clamp(start);
  const e = Math.max(s, clamp(end));
  if (!Number.isInteger(start) || !Number.isInteger(end)) {
    throw new ShapeError('slice', `range [${start}, ${end}) of ${shapeStr(x.shape)} is not integral`);
  }
  const dtype = options.dtype ?? x.dtype;
  const outShape = [...x.shape];
  outShape[a] = e - s;
  const inner = numel(x.shape.slice(a + 1));
  const c: Copy2d = {
    rows: numel(x.shape.slice(0, a)),
    cols: (e - s) * inner,
    srcBase: s * inner,
    srcStride: len * inner,
    dstBase: 0,
    dstStride: (e - s) * inner,
  };
  const out = Tensor.empty(outShape, { dtype, gpu: x.gpu });
  if (x.gpu) {
    checkF16('slice', x, dtype);
    copy2dGpu(x, out, c);
    return out;
  }
  copy2dCpu(x.data, out.data, c);
  return dtype === x.dtype ? out : Tensor.fromArray(out.data, outShape, { dtype });
}
