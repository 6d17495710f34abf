/** CPU twin of copy.wgsl: a strided 2-D block copy (the core of concat and slice). */

export interface Copy2d {
  rows: number;
  cols: number;
  srcBase: number;
  srcStride: number;
  dstBase: number;
  dstStride: number;
}

/** Copies the block described by `c` from `src` into `dst` (values are already in the destination precision). */
export function copy2dCpu(src: Float32Array, dst: Float32Array, c: Copy2d): void {
  for (let r = 0; r < c.rows; r++) {
    const s = c.srcBase + r * c.srcStride;
    dst.set(src.subarray(s, s + c.cols), c.dstBase + r * c.dstStride);
  }
}
