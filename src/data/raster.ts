/**
 * Face-id rasterisation of triangle meshes on WebGPU (compute shaders, atomic depth buffer; works on lavapipe) with
 * the CPU twin in raster.cpu.ts, and the resolve of face ids into packed per-pixel words.
 *
 * Notes
 * - Compute-shader rasterisation instead of a render pipeline: the runtime is compute-only (no textures, no render
 *   passes), and headless Dawn/lavapipe runs it unchanged. One invocation per triangle loops over its pixel box;
 *   fine for many small triangles (scanned meshes, 1M faces), slower for a few screen-filling ones.
 * - No 64-bit atomics in WebGPU, so depth and id cannot be packed into one atomicMin: two passes (depth, then id
 *   where the depth matches), which also makes ties deterministic (smallest id wins).
 * - Binding limits: the per-face buffers (36 B screen data + 4 B output word) are split into chunks of faces whose
 *   windows stay under `gpu.maxBinding` (offsets aligned); the per-pixel buffers are bound whole and must fit, i.e.
 *   `8 * width * height <= maxBinding` (ids + words in one binding: 512x512 needs 2 MiB).
 * - Per-view overhead (lavapipe, 512^2, 2026-11-27): two 1 MiB read-backs (ids, words) cost ~30 ms each and two
 *   1 MiB queue writes clearing depth and ids ~12 ms each, against ~5 ms of rasterising 100k faces. Now ids and
 *   words come back in one buffer read back once, and a clear kernel (raster_clear.wgsl) replaces the writes:
 *   66 -> 34 ms per 512^2 view for a 1-triangle scene.
 */

import { WGSL } from '../ops/wgsl.generated.ts';
import { alignedRows, splitWorkgroups } from '../runtime/chunk.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { specialize, templateKey } from '../runtime/wgsl.ts';
import { NO_FACE, rasterizeCpu, resolveCpu, TRI_STRIDE } from './raster.cpu.ts';

const TRI_WG = 64;
const PIX_WG = 256;

/** Per-pixel results of one render. */
export interface RasterResult {
  /** Face id per pixel ({@link NO_FACE} where empty); empty when the GPU render was asked not to return them. */
  ids: Uint32Array;
  /** Packed word per pixel: `info[id]`, or the background word. */
  out: Uint32Array;
}

function checkArgs(op: string, tri: Float32Array, info: Uint32Array, width: number, height: number): number {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`${op}: invalid image size ${width}x${height}`);
  }
  if (tri.length % TRI_STRIDE !== 0)
    throw new Error(`${op}: screen buffer length ${tri.length} is not a multiple of ${TRI_STRIDE}`);
  const faces = tri.length / TRI_STRIDE;
  if (info.length !== faces) throw new Error(`${op}: ${faces} faces but ${info.length} info words`);
  if (faces >= NO_FACE) throw new Error(`${op}: ${faces} faces exceed the u32 id range`);
  return faces;
}

/**
 * Renders on the CPU (the oracle).
 * @example
 * const { ids, out } = renderFacesCpu(tri, info, 128, 128, BACKGROUND_WORD);
 */
export function renderFacesCpu(
  tri: Float32Array,
  info: Uint32Array,
  width: number,
  height: number,
  background: number,
): RasterResult {
  checkArgs('renderFacesCpu', tri, info, width, height);
  const { ids } = rasterizeCpu(tri, width, height);
  return { ids, out: resolveCpu(ids, info, background) };
}

/** Options of {@link renderFacesGpu}. */
export interface RenderFacesGpuOptions {
  /** Read the face ids back too (twice the read-back; writers that only need the words skip it). */
  ids?: boolean;
}

export const RENDER_FACES_GPU_DEFAULTS: Required<RenderFacesGpuOptions> = { ids: true };

/**
 * Renders on the GPU: face ids and resolved words per pixel.
 * Throws when a per-pixel buffer (8 bytes per pixel) exceeds the binding limit.
 * @example
 * const { ids, out } = await renderFacesGpu(gpu, tri, info, 512, 512, BACKGROUND_WORD);
 */
