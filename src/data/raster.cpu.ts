/**
 * CPU twin of raster.wgsl / raster_resolve.wgsl: the oracle in tests and the renderer without a GPU.
 * Every arithmetic step is rounded to f32 (`Math.fround`) in the kernel's order, so results match the GPU except
 * where its compiler fuses a multiply-add (FMA) in an edge function or in the depth interpolation: that moves a
 * value by an ulp and can flip a pixel centre lying within ~1e-7 px of an edge, or a depth tie.
 */

/** Face id of pixels that no face covers. */
export const NO_FACE = 0xffffffff;
/** Floats per face in the screen-space buffer: x, y, 1/z for each corner. */
export const TRI_STRIDE = 9;

const f = Math.fround;
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

function edge(ax: number, ay: number, bx: number, by: number, px: number, py: number): number {
  return f(f(f(bx - ax) * f(py - ay)) - f(f(by - ay) * f(px - ax)));
}

/**
 * Rasterises screen-space triangles: nearest-surface depth (u32 bits of the interpolated 1/z, 0 = empty) and face
 * id per pixel (`faceBase + index`, smallest id among equal depths; {@link NO_FACE} when empty).
 * @example
 * const { ids } = rasterizeCpu(tri, 128, 128);
 */
export function rasterizeCpu(
  tri: Float32Array,
  width: number,
  height: number,
  faceBase = 0,
  target?: { depth: Uint32Array; ids: Uint32Array },
): { depth: Uint32Array; ids: Uint32Array } {
  const depth = target?.depth ?? new Uint32Array(width * height);
  const ids = target?.ids ?? new Uint32Array(width * height).fill(NO_FACE);
  const n = Math.floor(tri.length / TRI_STRIDE);
  for (let pass = 0; pass < 2; pass++) {
    for (let t = 0; t < n; t++) {
      const b = t * TRI_STRIDE;
      const x0 = tri[b]!;
      const y0 = tri[b + 1]!;
      const iz0 = tri[b + 2]!;
      const x1 = tri[b + 3]!;
      const y1 = tri[b + 4]!;
      const iz1 = tri[b + 5]!;
      const x2 = tri[b + 6]!;
      const y2 = tri[b + 7]!;
      const iz2 = tri[b + 8]!;
      if (iz0 <= 0 || iz1 <= 0 || iz2 <= 0) continue;
      const area = edge(x0, y0, x1, y1, x2, y2);
      if (area === 0) continue;
      const fx0 = Math.max(Math.ceil(f(Math.min(x0, x1, x2) - 0.5)), 0);
      const fx1 = Math.min(Math.floor(f(Math.max(x0, x1, x2) - 0.5)), width - 1);
      const fy0 = Math.max(Math.ceil(f(Math.min(y0, y1, y2) - 0.5)), 0);
      const fy1 = Math.min(Math.floor(f(Math.max(y0, y1, y2) - 0.5)), height - 1);
      if (fx1 < fx0 || fy1 < fy0) continue;
      const pos = area > 0;
      const face = faceBase + t;
      for (let y = fy0; y <= fy1; y++) {
        const py = f(y + 0.5);
        for (let x = fx0; x <= fx1; x++) {
          const px = f(x + 0.5);
          const e0 = edge(x1, y1, x2, y2, px, py);
          const e1 = edge(x2, y2, x0, y0, px, py);
          const e2 = edge(x0, y0, x1, y1, px, py);
          const inside = pos ? e0 >= 0 && e1 >= 0 && e2 >= 0 : e0 <= 0 && e1 <= 0 && e2 <= 0;
          if (!inside) continue;
          F32[0] = f(f(f(f(e0 * iz0) + f(e1 * iz1)) + f(e2 * iz2)) / area);
          const key = U32[0]!;
          const p = y * width + x;
          if (pass === 0) {
            if (key > depth[p]!) depth[p] = key;
          } else if (depth[p] === key && face < ids[p]!) {
            ids[p] = face;
          }
        }
      }
    }
  }
  return { depth, ids };
}

/**
 * Resolves face ids into packed output words (`info[id]`, `background` where empty).
 * @example
 * const out = resolveCpu(ids, info, 0x00ff0000);
 */
export function resolveCpu(ids: Uint32Array, info: Uint32Array, background: number): Uint32Array {
  const out = new Uint32Array(ids.length);
  for (let p = 0; p < ids.length; p++) {
    const id = ids[p]!;
    out[p] = id === NO_FACE ? background : info[id]!;
  }
  return out;
}
