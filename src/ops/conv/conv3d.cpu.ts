/**
 * CPU twin of conv3d.wgsl: channel-last volumes, prepared weight [Cout, k, k, k, Cin] (flattened [Cout, k^3*Cin]).
 * Sums over taps in order (tap-major, then input channel), each partial sum rounded to f32, like the kernel's K
 * loop; the bias is added last and the output rounded once to its dtype.
 */

import { type DType, roundToDType } from '../../runtime/dtype.ts';

export interface Conv3dGeometry {
  batch: number;
  depth: number;
  height: number;
  width: number;
  cin: number;
  cout: number;
  kernel: number;
  padding: number;
}

/** Output spatial size of a stride-1 convolution along an axis of length `n`. */
export function convOutSize(n: number, kernel: number, padding: number): number {
  return n + 2 * padding - kernel + 1;
}

export function conv3dCpu(
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  g: Conv3dGeometry,
  outDtype: DType,
): Float32Array {
  const { batch, depth, height, width, cin, cout, kernel: ks, padding: pad } = g;
  const od = convOutSize(depth, ks, pad);
  const oh = convOutSize(height, ks, pad);
  const ow = convOutSize(width, ks, pad);
  const kdim = ks * ks * ks * cin;
  const out = new Float32Array(batch * od * oh * ow * cout);
  const acc = new Float32Array(cout);
  let o = 0;
  for (let b = 0; b < batch; b++) {
    for (let z = 0; z < od; z++) {
      for (let y = 0; y < oh; y++) {
        for (let xq = 0; xq < ow; xq++) {
          acc.fill(0);
          for (let kd = 0; kd < ks; kd++) {
            const sd = z + kd - pad;
            if (sd < 0 || sd >= depth) continue;
            for (let kh = 0; kh < ks; kh++) {
              const sh = y + kh - pad;
              if (sh < 0 || sh >= height) continue;
              for (let kw = 0; kw < ks; kw++) {
                const sw = xq + kw - pad;
                if (sw < 0 || sw >= width) continue;
                const xBase = (((b * depth + sd) * height + sh) * width + sw) * cin;
                const wBase = ((kd * ks + kh) * ks + kw) * cin;
                for (let co = 0; co < cout; co++) {
                  const wRow = co * kdim + wBase;
                  let a = acc[co];
                  for (let ci = 0; ci < cin; ci++) a = Math.fround(a + x[xBase + ci] * w[wRow + ci]);
                  acc[co] = a;
                }
              }
            }
          }
          for (let co = 0; co < cout; co++) out[o++] = bias ? acc[co] + bias[co] : acc[co];
        }
      }
    }
  }
  return roundToDType(out, outDtype);
}
