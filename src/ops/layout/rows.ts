/**
 * Row gather and deterministic row scatter over [rows, C] matrices (sparse-tensor feature tables).
 *
 * - `gatherRows(x [N, C], index [M]) -> [M, C]`.
 * - `scatterAddRows(src [M, C], index [M], rows N) -> [N, C]`: out[n] = sum of src[m] with index[m] = n.
 * - `scatterMeanRows`: the same divided by the number of such m (rows nobody maps to stay 0); this is the
 *   children-mean of sparse downsampling and the mesh extractor's vertex averaging.
 *
 * Index arguments: an Int32Array (uploaded by the op, for one call), a `RowIndex` (uploaded once and cached), or
 * for `gatherRows` also an f32 Tensor of integral values on the same device (exact up to 2^24 rows; lets a GPU-made
 * index be used without readback; out-of-range entries give zero rows). Scatter needs the index on the CPU: it
 * builds the inverse map (CSR) there and sums each target's sources in ascending order, so the result is
 * deterministic and matches the CPU twin exactly for f32 (no float atomics; WebGPU has none).
 *
 * Binding limit: outputs are written in row chunks; inputs bound in row windows, several dispatches per chunk
 * when the input is larger than one window. With several source windows a scatter carries its partial sums in the
 * output tensor, so an f16 output is rounded after each window (only above the limit; f32 is unaffected).
 *
 * Alternatives considered: float atomics emulated with compare-exchange loops on u32 (non-deterministic summation
 * order, contention on popular targets); sorting on the GPU (needless: every index here is built on the CPU).
 *
 * @example
 * const parents = scatterMeanRows(feats, childToParent, nParents); // [N_parent, C]
 * const back = gatherRows(parents, childToParent);                  // [N_child, C]
 */

import { splitWorkgroups } from '../../runtime/chunk.ts';
import type { DType } from '../../runtime/dtype.ts';
import { ShapeError, shapeStr } from '../../runtime/shape.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { enablesFor, specialize, templateKey } from '../../runtime/wgsl.ts';
import { WGSL } from '../wgsl.generated.ts';
import { RowIndex } from './index.ts';
import { gatherRowsCpu, scatterRowsCpu } from './rows.cpu.ts';
import { bufferWindow, packParams, windowBinding, windowBudget } from './window.ts';

const WORKGROUP = 256;

export type RowIndexInput = Int32Array | RowIndex;

export interface RowsOptions {
  /** Output dtype; defaults to the input's. */
  dtype?: DType;
}

function check2d(op: string, t: Tensor): void {
  if (t.rank !== 2) throw new ShapeError(op, `expected a [rows, C] matrix, got ${shapeStr(t.shape)}`);
}

function checkF16(op: string, t: Tensor, dtype: DType): void {
  if ((t.dtype === 'f16' || dtype === 'f16') && t.gpu && !t.gpu.features.f16) {
    throw new Error(`${op}: f16 tensors need the shader-f16 feature, which this adapter lacks`);
  }
}

/**
 * Gathers rows: out[r, :] = x[index[r], :].
 * @example
 * gatherRows(Tensor.fromArray([1, 2, 3, 4], [2, 2]), new Int32Array([1, 1, 0])).data; // [3, 4, 3, 4, 1, 2]
 */
