/**
 * Turntable videos of Gaussians (A:`amodal3r/utils/render_utils.py` `render_video`: 300 frames, r 2, fov 40,
 * 512 px, white background in `inference.py`, 30 fps GIF). Browser-safe; `turntable-files.ts` writes PNG frames or
 * one animated GIF/WebP (Node).
 *
 * Notes (files): sharp builds the animation from the frames stacked vertically as one raw image with `pageHeight`
 * (the `join: { animated: true }` input form needs one encoded image per frame, an extra encode per frame);
 * GIF delays are in milliseconds, stored by the format in centiseconds, so 30 fps becomes 33 ms -> 3 cs.
 */

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
 * await writeGif('turntable.gif', frames, { fps: 30 }); // turntable-files.ts
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

export function checkFrames(op: string, frames: readonly Frame[]): void {
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
