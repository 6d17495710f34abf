/**
 * `upsample3d(x [B, D, H, W, C], { scale | size, mode, alignCorners })`: `F.interpolate` for channel-last
 * volumes (any output size, so downscaling works too).
 *
 * Semantics follow PyTorch's kernels, computed in f32 on both backends:
 * - the source-per-destination ratio is 1/scale when `scale` is given (PyTorch with recompute_scale_factor unset)
 *   and in/out when `size` is given; output size = floor(in * scale);
 * - nearest (legacy 'nearest', not 'nearest-exact'): src = min(floor(dst * ratio), in - 1);
 * - trilinear, align_corners=False: src = max(ratio * (dst + 0.5) - 0.5, 0); align_corners=True: ratio =
 *   (in - 1)/(out - 1) (0 when out = 1) and src = ratio * dst; neighbours floor(src) and min(floor(src) + 1,
 *   in - 1) weighted (1 - l, l).
 *
 * Binding limit: slabs as in conv3d (output depth slabs read the input planes their source range covers).
 *
 * @example
 * const y = upsample3d(x, { scale: 2, mode: 'nearest' }); // [1, 16, 16, 16, 8] -> [1, 32, 32, 32, 8]
 */

import { splitWorkgroups } from '../../runtime/chunk.ts';
import type { DType } from '../../runtime/dtype.ts';
import { ShapeError, shapeStr } from '../../runtime/shape.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { enablesFor, specialize, templateKey } from '../../runtime/wgsl.ts';
import { packParams, planSlabs, windowBinding, windowBudget } from '../layout/window.ts';
import { WGSL } from '../wgsl.generated.ts';
import { linearSource, nearestSource, type UpsampleMode, upsample3dCpu } from './resample.cpu.ts';

const WORKGROUP = 256;

export interface Upsample3dOptions {
  /** Scale factor on every spatial axis (give this or `size`). */
  scale?: number;
  /** Output [D, H, W] (give this or `scale`). */
  size?: readonly [number, number, number];
  mode?: UpsampleMode;
  alignCorners?: boolean;
  /** Output dtype; defaults to the input's. */
  dtype?: DType;
}

export const UPSAMPLE3D_DEFAULTS = { mode: 'nearest' as UpsampleMode, alignCorners: false };

/**
 * Resizes a channel-last volume like `F.interpolate(x, scale_factor | size, mode)`.
 * @example
 * upsample3d(x, { size: [8, 8, 8], mode: 'trilinear' });
 */
export function upsample3d(x: Tensor, options: Upsample3dOptions): Tensor {
  const op = 'upsample3d';
  if (x.rank !== 5) throw new ShapeError(op, `expected [B, D, H, W, C], got ${shapeStr(x.shape)}`);
  const mode = options.mode ?? UPSAMPLE3D_DEFAULTS.mode;
  const alignCorners = options.alignCorners ?? UPSAMPLE3D_DEFAULTS.alignCorners;
  if (mode === 'nearest' && options.alignCorners) {
    throw new ShapeError(op, 'alignCorners only applies to trilinear mode (as in PyTorch)');
  }
  const [batch, depth, height, width, channels] = x.shape;
  const ins = [depth, height, width] as const;
  if ((options.scale === undefined) === (options.size === undefined)) {
    throw new ShapeError(op, `give exactly one of scale and size for ${shapeStr(x.shape)}`);
  }
  let size: [number, number, number];
  let ratio: [number, number, number];
  if (options.scale !== undefined) {
    const s = options.scale;
    if (!(s > 0)) throw new ShapeError(op, `scale ${s} must be positive`);
    size = ins.map((n) => Math.floor(n * s)) as [number, number, number];
    ratio = [0, 1, 2].map(() => Math.fround(1 / s)) as [number, number, number];
  } else {
    size = [...options.size!] as [number, number, number];
    ratio = ins.map((n, i) => Math.fround(n / size[i])) as [number, number, number];
  }
  if (size.some((n) => !Number.isInteger(n) || n < 1) || ins.some((n) => n < 1)) {
    throw new ShapeError(op, `cannot resize ${shapeStr(x.shape)} to [${size.join(', ')}]`);
  }
  if (mode === 'trilinear' && alignCorners) {
    ratio = ins.map((n, i) => (size[i] > 1 ? Math.fround((n - 1) / (size[i] - 1)) : 0)) as [
      number,
      number,
      number,
    ];
  }
  const dtype = options.dtype ?? x.dtype;
  const outShape = [batch, ...size, channels];
  const g = { batch, depth, height, width, channels, out: size, ratio, mode, alignCorners };
  if (!x.gpu) return Tensor.fromArray(upsample3dCpu(x.data, g, dtype), outShape, { dtype });
  const gpu = x.gpu;
  if ((x.dtype === 'f16' || dtype === 'f16') && !gpu.features.f16) {
    throw new Error(`${op}: f16 tensors need the shader-f16 feature, which this adapter lacks`);
  }
  const out = Tensor.empty(outShape, { dtype, gpu });
  if (out.size === 0) return out;
  const vars = { TX: x.dtype, TO: dtype, TRILINEAR: mode === 'trilinear' };
  const code = specialize(WGSL['ops/conv/upsample'], vars, enablesFor(x.dtype, dtype));
  const pipeline = gpu.pipeline(templateKey('upsample3d', vars), code);
  const inPlane = height * width * channels;
  const outPlane = size[1] * size[2] * channels;
  const srcRange = (z0: number, z1: number): readonly [number, number] => {
    if (mode === 'nearest')
      return [nearestSource(z0, ratio[0], depth), nearestSource(z1 - 1, ratio[0], depth) + 1];
    const lo = Math.min(Math.floor(linearSource(z0, ratio[0], alignCorners)), depth - 1);
    const hi = Math.min(Math.floor(linearSource(z1 - 1, ratio[0], alignCorners)), depth - 1);
    return [lo, Math.min(hi + 1, depth - 1) + 1];
  };
  const slabs = planSlabs({
    op,
    batch,
    outDepth: size[0],
    inDepth: depth,
    outPlaneBytes: outPlane * (dtype === 'f16' ? 2 : 4),
    inPlaneBytes: inPlane * (x.dtype === 'f16' ? 2 : 4),
    inRange: srcRange,
    budget: windowBudget(gpu),
    shapes: `${shapeStr(x.shape)} -> ${shapeStr(outShape)}`,
  });
  for (const s of slabs) {
    const xw = windowBinding(x, (s.b0 * depth + s.zin0) * inPlane, s.nb * s.nzin * inPlane);
    const ow = windowBinding(out, (s.b0 * size[0] + s.z0) * outPlane, s.nb * s.nz * outPlane);
    const n = s.nb * s.nz * outPlane;
    const [nx, ny] = splitWorkgroups(Math.ceil(n / WORKGROUP), gpu.limits.maxComputeWorkgroupsPerDimension);
    const params = packParams(
      [
        n,
        s.nz,
        s.z0,
        s.zin0,
        s.nzin,
        depth,
        height,
        width,
        size[0],
        size[1],
        size[2],
        channels,
        xw.shift,
        ow.shift,
        nx,
        alignCorners ? 1 : 0,
      ],
      [
        [16, ratio[0]],
        [17, ratio[1]],
        [18, ratio[2]],
      ],
    );
    gpu.dispatch(pipeline, [xw.binding, ow.binding, gpu.uniform(params)], [nx, ny]);
  }
  return out;
}
