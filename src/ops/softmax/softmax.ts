/**
 * Row softmax over the last dimension, numerically stable (max subtracted), f32 internally on both backends.
 *
 * Notes: one workgroup per row with three sweeps (max, sum, write). A single-sweep online max/sum variant would
 * read the row twice instead of three times; rows here are short (<= a few thousand) and the op is not on the
 * model's hot path (attention is fused), so the simpler form was kept. Rows are split into dispatches so no
 * binding exceeds `gpu.maxBinding`; a binding may start at any row (see attention/window.ts).
 *
 * @example
 * const p = softmax(scores); // scores [B, H, Lq, Lk] -> probabilities over Lk
 */

import { splitWorkgroups } from '../../runtime/chunk.ts';
import type { DType } from '../../runtime/dtype.ts';
import { ShapeError, shapeStr } from '../../runtime/shape.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { enablesFor, specialize, templateKey } from '../../runtime/wgsl.ts';
import { elementWindow, windowBytes } from '../attention/window.ts';
import { WGSL } from '../wgsl.generated.ts';
import { softmaxCpu } from './softmax.cpu.ts';

export interface SoftmaxOptions {
  /** Output dtype; defaults to the input's. */
  dtype?: DType;
}

const WORKGROUP = 128;

/**
 * Softmax over the last dimension of `x`.
 *
 * @example
 * const x = Tensor.fromArray([1, 2, 3, 0, 0, 0], [2, 3]);
 * softmax(x).data; // [0.090, 0.245, 0.665, 1/3, 1/3, 1/3]
 */
export function softmax(x: Tensor, options: SoftmaxOptions = {}): Tensor {
  if (x.rank === 0) throw new ShapeError('softmax', `needs at least one dimension, got ${shapeStr(x.shape)}`);
  const n = x.shape[x.rank - 1];
  const dtype = options.dtype ?? x.dtype;
  if (!x.gpu) return Tensor.fromArray(softmaxCpu(x.data, n, dtype), x.shape, { dtype });
  const gpu = x.gpu;
  if ((x.dtype === 'f16' || dtype === 'f16') && !gpu.features.f16) {
    throw new Error('softmax: f16 tensors need the shader-f16 feature, which this adapter lacks');
  }
  const out = Tensor.empty(x.shape, { dtype, gpu });
  if (n === 0 || x.size === 0) return out;
  const rows = x.size / n;
  const vars = { TX: x.dtype, TO: dtype, WG: WORKGROUP };
  const code = specialize(WGSL['ops/softmax/softmax'], vars, enablesFor(x.dtype, dtype));
  const pipeline = gpu.pipeline(templateKey('softmax', vars), code);
  const align = gpu.offsetAlignment;
  const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
  const fits = (r0: number, r1: number) =>
    windowBytes(x.dtype, r0 * n, r1 * n, align) <= gpu.maxBinding &&
    windowBytes(dtype, r0 * n, r1 * n, align) <= gpu.maxBinding;
  let r0 = 0;
  while (r0 < rows) {
    if (!fits(r0, r0 + 1)) {
      throw new ShapeError(
        'softmax',
        `one row of ${shapeStr(x.shape)} exceeds the ${gpu.maxBinding}-byte storage binding limit`,
      );
    }
    // Largest chunk that fits: start from the byte estimate, shrink while the alignment slack overflows.
    const perRow = n * Math.max(x.dtype === 'f16' ? 2 : 4, dtype === 'f16' ? 2 : 4);
    let r1 = Math.min(rows, r0 + Math.max(1, Math.floor(gpu.maxBinding / perRow)));
    while (!fits(r0, r1)) r1--;
    const xw = elementWindow(x, r0 * n, r1 * n, align);
    const ow = elementWindow(out, r0 * n, r1 * n, align);
    const [nx, ny] = splitWorkgroups(r1 - r0, maxWg);
    const params = new Uint32Array([r1 - r0, n, nx, xw.base, ow.base, 0, 0, 0]);
    gpu.dispatch(pipeline, [xw.binding, ow.binding, gpu.uniform(params)], [nx, ny]);
    r0 = r1;
  }
  return out;
}
