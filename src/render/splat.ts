/**
 * 3-D Gaussian splatting rasteriser: WGSL kernels for projection and compositing, a CPU twin for both
 * (splat.cpu.ts, also the fallback without a GPU). Maths and conventions: splat.cpu.ts and docs/rendering.md.
 *
 * Pipeline: (1) GPU `splat_project` writes a 12-float record per Gaussian; (2) the records come back and the CPU
 * sorts the visible ones by (depth, index) and expands them into per-16x16-tile lists (9 floats per entry, the
 * projected data copied so the compositor reads one contiguous window); (3) GPU `splat_render` composites each
 * tile front to back with early termination; (4) the CPU adds the background and converts to 8-bit.
 *
 * Notes / alternatives
 * - Sorting: a GPU radix/bitonic sort was not built; the depth sort + binning runs on the CPU between the two
 *   kernels. Measured on lavapipe (2 shared cores) for 20k Gaussians at 512^2: see docs/rendering.md. On a real GPU
 *   the readback (48 B/Gaussian) + upload (36 B/tile entry) round trip is the obvious next thing to move on-device.
 * - Splitting under `maxBinding`: projection walks aligned windows of Gaussians; compositing walks groups of tile
 *   rows whose state window fits, and splits each group's entry window into segments that fit, with the
 *   per-pixel state (rgb, +-T) carried between dispatches. So any list length works with a 1 MiB binding limit.
 */

import { WGSL } from '../ops/wgsl.generated.ts';
import { alignedRows, planRowChunks, splitWorkgroups } from '../runtime/chunk.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import type { Camera } from './camera.ts';
import {
  type Accumulation,
  binSplats,
  compositeCpu,
  ENTRY_FLOATS,
  projectionConstants,
  projectSplatsCpu,
  type RasterGeometry,
  RECORD_FLOATS,
  type SplatInput,
  splatCount,
  TILE,
  type TileBins,
} from './splat.cpu.ts';

export type { SplatInput } from './splat.cpu.ts';

/** Options for {@link renderSplats}. */
export interface RenderSplatsOptions {
  width?: number;
  height?: number;
  /** Background RGB in [0, 1] (default black; the video uses white). */
  background?: readonly [number, number, number];
  /** Mip-Splatting 2-D filter variance, pixels^2 (default 0.1 as TRELLIS). */
  kernelSize?: number;
}

export const RENDER_SPLATS_DEFAULTS: Required<RenderSplatsOptions> = {
  width: 512,
  height: 512,
  background: [0, 0, 0],
  kernelSize: 0.1,
};

/** A rendered frame. */
export interface SplatImage {
  width: number;
  height: number;
  /** [H*W*4] RGBA, 8-bit: `floor(clip(255 x))` like the official `np.clip(x * 255, 0, 255).astype(uint8)`. */
  rgba: Uint8Array;
  /** [H*W*3] float RGB with the background composited. */
  color: Float32Array;
  /** [H*W] coverage `1 - T`. */
  alpha: Float32Array;
  /** Gaussians that touched at least one tile. */
  visible: number;
  /** Tile-list entries composited. */
  entries: number;
}

const IN_FLOATS = 14;
const PROJECT_WG = 64;

function checkOptions(o: Required<RenderSplatsOptions>): void {
  const { width: w, height: h, kernelSize: k } = o;
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1) {
    throw new Error(`renderSplats: width and height must be positive integers, got ${w}x${h}`);
  }
  if (!(k >= 0)) throw new Error(`renderSplats: kernelSize must be >= 0, got ${k}`);
  if (o.background.length !== 3) throw new Error('renderSplats: background must be [r, g, b]');
}

function packInput(input: SplatInput, n: number): Float32Array {
  const out = new Float32Array(Math.max(1, n) * IN_FLOATS);
  for (let i = 0; i < n; i++) {
    const o = i * IN_FLOATS;
    for (let c = 0; c < 3; c++) out[o + c] = input.positions[3 * i + c]!;
    for (let c = 0; c < 3; c++) out[o + 3 + c] = input.scales[3 * i + c]!;
    for (let c = 0; c < 4; c++) out[o + 6 + c] = input.rotations[4 * i + c]!;
    out[o + 10] = input.opacities[i]!;
    for (let c = 0; c < 3; c++) out[o + 11 + c] = input.colors[3 * i + c]!;
  }
  return out;
}

/**
 * Gaussians packed and uploaded once, for rendering many views (a turntable) without re-uploading.
 * Release with `dispose()`.
 * @example
 * const up = SplatUpload.create(gpu, input);
 * try { for (const cam of cams) await renderSplats(gpu, up, cam); } finally { up.dispose(); }
 */
export class SplatUpload {
  private released = false;
  private constructor(
    readonly gpu: GpuContext,
    readonly input: SplatInput,
    readonly count: number,
    readonly buffer: GPUBuffer,
  ) {}

