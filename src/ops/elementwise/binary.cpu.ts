/** CPU twin of binary.wgsl: the oracle for tests and the fallback without a GPU. */

import { type DType, roundToDType } from '../../runtime/dtype.ts';
import { broadcastStrides, numel, type Shape } from '../../runtime/shape.ts';

export type BinaryFn = (x: number, y: number) => number;

export function binaryCpu(
  a: Float32Array,
  aShape: Shape,
  b: Float32Array,
  bShape: Shape,
  outShape: Shape,
  outDtype: DType,
  fn: BinaryFn,
): Float32Array {
  const n = numel(outShape);
  const out = new Float32Array(n);
  const as = broadcastStrides(aShape, outShape);
  const bs = broadcastStrides(bShape, outShape);
  const rank = outShape.length;
  const idx = new Array<number>(rank).fill(0);
  let ia = 0;
  let ib = 0;
  for (let i = 0; i < n; i++) {
    out[i] = fn(a[ia], b[ib]);
    // Odometer increment keeps the broadcast offsets without a division per element.
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      ia += as[d];
      ib += bs[d];
      if (idx[d] < outShape[d]) break;
      ia -= as[d] * outShape[d];
      ib -= bs[d] * outShape[d];
      idx[d] = 0;
    }
  }
  return roundToDType(out, outDtype);
}
