/** Turntable frames to files (Node, sharp): PNG frames and animated GIF/WebP. Rendering: `turntable.ts`. */

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from '../io/atomic-write.ts';
import { writePng } from '../io/image.ts';
import { checkFrames, type Frame } from './turntable.ts';

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
