/** CPU twin of rmsnorm.wgsl; the sum of squares is accumulated in f64 and rounded to f32. */

import { type DType, roundToDType } from '../../runtime/dtype.ts';

const f = Math.fround;

/** Smallest norm F.normalize divides by. */
export const RMS_NORM_MIN = 1e-12;

export function multiHeadRmsNormCpu(
  x: Float32Array,
  heads: number,
  D: number,
  gamma: Float32Array,
  outDtype: DType,
): Float32Array {
  const out = new Float32Array(x.length);
  const scale = f(Math.sqrt(D));
  for (let row = 0; row * D < x.length; row++) {
    const base = row * D;
    let s = 0;
    for (let i = 0; i < D; i++) s += x[base + i] * x[base + i];
    const denom = Math.max(f(Math.sqrt(f(s))), f(RMS_NORM_MIN));
    const g = (row % heads) * D;
    for (let i = 0; i < D; i++) out[base + i] = f(f(f(x[base + i] / denom) * gamma[g + i]) * scale);
  }
  return roundToDType(out, outDtype);
}
