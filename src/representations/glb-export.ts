/**
 * The textured GLB export, the counterpart of the official `postprocessing_utils.to_glb`: simplify the decoder's
 * mesh (meshoptimizer, official `simplify=0.95`), UV-unwrap it (xatlas), bake a base-colour texture from the
 * Gaussians by rendering (src/representations/texture-bake.ts), and write a GLB with `@gltf-transform/core`
 * (sRGB PNG base colour, OPAQUE, metallic 0, roughness 1). The vertex-colour GLB (`meshToGlb` in mesh.ts) stays
 * the fallback for callers that want no texture.
 *
 * Images are encoded through `encodeImage`; the default uses sharp (Node), which is imported only when needed so
 * that browser bundles pass their own encoder (e.g. OffscreenCanvas.convertToBlob).
 */

import { writeFileAtomic } from '../io/atomic-write.ts';
import { splatInputFromGaussians } from '../render/from-gaussians.ts';
import type { SplatInput } from '../render/splat.cpu.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { Gaussians } from './gaussians.ts';
import { compactMesh, type GlbOptions, type Mesh, texturedMeshToGlb } from './mesh.ts';
import { type SimplifyOptions, simplifyMesh } from './simplify.ts';
import { BAKE_DEFAULTS, type BakeOptions, bakeTexture } from './texture-bake.ts';
import { type UvAtlasOptions, unwrapUv } from './uv-atlas.ts';

/** Encodes 8-bit RGB pixels (row 0 at the top) as a PNG. */
export type EncodePng = (rgb: Uint8Array, width: number, height: number) => Promise<Uint8Array>;

/** Options of {@link meshToTexturedGlb} / {@link writeTexturedGlb}. */
export interface TexturedGlbOptions {
  /** Simplification (default: remove 95% of the triangles, as the official `to_glb`); `false` keeps the mesh. */
  simplify?: SimplifyOptions | false;
  /** Texture width/height in texels (also the UV atlas resolution). */
  textureSize?: number;
  /** Texture baking (views, render size, weights); its `textureSize` is taken from above. */
  bake?: Omit<BakeOptions, 'textureSize' | 'onProgress'>;
  /** UV atlas options other than the resolution. */
  atlas?: Omit<UvAtlasOptions, 'resolution' | 'onProgress'>;
  /** GLB container options (axes, normals, PBR factors). */
  glb?: GlbOptions;
  /** PNG encoder (default: sharp). */
  encodePng?: EncodePng;
  /** Progress per stage. */
  onProgress?: (stage: 'simplify' | 'uv-atlas' | 'bake' | 'encode', done: number, total: number) => void;
}

export const TEXTURED_GLB_DEFAULTS = { textureSize: BAKE_DEFAULTS.textureSize };

/** Figures of one export. */
export interface TexturedGlbStats {
  facesIn: number;
  facesOut: number;
  verticesOut: number;
  textureSize: number;
  /** Share of the mesh's texels seen by at least one view, and filled from nearby Gaussians instead. */
  seenFraction: number;
  fallbackFraction: number;
  seconds: { simplify: number; atlas: number; bake: number; encode: number };
}

/** sharp PNG encoder (loaded on first use). */
export const encodePngWithSharp: EncodePng = async (rgb, width, height) => {
  const sharp = (await import('sharp')).default;
  const buf = await sharp(rgb, { raw: { width, height, channels: 3 } })
    .toColourspace('srgb')
    .png({ compressionLevel: 9 })
    .toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
};

/**
 * Simplify -> UV atlas -> bake from the Gaussians -> GLB bytes (no file system).
 * @example
 * const { bytes, stats } = await meshToTexturedGlb(mesh, gaussians, gpu, { textureSize: 1024 });
 */
export async function meshToTexturedGlb(
  mesh: Mesh,
  source: SplatInput | Gaussians,
  gpu: GpuContext | null,
  options: TexturedGlbOptions = {},
): Promise<{ bytes: Uint8Array; stats: TexturedGlbStats }> {
  const splats = source instanceof Gaussians ? splatInputFromGaussians(source) : source;
  const size = options.textureSize ?? TEXTURED_GLB_DEFAULTS.textureSize;
  const progress = options.onProgress;
  const now = () => performance.now() / 1000;
  let t = now();
  progress?.('simplify', 0, 1);
  const facesIn = mesh.faces.length / 3;
  const small =
    options.simplify === false ? compactMesh(mesh) : (await simplifyMesh(mesh, options.simplify)).mesh;
  progress?.('simplify', 1, 1);
  const tSimplify = now() - t;
  t = now();
  const uvMesh = await unwrapUv(small, {
    ...options.atlas,
    resolution: size,
    onProgress: (_stage, f) => progress?.('uv-atlas', f, 1),
  });
  const tAtlas = now() - t;
  t = now();
  const tex = await bakeTexture(gpu, uvMesh, splats, {
    ...options.bake,
    textureSize: size,
    onProgress: (stage, done, total) => {
      if (stage === 'project') progress?.('bake', done, total);
    },
  });
  const tBake = now() - t;
  t = now();
  progress?.('encode', 0, 1);
  const png = await (options.encodePng ?? encodePngWithSharp)(tex.rgb, tex.size, tex.size);
  const bytes = await texturedMeshToGlb(uvMesh, { image: png, mimeType: 'image/png' }, options.glb);
  progress?.('encode', 1, 1);
  const surf = Math.max(1, tex.surfaceTexels);
  return {
    bytes,
    stats: {
      facesIn,
      facesOut: uvMesh.faces.length / 3,
      verticesOut: uvMesh.vertices.length / 3,
      textureSize: size,
      seenFraction: tex.seenTexels / surf,
      fallbackFraction: tex.fallbackTexels / surf,
      seconds: { simplify: tSimplify, atlas: tAtlas, bake: tBake, encode: now() - t },
    },
  };
}

/**
 * Writes the textured GLB atomically (temp file + rename); returns the export's figures.
 * @example
 * await writeTexturedGlb('out/mesh.glb', mesh, gaussians, gpu);
 */
export async function writeTexturedGlb(
  path: string,
  mesh: Mesh,
  source: SplatInput | Gaussians,
  gpu: GpuContext | null,
  options: TexturedGlbOptions = {},
): Promise<TexturedGlbStats> {
  const { bytes, stats } = await meshToTexturedGlb(mesh, source, gpu, options);
  await writeFileAtomic(path, bytes);
  return stats;
}
