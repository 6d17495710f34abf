/**
 * Decoding picked, dropped or pasted image files in the page into the library's `RawImage` (for the pipeline)
 * and an `ImageBitmap` (for drawing).
 *
 * Notes:
 * - `colorSpaceConversion: 'none'` and `imageOrientation: 'none'` match the CLI (sharp with ICC ignored, no EXIF
 *   rotation), which matches the official `PIL.Image.open`: the stored pixel values reach the model.
 * - Pixels are read back through a 2D canvas. Canvas storage is premultiplied, so RGB under partial alpha can be
 *   off by rounding; fully opaque images (the usual photo) come back exact and are passed on as RGB.
 */

import { assertRawImage, ImageInputError, MAX_IMAGE_SIDE, type RawImage } from '../../src/io/raw-image.ts';
import { type GrayMask, toGrayMask } from '../../src/preprocess/mask.ts';

/** A decoded image. */
export interface DecodedImage {
  bitmap: ImageBitmap;
  raw: RawImage;
}

/**
 * Decodes an image file (PNG, JPEG, WebP, ... whatever the browser reads).
 * @example
 * const { bitmap, raw } = await decodeImageFile(input.files[0]);
 */
export async function decodeImageFile(file: Blob, label: string): Promise<DecodedImage> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, {
      colorSpaceConversion: 'none',
      imageOrientation: 'none',
      premultiplyAlpha: 'none',
    });
  } catch (e) {
    throw new ImageInputError(`${label}: not an image this browser can decode (${(e as Error).message})`);
  }
  const { width, height } = bitmap;
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE) {
    bitmap.close();
    throw new ImageInputError(
      `${label} is ${width}x${height}; the largest accepted side is ${MAX_IMAGE_SIDE} pixels — downscale it first`,
    );
  }
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('this browser gives no 2D canvas context');
  ctx.drawImage(bitmap, 0, 0);
  const rgba = new Uint8Array(ctx.getImageData(0, 0, width, height).data.buffer);
  let opaque = true;
  for (let i = 3; i < rgba.length; i += 4) {
    if (rgba[i] !== 255) {
      opaque = false;
      break;
    }
  }
  let raw: RawImage;
  if (opaque) {
    const rgb = new Uint8Array(width * height * 3);
    for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
      rgb[j] = rgba[i];
      rgb[j + 1] = rgba[i + 1];
      rgb[j + 2] = rgba[i + 2];
    }
    raw = { width, height, channels: 3, data: rgb };
  } else raw = { width, height, channels: 4, data: rgba };
  assertRawImage(raw, label);
  return { bitmap, raw };
}

/**
 * Decodes a 3-level mask file to gray (Pillow's `convert("L")` on colour masks, as the CLI).
 * @example
 * const mask = await decodeMaskFile(file, file.name);
 */
export async function decodeMaskFile(file: Blob, label: string): Promise<GrayMask> {
  const { bitmap, raw } = await decodeImageFile(file, label);
  bitmap.close();
  return toGrayMask(raw);
}
