/**
 * `patchify2d(img [B, C, H, W], p) -> [B, (H/p)*(W/p), C*p*p]`: non-overlapping p x p patches in row-major patch
 * order, each flattened in (c, kh, kw) order. With that order a Conv2d(kernel = stride = p) equals
 * `patchify2d` followed by a linear layer whose weight is the conv weight reshaped to [Cout, C*p*p] (DINOv2's patch
 * embedding). Like Conv2d, trailing rows/columns that do not fill a patch are dropped.
 *
 * Implemented as slice (only when H or W is not a multiple of p) + reshape [B, C, H/p, p, W/p, p] + permute
 * [0, 2, 4, 1, 3, 5]; the permute does the binding-limit splitting.
 *
 * @example
 * const tokens = linear(patchify2d(img, 14), patchW.reshape([1024, -1]), patchB); // [B, 1369, 1024] at 518 px
 */

import { ShapeError, shapeStr } from '../../runtime/shape.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import { slice } from './concat.ts';
import { type PermuteOptions, permute } from './permute.ts';

/**
 * Cuts an NCHW image batch into flattened p x p patches.
 * @example
 * patchify2d(Tensor.fromArray([...Array(16).keys()], [1, 1, 4, 4]), 2).shape; // [1, 4, 4]
 */
export function patchify2d(img: Tensor, p: number, options: PermuteOptions = {}): Tensor {
  if (img.rank !== 4) throw new ShapeError('patchify2d', `expected [B, C, H, W], got ${shapeStr(img.shape)}`);
  const [b, c, h, w] = img.shape;
  if (!Number.isInteger(p) || p < 1 || p > h || p > w) {
    throw new ShapeError('patchify2d', `patch size ${p} does not fit ${shapeStr(img.shape)}`);
  }
  const gh = Math.floor(h / p);
  const gw = Math.floor(w / p);
  let src = img;
  if (gh * p !== h) src = slice(src, 2, 0, gh * p);
  if (gw * p !== w) {
    const next = slice(src, 3, 0, gw * p);
    if (src !== img) src.dispose();
    src = next;
  }
  const y = permute(src.reshape([b, c, gh, p, gw, p]), [0, 2, 4, 1, 3, 5], options);
  if (src !== img) src.dispose();
  return y.reshape([b, gh * gw, c * p * p]);
}
