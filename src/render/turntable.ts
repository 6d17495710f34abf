/**
 * Turntable videos of Gaussians (A:`amodal3r/utils/render_utils.py` `render_video`: 300 frames, r 2, fov 40,
 * 512 px, white background in `inference.py`, 30 fps GIF), written as PNG frames or one animated GIF/WebP.
 *
 * Notes: sharp builds the animation from the frames stacked vertically as one raw image with `pageHeight`
 * (the `join: { animated: true }` input form needs one encoded image per frame, an extra encode per frame);
 * GIF delays are in milliseconds, stored by the format in centiseconds, so 30 fps becomes 33 ms -> 3 cs.
 */

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from '../io/atomic-write.ts';
import { writePng } from '../io/image.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { type TurntableOptions, turntableCameras } from './camera.ts';
import { renderSplats, type SplatImage, type SplatInput, SplatUpload } from './splat.ts';

/** Options for {@link renderTurntable}. */
export interface RenderTurntableOptions extends TurntableOptions {
  /** Number of frames (default 300). */
  frames?: number;
  /** Square frame side in pixels (default 512). */
  size?: number;
  /** Background RGB in [0, 1] (default white, as the official video). */
  background?: readonly [number, number, number];
  /** Mip-Splatting 2-D filter (default 0.1). */
  kernelSize?: number;
  /** Called after each frame (progress). */
  onFrame?: (index: number, image: SplatImage) => void;
}

export const RENDER_TURNTABLE_DEFAULTS = {
  frames: 300,
  size: 512,
  background: [1, 1, 1] as const,
  kernelSize: 0.1,
};

/** A frame: 8-bit RGBA, `size x size`. */
export interface Frame {
  width: number;
  height: number;
  rgba: Uint8Array;
}

/**
 * Renders the official orbit; returns RGBA frames.
 * @example
 * const frames = await renderTurntable(gpu, input, { frames: 60, size: 256 });
 * await writeGif('turntable.gif', frames, { fps: 30 });
 */
export async function renderTurntable(
  gpu: GpuContext | null,
  input: SplatInput,
  options: RenderTurntableOptions = {},
): Promise<Frame[]> {
  const frames = options.frames ?? RENDER_TURNTABLE_DEFAULTS.frames;
  const size = options.size ?? RENDER_TURNTABLE_DEFAULTS.size;
  const cams = turntableCameras(frames, options);
  const out: Frame[] = [];
  // Upload the Gaussians once for all views.
  const source = gpu ? SplatUpload.create(gpu, input) : input;
  try {
    for (let i = 0; i < cams.length; i++) {
      const img = await renderSplats(gpu, source, cams[i]!, {
        width: size,
        height: size,
        background: options.background ?? RENDER_TURNTABLE_DEFAULTS.background,
        kernelSize: options.kernelSize ?? RENDER_TURNTABLE_DEFAULTS.kernelSize,
      });
      options.onFrame?.(i, img);
      out.push({ width: img.width, height: img.height, rgba: img.rgba });
    }
  } finally {
    if (source instanceof SplatUpload) source.dispose();
  }
  return out;
}

function checkFrames(op: string, frames: readonly Frame[]): void {
  if (frames.length === 0) throw new Error(`${op}: no frames`);
  const { width, height } = frames[0]!;
  for (const [i, f] of frames.entries()) {
    if (f.width !== width || f.height !== height || f.rgba.length !== width * height * 4) {
      throw new Error(
        `${op}: frame ${i} is ${f.width}x${f.height} with ${f.rgba.length} bytes, expected ${width}x${height} RGBA like frame 0`,
      );
    }
  }
}

/** Options shared by {@link writeFrames} and {@link writeGif}. */
export interface WriteFramesOptions {
  /**
   * Keep the coverage (1 - T) as an alpha channel (default false: RGB like the official outputs). The colour is
   * already composited over the render background, so with alpha on render on black to get premultiplied colour.
   */
  alpha?: boolean;
}

/** RGB bytes of an RGBA frame (the colour already holds the background). */
function rgbOf(f: Frame): Uint8Array {
  const n = f.width * f.height;
  const out = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    out[3 * p] = f.rgba[4 * p]!;
    out[3 * p + 1] = f.rgba[4 * p + 1]!;
    out[3 * p + 2] = f.rgba[4 * p + 2]!;
  }
  return out;
}

/**
 * Writes frames as `dir/000.png`, `dir/001.png`, ... (creates `dir`; each PNG written atomically).
 * @example
 * await writeFrames('out/frames', frames);
 */
export async function writeFrames(
  dir: string,
  frames: readonly Frame[],
  options: WriteFramesOptions = {},
): Promise<string[]> {
  checkFrames('writeFrames', frames);
  await mkdir(dir, { recursive: true });
  const digits = Math.max(3, String(frames.length - 1).length);
  const paths: string[] = [];
  for (const [i, f] of frames.entries()) {
    const p = join(dir, `${String(i).padStart(digits, '0')}.png`);
    await writePng(
      p,
      options.alpha
        ? { width: f.width, height: f.height, channels: 4, data: f.rgba }
        : { width: f.width, height: f.height, channels: 3, data: rgbOf(f) },
    );
    paths.push(p);
  }
  return paths;
}

/** Options for {@link writeGif}. */
export interface WriteAnimationOptions extends WriteFramesOptions {
  /** Frames per second (default 30). */
  fps?: number;
  /** Loop count, 0 = forever (default 0). */
  loop?: number;
  /** Output format (default from the extension: `.webp` -> webp, else gif). */
  format?: 'gif' | 'webp';
}

/**
 * Writes an animated GIF (or WebP) of the frames, atomically.
 * @example
 * await writeGif('out/turntable.gif', frames, { fps: 30 });
 */
export async function writeGif(
  path: string,
  frames: readonly Frame[],
  options: WriteAnimationOptions = {},
): Promise<void> {
  checkFrames('writeGif', frames);
  const fps = options.fps ?? 30;
  if (!(fps > 0)) throw new Error(`writeGif: fps must be positive, got ${fps}`);
  const { width, height } = frames[0]!;
  const channels = options.alpha ? 4 : 3;
  const stacked = new Uint8Array(width * height * channels * frames.length);
  for (const [i, f] of frames.entries()) {
    stacked.set(options.alpha ? f.rgba : rgbOf(f), i * width * height * channels);
  }
  const format = options.format ?? (path.toLowerCase().endsWith('.webp') ? 'webp' : 'gif');
  const delay = Math.round(1000 / fps);
  const img = sharp(stacked, {
    raw: { width, height: height * frames.length, channels, pageHeight: height },
  });
  const anim = { loop: options.loop ?? 0, delay: frames.map(() => delay) };
  const bytes =
    format === 'webp'
      ? await img.webp({ ...anim, lossless: true }).toBuffer()
      : await img.gif(anim).toBuffer();
  await writeFileAtomic(path, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}
