/**
 * CPU twin of attention.wgsl: plain softmax(q k^T * scale + keyBias) v per sequence and head, in f64.
 * The oracle for tests and the fallback without a GPU. Layout: rows of H heads x D channels (channel = h*D + d).
 */

import { type DType, roundToDType } from '../../runtime/dtype.ts';

export interface AttentionCpuArgs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  heads: number;
  headDim: number;
  /** Sequence s owns query rows qStarts[s]..qStarts[s+1] and key rows kStarts[s]..kStarts[s+1]. */
  qStarts: ArrayLike<number>;
  kStarts: ArrayLike<number>;
  scale: number;
  /** One additive bias per key row, or null. */
  keyBias: Float32Array | null;
  outDtype: DType;
}

export function attentionVarlenCpu(a: AttentionCpuArgs): Float32Array {
  const { heads: H, headDim: D, qStarts, kStarts } = a;
  const out = new Float32Array(a.q.length);
  const stride = H * D;
  const scores = new Float64Array(
    Math.max(1, ...Array.from({ length: kStarts.length - 1 }, (_, s) => kStarts[s + 1] - kStarts[s])),
  );
  const acc = new Float64Array(D);
  for (let s = 0; s + 1 < qStarts.length; s++) {
    const k0 = kStarts[s];
    const nk = kStarts[s + 1] - k0;
    for (let i = qStarts[s]; i < qStarts[s + 1]; i++) {
      for (let h = 0; h < H; h++) {
        const qb = i * stride + h * D;
        let m = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < nk; j++) {
          const kb = (k0 + j) * stride + h * D;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += a.q[qb + d] * a.k[kb + d];
          const sc = dot * a.scale + (a.keyBias ? a.keyBias[k0 + j] : 0);
          scores[j] = sc;
          if (sc > m) m = sc;
        }
        acc.fill(0);
        let sum = 0;
        for (let j = 0; j < nk; j++) {
          const w = Math.exp(scores[j] - m);
          sum += w;
          const vb = (k0 + j) * stride + h * D;
          for (let d = 0; d < D; d++) acc[d] += w * a.v[vb + d];
        }
        // No keys: zeros (matches the kernel and flash-attn).
        for (let d = 0; d < D; d++) out[qb + d] = sum > 0 ? acc[d] / sum : 0;
      }
    }
  }
  return roundToDType(out, a.outDtype);
}