export function gatherRows(x: Tensor, index: RowIndexInput | Tensor, options: RowsOptions = {}): Tensor {
  const op = 'gatherRows';
  check2d(op, x);
  const [n, cols] = x.shape;
  const dtype = options.dtype ?? x.dtype;
  if (index instanceof Tensor) {
    if (index.rank !== 1) throw new ShapeError(op, `index ${shapeStr(index.shape)} must be 1-D`);
    if (index.dtype !== 'f32') {
      throw new ShapeError(op, `index tensor must be f32 (f16 holds integers exactly only up to 2048)`);
    }
    if (index.gpu !== x.gpu)
      throw new ShapeError(op, `x ${shapeStr(x.shape)} and index are on different devices`);
  }
  const m = index instanceof Tensor ? index.shape[0] : index.length;
  // CPU-known indices are range-checked here (a GPU index tensor cannot be: its out-of-range rows read as zero).
  const ri = index instanceof Tensor ? null : index instanceof RowIndex ? index : RowIndex.from(index);
  ri?.assertRange(op, n);
  const outShape = [m, cols];
  if (!x.gpu) {
    const vals = index instanceof Tensor ? index.data : ri!.values;
    return Tensor.fromArray(gatherRowsCpu(x.data, n, cols, vals, dtype), outShape, { dtype });
  }
  const gpu = x.gpu;
  checkF16(op, x, dtype);
  const out = Tensor.empty(outShape, { dtype, gpu });
  if (out.size === 0) return out;
  const idxBuffer = index instanceof Tensor ? index.buffer : ri!.gpuBuffer(gpu);
  const vars = { TX: x.dtype, TO: dtype, TI: index instanceof Tensor ? 'f32' : 'i32' };
  const code = specialize(WGSL['ops/layout/gather'], vars, enablesFor(x.dtype, dtype));
  const pipeline = gpu.pipeline(templateKey('gatherRows', vars), code);
  const budget = windowBudget(gpu);
  const rowBytesX = cols * (x.dtype === 'f16' ? 2 : 4);
  const rowBytesO = cols * (dtype === 'f16' ? 2 : 4);
  const xPer = Math.floor(budget / Math.max(1, rowBytesX));
  const oPer = Math.floor(budget / Math.max(rowBytesO, 4));
  if (xPer === 0 || oPer === 0)
    throw new Error(`${op}: one row of ${shapeStr(x.shape)} exceeds the binding limit`);
  for (let r0 = 0; r0 < m; r0 += oPer) {
    const rc = Math.min(oPer, m - r0);
    const ow = windowBinding(out, r0 * cols, rc * cols);
    const iw = bufferWindow(gpu, idxBuffer, 4, r0, rc);
    const [nx, ny] = splitWorkgroups(
      Math.ceil((rc * cols) / WORKGROUP),
      gpu.limits.maxComputeWorkgroupsPerDimension,
    );
    for (let x0 = 0; x0 < Math.max(n, 1); x0 += xPer) {
      const xc = Math.min(xPer, n - x0);
      const xw = windowBinding(x, x0 * cols, Math.max(xc, 1) * cols);
      const params = packParams([rc, cols, x0, xc, n, x0 === 0 ? 1 : 0, xw.shift, ow.shift, iw.shift, nx]);
      gpu.dispatch(pipeline, [xw.binding, iw.binding, ow.binding, gpu.uniform(params)], [nx, ny]);
    }
  }
  if (index instanceof Int32Array) ri!.dispose();
  return out;
}

