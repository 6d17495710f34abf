/** CPU twin of the GroupNorm kernels: exact two-pass statistics in f64, the normalisation in f32. */

import { type DType, roundToDType } from '../../runtime/dtype.ts';

const f = Math.fround;

/** GroupNorm of channel-last x [B, N, C] (flattened), `groups` groups of C / groups consecutive channels. */
export function groupNormCpu(
  x: Float32Array,
  B: number,
  N: number,
  C: number,
  groups: number,
  weight: Float32Array | null,
  bias: Float32Array | null,
  eps: number,
  outDtype: DType,
): Float32Array {
  const out = new Float32Array(x.length);
  const cpg = C / groups;
  for (let b = 0; b < B; b++) {
    for (let g = 0; g < groups; g++) {
      let s = 0;
      for (let r = 0; r < N; r++) for (let k = 0; k < cpg; k++) s += x[(b * N + r) * C + g * cpg + k];
      const count = N * cpg;
      const mean = s / count;
      let q = 0;
      for (let r = 0; r < N; r++) {
        for (let k = 0; k < cpg; k++) q += (x[(b * N + r) * C + g * cpg + k] - mean) ** 2;
      }
      const m = f(mean);
      const rstd = f(1 / f(Math.sqrt(f(f(q / count) + eps))));
      for (let r = 0; r < N; r++) {
        for (let k = 0; k < cpg; k++) {
          const c = g * cpg + k;
          const i = (b * N + r) * C + c;
          let y = f(f(x[i] - m) * rstd);
          if (weight) y = f(y * weight[c]);
          if (bias) y = f(y + bias[c]);
          out[i] = y;
        }
      }
    }
  }
  return roundToDType(out, outDtype);
}
