/** CPU twins of shuffle.wgsl (pixel_shuffle_3d) and upsample.wgsl (F.interpolate), channel-last. */

import { type DType, roundToDType } from '../../runtime/dtype.ts';

const f = Math.fround;

/** [B, D, H, W, C*8] -> [B, 2D, 2H, 2W, C]: output (2d+a, 2h+b, 2w+e, c) = input (d, h, w, c*8 + a*4 + b*2 + e). */
export function pixelShuffle3dCpu(x: Float32Array, shape: readonly number[], outDtype: DType): Float32Array {
  const [batch, depth, height, width, c8] = shape;
  const c = c8 / 8;
  const out = new Float32Array(x.length);
  let o = 0;
  for (let b = 0; b < batch; b++)
    for (let z = 0; z < 2 * depth; z++)
      for (let y = 0; y < 2 * height; y++)
        for (let xq = 0; xq < 2 * width; xq++) {
          const base = (((b * depth + (z >> 1)) * height + (y >> 1)) * width + (xq >> 1)) * c8;
          const sub = (z & 1) * 4 + (y & 1) * 2 + (xq & 1);
          for (let ch = 0; ch < c; ch++) out[o++] = x[base + ch * 8 + sub];
        }
  return roundToDType(out, outDtype);
}

export type UpsampleMode = 'nearest' | 'trilinear';

/** Source index of output index `dst` along one axis, as PyTorch's CPU kernels compute it (f32). */
export function nearestSource(dst: number, ratio: number, size: number): number {
  return Math.min(Math.floor(f(dst * ratio)), size - 1);
}

/** Real-valued source coordinate for linear modes (f32), clamped at 0 when align_corners is false. */
export function linearSource(dst: number, ratio: number, alignCorners: boolean): number {
  if (alignCorners) return f(ratio * dst);
  return Math.max(f(f(ratio * f(dst + 0.5)) - 0.5), 0);
}

export interface UpsampleGeometry {
  batch: number;
  depth: number;
  height: number;
  width: number;
  channels: number;
  out: readonly [number, number, number];
  /** Source-per-destination ratios (f32) per axis. */
  ratio: readonly [number, number, number];
  mode: UpsampleMode;
  alignCorners: boolean;
}

export function upsample3dCpu(x: Float32Array, g: UpsampleGeometry, outDtype: DType): Float32Array {
  const { batch, depth, height, width, channels: cc, mode, alignCorners } = g;
  const [od, oh, ow] = g.out;
  const [rd, rh, rw] = g.ratio;
  const out = new Float32Array(batch * od * oh * ow * cc);
  const at = (b: number, z: number, y: number, xq: number, c: number) =>
    x[(((b * depth + z) * height + y) * width + xq) * cc + c];
  let o = 0;
  const lin = (dst: number, ratio: number, size: number): [number, number, number] => {
    const s = linearSource(dst, ratio, alignCorners);
    const i0 = Math.min(Math.floor(s), size - 1);
    return [i0, Math.min(i0 + 1, size - 1), f(s - i0)];
  };
  for (let b = 0; b < batch; b++)
    for (let z = 0; z < od; z++)
      for (let y = 0; y < oh; y++)
        for (let xq = 0; xq < ow; xq++) {
          if (mode === 'nearest') {
            const sz = nearestSource(z, rd, depth);
            const sy = nearestSource(y, rh, height);
            const sx = nearestSource(xq, rw, width);
            for (let c = 0; c < cc; c++) out[o++] = at(b, sz, sy, sx, c);
            continue;
          }
          const [d0, d1, ld] = lin(z, rd, depth);
          const [h0, h1, lh] = lin(y, rh, height);
          const [w0, w1, lw] = lin(xq, rw, width);
          const md = f(1 - ld);
          const mh = f(1 - lh);
          const mw = f(1 - lw);
          const plane = (d: number, c: number) =>
            f(
              f(mh * f(f(mw * at(b, d, h0, w0, c)) + f(lw * at(b, d, h0, w1, c)))) +
                f(lh * f(f(mw * at(b, d, h1, w0, c)) + f(lw * at(b, d, h1, w1, c)))),
            );
          for (let c = 0; c < cc; c++) out[o++] = f(f(md * plane(d0, c)) + f(ld * plane(d1, c)));
        }
  return roundToDType(out, outDtype);
}