  static create(gpu: GpuContext, input: SplatInput): SplatUpload {
    const n = splatCount(input);
    const buffer = gpu.allocBuffer(Math.max(1, n) * IN_FLOATS * 4);
    gpu.writeBuffer(buffer, 0, packInput(input, n));
    return new SplatUpload(gpu, input, n, buffer);
  }

  dispose(): void {
    if (this.released) return;
    this.released = true;
    this.gpu.releaseBuffer(this.buffer);
  }

  get disposed(): boolean {
    return this.released;
  }
}

/**
 * Step 1 on the GPU: 12-float records per Gaussian (same layout as `projectSplatsCpu`).
 * @example
 * const rec = await projectSplatsGpu(gpu, input, camera, { width: 64, height: 64, kernelSize: 0.1 });
 */
export async function projectSplatsGpu(
  gpu: GpuContext,
  input: SplatInput | SplatUpload,
  camera: Camera,
  g: RasterGeometry,
): Promise<Float32Array> {
  if (input instanceof SplatUpload && (input.gpu !== gpu || input.disposed)) {
    throw new Error('renderSplats: the SplatUpload belongs to another GPU context or was disposed');
  }
  const up = input instanceof SplatUpload ? input : SplatUpload.create(gpu, input);
  const n = up.count;
  const outBuf = gpu.allocBuffer(Math.max(1, n) * RECORD_FLOATS * 4);
  try {
    if (n === 0) return new Float32Array(0);
    const k = projectionConstants(camera, g);
    const pipeline = gpu.pipeline('splat_project', WGSL['render/splat_project']!);
    const inBuf = up.buffer;
    const align = Math.max(
      alignedRows(IN_FLOATS * 4, gpu.offsetAlignment),
      alignedRows(RECORD_FLOATS * 4, gpu.offsetAlignment),
    );
    const chunks = planRowChunks(
      'renderSplats(project)',
      n,
      [IN_FLOATS * 4, RECORD_FLOATS * 4],
      gpu.maxBinding,
      align,
    );
    for (const c of chunks) {
      if (c.count === 0) continue;
      const [nx, ny] = splitWorkgroups(
        Math.ceil(c.count / PROJECT_WG),
        gpu.limits.maxComputeWorkgroupsPerDimension,
      );
      const buf = new ArrayBuffer(96);
      const f = new Float32Array(buf);
      const u = new Uint32Array(buf);
      for (let r = 0; r < 3; r++) for (let j = 0; j < 4; j++) f[r * 4 + j] = k.view[r * 4 + j]!;
      f.set([k.fx, k.fy, k.tanX, k.tanY, k.cx, k.cy, g.kernelSize], 12);
      u[19] = c.count;
      u[20] = nx;
      gpu.dispatch(
        pipeline,
        [
          { buffer: inBuf, offset: c.start * IN_FLOATS * 4, size: c.count * IN_FLOATS * 4 },
          { buffer: outBuf, offset: c.start * RECORD_FLOATS * 4, size: c.count * RECORD_FLOATS * 4 },
          gpu.uniform(buf),
        ],
        [nx, ny],
      );
    }
    return new Float32Array(await gpu.readBuffer(outBuf, 0, n * RECORD_FLOATS * 4));
  } finally {
    if (up !== input) up.dispose();
    gpu.releaseBuffer(outBuf);
  }
}

/**
 * Step 3 on the GPU: composites binned Gaussians; returns the premultiplied colour sums and transmittance.
 * @example
 * const acc = await compositeGpu(gpu, binSplats(records, geom), geom);
 */
