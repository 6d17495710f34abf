/**
 * Raw 8-bit images and their validation, without any decoder: browser-safe (no sharp, no node:*), so the
 * preprocessing and the pipeline core can run in a web page. File decoding lives in `image.ts` (Node, sharp);
 * the browser app decodes with canvas/createImageBitmap into the same {@link RawImage}.
 */

/** Largest accepted width or height, in pixels (a 8192x8192 RGBA image is 256 MiB decoded). */
export const MAX_IMAGE_SIDE = 8192;

/** Raw interleaved 8-bit pixels, row-major, `channels` values per pixel. */
export interface RawImage {
  width: number;
  height: number;
  /** 1 = gray, 2 = gray + alpha, 3 = RGB, 4 = RGBA. */
  channels: 1 | 2 | 3 | 4;
  /** `width * height * channels` bytes. */
  data: Uint8Array;
}

/** Options for {@link readImage}. */
export interface ReadImageOptions {
  /** Largest accepted width or height (default {@link MAX_IMAGE_SIDE}). */
  maxSide?: number;
}

export const READ_IMAGE_DEFAULTS: Required<ReadImageOptions> = { maxSide: MAX_IMAGE_SIDE };

/** Thrown when an input image cannot be used; the message names the file and how to fix it. */
export class ImageInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageInputError';
  }
}

export function isChannels(c: number): c is 1 | 2 | 3 | 4 {
  return c === 1 || c === 2 || c === 3 || c === 4;
}

/** Throws an {@link ImageInputError} unless `img` is a consistent {@link RawImage}. `label` names it in the message. */
export function assertRawImage(img: RawImage, label: string): void {
  if (!Number.isInteger(img.width) || !Number.isInteger(img.height) || img.width < 1 || img.height < 1) {
    throw new ImageInputError(`${label}: invalid size ${img.width}x${img.height} (need positive integers)`);
  }
  if (!isChannels(img.channels)) {
    throw new ImageInputError(
      `${label}: ${img.channels} channels; expected 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA)`,
    );
  }
  const expected = img.width * img.height * img.channels;
  if (img.data.length !== expected) {
    throw new ImageInputError(
      `${label}: data has ${img.data.length} bytes but ${img.width}x${img.height}x${img.channels} needs ${expected}`,
    );
  }
}
