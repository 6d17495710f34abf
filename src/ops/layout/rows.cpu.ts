/** CPU twins of gather.wgsl and scatter.wgsl (same f32 summation order, so scatter-add matches bit for bit). */

import { type DType, roundToDType } from '../../runtime/dtype.ts';
import type { RowInverse } from './index.ts';

/** out[r, :] = x[index[r], :]; indices outside [0, rows) give zero rows (the GPU kernel's behaviour). */
export function gatherRowsCpu(
  x: Float32Array,
  rows: number,
  cols: number,
  index: ArrayLike<number>,
  outDtype: DType,
): Float32Array {
  const out = new Float32Array(index.length * cols);
  for (let r = 0; r < index.length; r++) {
    const s = index[r];
    if (s >= 0 && s < rows) out.set(x.subarray(s * cols, (s + 1) * cols), r * cols);
  }
  return roundToDType(out, outDtype);
}

/** out[n, :] = sum (or mean) of src rows mapped to n, summed in ascending source order in f32; empty rows are 0. */
export function scatterRowsCpu(
  src: Float32Array,
  cols: number,
  inv: RowInverse,
  rows: number,
  mean: boolean,
  outDtype: DType,
): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let n = 0; n < rows; n++) {
    const e0 = inv.offsets[n];
    const e1 = inv.offsets[n + 1];
    for (let c = 0; c < cols; c++) {
      let acc = 0;
      for (let e = e0; e < e1; e++) acc = Math.fround(acc + src[inv.order[e] * cols + c]);
      out[n * cols + c] = mean && e1 > e0 ? Math.fround(acc / (e1 - e0)) : acc;
    }
  }
  return roundToDType(out, outDtype);
}