export async function compositeGpu(
  gpu: GpuContext,
  bins: TileBins,
  g: Pick<RasterGeometry, 'width' | 'height'>,
): Promise<Accumulation> {
  const { width: W, height: H } = g;
  const nEntries = bins.entries.length / ENTRY_FLOATS;
  const rowBytes = W * TILE * 16; // one tile row of vec4 state
  if (rowBytes > gpu.maxBinding) {
    throw new Error(
      `renderSplats: one tile row of a ${W}-pixel-wide frame needs ${rowBytes} bytes of state, more than the ${gpu.maxBinding}-byte binding limit`,
    );
  }
  if (bins.ranges.length * 4 > gpu.maxBinding) {
    throw new Error(
      `renderSplats: ${bins.ranges.length / 2} tiles exceed the binding limit for the tile ranges`,
    );
  }
  const entryAlign = alignedRows(ENTRY_FLOATS * 4, gpu.offsetAlignment);
  // Largest entry segment per dispatch, leaving room for aligning its start down.
  const segCap = Math.floor(gpu.maxBinding / (ENTRY_FLOATS * 4)) - entryAlign;
  if (segCap < 1) throw new Error('renderSplats: the binding limit is too small for one tile-list segment');
  const pipeline = gpu.pipeline('splat_render', WGSL['render/splat_render']!);
  const stateInit = new Float32Array(W * H * 4);
  for (let p = 0; p < W * H; p++) stateInit[4 * p + 3] = 1;
  const state = gpu.allocBuffer(stateInit.byteLength);
  const ranges = gpu.allocBuffer(bins.ranges.byteLength);
  const entries = gpu.allocBuffer(Math.max(4, bins.entries.byteLength));
  try {
    gpu.writeBuffer(state, 0, stateInit);
    gpu.writeBuffer(ranges, 0, bins.ranges);
    if (nEntries > 0) gpu.writeBuffer(entries, 0, bins.entries);
    const rowsPerGroup = Math.max(1, Math.floor(gpu.maxBinding / rowBytes));
    const firstOfRow = (ty: number) => bins.ranges[2 * ty * bins.tilesX]!;
    const endOfRow = (ty: number) => bins.ranges[2 * ((ty + 1) * bins.tilesX - 1) + 1]!;
    let ty0 = 0;
    while (ty0 < bins.tilesY) {
      // Grow the group while the state fits and the entry window fits (or it is a single row).
      let ty1 = ty0 + 1;
      while (ty1 < bins.tilesY && ty1 - ty0 < rowsPerGroup && endOfRow(ty1) - firstOfRow(ty0) <= segCap) {
        ty1++;
      }
      const lo = firstOfRow(ty0);
      const hi = endOfRow(ty1 - 1);
      const rowBase = ty0 * TILE;
      const rowEnd = Math.min(H, ty1 * TILE);
      for (let s = lo; s < hi; s += segCap) {
        const e = Math.min(hi, s + segCap);
        const base = s - (s % entryAlign);
        const params = new Uint32Array([W, H, bins.tilesX, ty0, base, s, e, rowBase]);
        gpu.dispatch(
          pipeline,
          [
            { buffer: entries, offset: base * ENTRY_FLOATS * 4, size: (e - base) * ENTRY_FLOATS * 4 },
            { buffer: ranges, offset: 0, size: bins.ranges.byteLength },
            { buffer: state, offset: rowBase * W * 16, size: (rowEnd - rowBase) * W * 16 },
            gpu.uniform(params),
          ],
          [bins.tilesX, ty1 - ty0],
        );
      }
      ty0 = ty1;
    }
    const out = new Float32Array(await gpu.readBuffer(state, 0, W * H * 16));
    const color = new Float32Array(W * H * 3);
    const transmittance = new Float32Array(W * H);
    for (let p = 0; p < W * H; p++) {
      color[3 * p] = out[4 * p]!;
      color[3 * p + 1] = out[4 * p + 1]!;
      color[3 * p + 2] = out[4 * p + 2]!;
      transmittance[p] = Math.abs(out[4 * p + 3]!);
    }
    return { color, transmittance };
  } finally {
    gpu.releaseBuffer(state);
    gpu.releaseBuffer(ranges);
    gpu.releaseBuffer(entries);
  }
}

/** Background + 8-bit conversion (step 4). */
export function finishImage(
  acc: Accumulation,
  g: Pick<RasterGeometry, 'width' | 'height'>,
  background: readonly [number, number, number],
): Pick<SplatImage, 'rgba' | 'color' | 'alpha'> {
  const n = g.width * g.height;
  const rgba = new Uint8Array(n * 4);
  const color = new Float32Array(n * 3);
  const alpha = new Float32Array(n);
  const to8 = (x: number) => Math.floor(Math.min(255, Math.max(0, x * 255)));
  for (let p = 0; p < n; p++) {
    const T = acc.transmittance[p]!;
    for (let c = 0; c < 3; c++) {
      // f32 like the official tensors, then truncation of the stored value.
      color[3 * p + c] = acc.color[3 * p + c]! + T * background[c]!;
      rgba[4 * p + c] = to8(color[3 * p + c]!);
    }
    alpha[p] = 1 - T;
    rgba[4 * p + 3] = to8(alpha[p]!);
  }
  return { rgba, color, alpha };
}

/**
 * Renders activated Gaussians from one camera. `gpu` null runs the CPU twin. `input` may be a
 * {@link SplatUpload} to skip re-uploading the Gaussians for every view.
 * @example
 * const img = await renderSplats(gpu, input, orbitCamera(0, 0.3, 2, 40), { width: 512, height: 512, background: [1, 1, 1] });
 * await writePng('view.png', { width: img.width, height: img.height, channels: 4, data: img.rgba });
 */
export async function renderSplats(
  gpu: GpuContext | null,
  input: SplatInput | SplatUpload,
  camera: Camera,
  options: RenderSplatsOptions = {},
): Promise<SplatImage> {
  const o = { ...RENDER_SPLATS_DEFAULTS, ...options };
  checkOptions(o);
  const g: RasterGeometry = { width: o.width, height: o.height, kernelSize: o.kernelSize };
  const records = gpu
    ? await projectSplatsGpu(gpu, input, camera, g)
    : projectSplatsCpu(input instanceof SplatUpload ? input.input : input, camera, g);
  const bins = binSplats(records, g);
  const acc = gpu ? await compositeGpu(gpu, bins, g) : compositeCpu(bins, g);
  return {
    width: o.width,
    height: o.height,
    ...finishImage(acc, g, o.background),
    visible: bins.visible,
    entries: bins.entries.length / ENTRY_FLOATS,
  };
}