function scatterRows(
  op: string,
  src: Tensor,
  index: RowIndexInput,
  rows: number,
  mean: boolean,
  options: RowsOptions,
): Tensor {
  check2d(op, src);
  const [m, cols] = src.shape;
  if (index.length !== m) {
    throw new ShapeError(op, `index of length ${index.length} does not match src ${shapeStr(src.shape)}`);
  }
  if (!Number.isInteger(rows) || rows < 0) throw new ShapeError(op, `invalid row count ${rows}`);
  const ri = index instanceof RowIndex ? index : RowIndex.from(index);
  ri.assertRange(op, rows);
  const dtype = options.dtype ?? src.dtype;
  const outShape = [rows, cols];
  if (!src.gpu) {
    return Tensor.fromArray(scatterRowsCpu(src.data, cols, ri.inverse(rows), rows, mean, dtype), outShape, {
      dtype,
    });
  }
  const gpu = src.gpu;
  checkF16(op, src, dtype);
  const out = Tensor.empty(outShape, { dtype, gpu });
  if (out.size === 0) return out;
  const inv = ri.inverse(rows);
  const bufs = ri.inverseBuffers(gpu, rows);
  const vars = { TX: src.dtype, TO: dtype, MEAN: mean };
  const code = specialize(WGSL['ops/layout/scatter'], vars, enablesFor(src.dtype, dtype));
  const pipeline = gpu.pipeline(templateKey('scatterRows', vars), code);
  const budget = windowBudget(gpu);
  const sPer = Math.floor(budget / Math.max(1, cols * (src.dtype === 'f16' ? 2 : 4)));
  const oPer = Math.floor(budget / Math.max(cols * (dtype === 'f16' ? 2 : 4), 4));
  if (sPer === 0 || oPer === 0)
    throw new Error(`${op}: one row of ${shapeStr(src.shape)} exceeds the binding limit`);
  const ordPer = Math.floor(budget / 4);
  const nSrc = Math.max(1, Math.ceil(m / sPer));
  for (let r0 = 0; r0 < rows; ) {
    // Grow the chunk while its output rows and its slice of the inverse order fit one binding each.
    let rc = Math.min(oPer, rows - r0);
    while (rc > 1 && inv.offsets[r0 + rc] - inv.offsets[r0] > ordPer) rc = Math.ceil(rc / 2);
    const e0 = inv.offsets[r0];
    const e1 = inv.offsets[r0 + rc];
    if (e1 - e0 > ordPer)
      throw new Error(`${op}: ${e1 - e0} rows map to row ${r0}, more than one binding holds`);
    const ow = windowBinding(out, r0 * cols, rc * cols);
    const ordW = bufferWindow(gpu, bufs.order, 4, e0, Math.max(1, e1 - e0));
    const offW = bufferWindow(gpu, bufs.offsets, 4, r0, rc + 1);
    const [nx, ny] = splitWorkgroups(
      Math.ceil((rc * cols) / WORKGROUP),
      gpu.limits.maxComputeWorkgroupsPerDimension,
    );
    for (let s = 0; s < nSrc; s++) {
      const s0 = s * sPer;
      const sc = Math.max(0, Math.min(sPer, m - s0));
      const xw = windowBinding(src, s0 * cols, Math.max(sc, 1) * cols);
      const params = packParams([
        rc,
        cols,
        s0,
        sc,
        s === 0 ? 1 : 0,
        s === nSrc - 1 ? 1 : 0,
        xw.shift,
        ow.shift,
        ordW.shift,
        offW.shift,
        e0,
        nx,
      ]);
      gpu.dispatch(
        pipeline,
        [xw.binding, ordW.binding, offW.binding, ow.binding, gpu.uniform(params)],
        [nx, ny],
      );
    }
    r0 += rc;
  }
  if (!(index instanceof RowIndex)) ri.dispose();
  return out;
}

/**
 * Sums source rows into target rows: out[n, :] = sum over m with index[m] = n of src[m, :].
 * @example
 * scatterAddRows(Tensor.fromArray([1, 2, 3], [3, 1]), new Int32Array([1, 0, 1]), 2).data; // [2, 4]
 */
export function scatterAddRows(
  src: Tensor,
  index: RowIndexInput,
  rows: number,
  options: RowsOptions = {},
): Tensor {
  return scatterRows('scatterAddRows', src, index, rows, false, options);
}

/**
 * Averages source rows into target rows (targets nobody maps to are 0), like `scatter_reduce(..., 'mean',
 * include_self=False)`.
 * @example
 * scatterMeanRows(Tensor.fromArray([1, 2, 3], [3, 1]), new Int32Array([1, 0, 1]), 2).data; // [2, 2]
 */
export function scatterMeanRows(
  src: Tensor,
  index: RowIndexInput,
  rows: number,
  options: RowsOptions = {},
): Tensor {
  return scatterRows('scatterMeanRows', src, index, rows, true, options);
}
