/**
 * `pixelShuffle3d(x [B, D, H, W, C*8]) -> [B, 2D, 2H, 2W, C]`: the SS-VAE decoder's upsampling shuffle
 * (official `pixel_shuffle_3d(x, 2)` moved to channel-last): input channel c*8 + a*4 + b*2 + e goes to output
 * voxel (2d + a, 2h + b, 2w + e), channel c. A pure copy, so f32 is exact and f16 -> f16 is exact.
 *
 * Binding limit: processed in slabs (whole volumes grouped by batch, else output depth slabs of one batch item;
 * output planes [z0, z1) read input planes [z0/2, ceil(z1/2))).
 *
 * @example
 * const up = pixelShuffle3d(conv3d(h, wUp, bUp)); // [B, 16, 16, 16, 1024] -> [B, 32, 32, 32, 128]
 */

import { splitWorkgroups } from '../../runtime/chunk.ts';
import type { DType } from '../../runtime/dtype.ts';
import { ShapeError, shapeStr } from '../../runtime/shape.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { enablesFor, specialize, templateKey } from '../../runtime/wgsl.ts';
import { packParams, planSlabs, windowBinding, windowBudget } from '../layout/window.ts';
import { WGSL } from '../wgsl.generated.ts';
import { pixelShuffle3dCpu } from './resample.cpu.ts';

const WORKGROUP = 256;

export interface PixelShuffle3dOptions {
  /** Output dtype; defaults to the input's. */
  dtype?: DType;
}

/**
 * Factor-2 3-D pixel shuffle on a channel-last volume.
 * @example
 * pixelShuffle3d(Tensor.fromArray([...Array(8).keys()], [1, 1, 1, 1, 8])).shape; // [1, 2, 2, 2, 1]
 */
export function pixelShuffle3d(x: Tensor, options: PixelShuffle3dOptions = {}): Tensor {
  const op = 'pixelShuffle3d';
  if (x.rank !== 5 || x.shape[4] % 8 !== 0) {
    throw new ShapeError(op, `expected [B, D, H, W, C*8], got ${shapeStr(x.shape)}`);
  }
  const [batch, depth, height, width, c8] = x.shape;
  const c = c8 / 8;
  const outShape = [batch, 2 * depth, 2 * height, 2 * width, c];
  const dtype = options.dtype ?? x.dtype;
  if (!x.gpu) return Tensor.fromArray(pixelShuffle3dCpu(x.data, x.shape, dtype), outShape, { dtype });
  const gpu = x.gpu;
  if ((x.dtype === 'f16' || dtype === 'f16') && !gpu.features.f16) {
    throw new Error(`${op}: f16 tensors need the shader-f16 feature, which this adapter lacks`);
  }
  const out = Tensor.empty(outShape, { dtype, gpu });
  if (out.size === 0) return out;
  const vars = { TX: x.dtype, TO: dtype };
  const code = specialize(WGSL['ops/conv/shuffle'], vars, enablesFor(x.dtype, dtype));
  const pipeline = gpu.pipeline(templateKey('pixelShuffle3d', vars), code);
  const inPlane = height * width * c8;
  const outPlane = 4 * height * width * c;
  const slabs = planSlabs({
    op,
    batch,
    outDepth: 2 * depth,
    inDepth: depth,
    outPlaneBytes: outPlane * (dtype === 'f16' ? 2 : 4),
    inPlaneBytes: inPlane * (x.dtype === 'f16' ? 2 : 4),
    inRange: (z0, z1) => [z0 >> 1, (z1 + 1) >> 1],
    budget: windowBudget(gpu),
    shapes: `${shapeStr(x.shape)} -> ${shapeStr(outShape)}`,
  });
  for (const s of slabs) {
    const xw = windowBinding(x, (s.b0 * depth + s.zin0) * inPlane, s.nb * s.nzin * inPlane);
    const ow = windowBinding(out, (s.b0 * 2 * depth + s.z0) * outPlane, s.nb * s.nz * outPlane);
    const n = s.nb * s.nz * outPlane;
    const [nx, ny] = splitWorkgroups(Math.ceil(n / WORKGROUP), gpu.limits.maxComputeWorkgroupsPerDimension);
    const params = packParams([n, s.nz, s.z0, s.zin0, s.nzin, height, width, c, xw.shift, ow.shift, nx]);
    gpu.dispatch(pipeline, [xw.binding, ow.binding, gpu.uniform(params)], [nx, ny]);
  }
  return out;
}
