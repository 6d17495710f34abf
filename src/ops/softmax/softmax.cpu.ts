/** CPU twin of softmax.wgsl: the oracle for tests and the fallback without a GPU (f64 arithmetic). */

import { type DType, roundToDType } from '../../runtime/dtype.ts';

/** Softmax over consecutive rows of length `n` of `x`; the result is rounded to `outDtype`. */
export function softmaxCpu(x: Float32Array, n: number, outDtype: DType): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r * n < x.length; r++) {
    const base = r * n;
    let m = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < n; i++) m = Math.max(m, x[base + i]);
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.exp(x[base + i] - m);
    for (let i = 0; i < n; i++) out[base + i] = Math.exp(x[base + i] - m) / s;
  }
  return roundToDType(out, outDtype);
}
