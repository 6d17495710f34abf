/** CPU twin of permute.wgsl: out[i0..ir] = x[i_perm^-1 ...], i.e. output axis a is input axis perm[a]. */

import { type DType, roundToDType } from '../../runtime/dtype.ts';
import { contiguousStrides, numel, type Shape } from '../../runtime/shape.ts';

export function permuteCpu(
  x: Float32Array,
  shape: Shape,
  perm: readonly number[],
  outDtype: DType,
): Float32Array {
  const rank = shape.length;
  const outShape = perm.map((a) => shape[a]);
  const inStrides = contiguousStrides(shape);
  const src = perm.map((a) => inStrides[a]);
  const n = numel(outShape);
  const out = new Float32Array(n);
  const idx = new Array<number>(rank).fill(0);
  let s = 0;
  for (let i = 0; i < n; i++) {
    out[i] = x[s];
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      s += src[d];
      if (idx[d] < outShape[d]) break;
      s -= src[d] * outShape[d];
      idx[d] = 0;
    }
  }
  return roundToDType(out, outDtype);
}