export async function renderFacesGpu(
  gpu: GpuContext,
  tri: Float32Array,
  info: Uint32Array,
  width: number,
  height: number,
  background: number,
  options: RenderFacesGpuOptions = {},
): Promise<RasterResult> {
  const withIds = options.ids ?? RENDER_FACES_GPU_DEFAULTS.ids;
  const faces = checkArgs('renderFacesGpu', tri, info, width, height);
  const pixels = width * height;
  if (pixels * 8 > gpu.maxBinding) {
    throw new Error(
      `renderFacesGpu: a ${width}x${height} image needs ${pixels * 8}-byte per-pixel bindings, above the ${gpu.maxBinding}-byte limit; render smaller images`,
    );
  }
  // Face chunks: both per-face windows aligned and under the binding limit.
  const align = Math.max(
    alignedRows(TRI_STRIDE * 4, gpu.offsetAlignment),
    alignedRows(4, gpu.offsetAlignment),
  );
  let per = Math.floor(gpu.maxBinding / (TRI_STRIDE * 4));
  per -= per % align;
  if (per <= 0)
    throw new Error(`renderFacesGpu: binding limit ${gpu.maxBinding} is too small for one face group`);
  // The resolve writes a copy of the ids and then the words into one buffer, so one read-back returns both.
  const triBuf = gpu.allocBuffer(Math.max(4, tri.byteLength));
  const infoBuf = gpu.allocBuffer(Math.max(4, info.byteLength));
  const depthBuf = gpu.allocBuffer(pixels * 4);
  const idsBuf = gpu.allocBuffer(pixels * 4);
  const outBuf = gpu.allocBuffer(pixels * 8);
  const ids = { buffer: idsBuf, offset: 0, size: pixels * 4 };
  try {
    if (tri.byteLength) gpu.writeBuffer(triBuf, 0, tri);
    if (info.byteLength) gpu.writeBuffer(infoBuf, 0, info);
    const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
    const [px, py] = splitWorkgroups(Math.ceil(pixels / PIX_WG), maxWg);
    gpu.dispatch(
      gpu.pipeline('data/raster_clear', WGSL['data/raster_clear']!),
      [
        { buffer: depthBuf, offset: 0, size: pixels * 4 },
        ids,
        gpu.uniform(new Uint32Array([pixels, px, 0, 0])),
      ],
      [px, py],
    );
    const passes = [0, 1].map((p) => {
      const vars = { PASS: p };
      return gpu.pipeline(templateKey('data/raster', vars), specialize(WGSL['data/raster']!, vars));
    });
    const resolve = gpu.pipeline('data/raster_resolve', WGSL['data/raster_resolve']!);
    for (const pipeline of passes) {
      for (let f0 = 0; f0 < faces; f0 += per) {
        const count = Math.min(per, faces - f0);
        const [nx, ny] = splitWorkgroups(Math.ceil(count / TRI_WG), maxWg);
        const params = new Uint32Array([width, height, count, nx, f0, 0, 0, 0]);
        gpu.dispatch(
          pipeline,
          [
            { buffer: triBuf, offset: f0 * TRI_STRIDE * 4, size: count * TRI_STRIDE * 4 },
            { buffer: depthBuf, offset: 0, size: pixels * 4 },
            ids,
            gpu.uniform(params),
          ],
          [nx, ny],
        );
      }
    }
    const chunkStarts = faces === 0 ? [0] : Array.from({ length: Math.ceil(faces / per) }, (_, i) => i * per);
    for (const f0 of chunkStarts) {
      const count = Math.min(per, faces - f0);
      const params = new Uint32Array([pixels, count, f0, px, background >>> 0, pixels, 0, 0]);
      gpu.dispatch(
        resolve,
        [
          ids,
          { buffer: infoBuf, offset: f0 * 4, size: Math.max(4, count * 4) },
          { buffer: outBuf, offset: 0, size: pixels * 8 },
          gpu.uniform(params),
        ],
        [px, py],
      );
    }
    if (!withIds) {
      return {
        ids: new Uint32Array(0),
        out: new Uint32Array(await gpu.readBuffer(outBuf, pixels * 4, pixels * 4)),
      };
    }
    const both = await gpu.readBuffer(outBuf, 0, pixels * 8);
    return { ids: new Uint32Array(both, 0, pixels), out: new Uint32Array(both, pixels * 4, pixels) };
  } finally {
    for (const b of [triBuf, infoBuf, depthBuf, idsBuf, outBuf]) gpu.releaseBuffer(b);
  }
}
