/**
 * Image input/output: decode image files to raw 8-bit pixel arrays and write PNGs.
 *
 * Notes:
 * - Decoding uses sharp (libvips). ICC profiles are ignored (`ignoreIcc`) and EXIF orientation is not applied,
 *   because the official pipeline opens files with `PIL.Image.open`, which does neither; the raw stored pixel values
 *   are what reaches the model.
 * - The size limit is checked on the header (`metadata()`) before any pixel is decoded, so an oversized file costs
 *   no memory.
 * - sharp reports palette PNGs as RGB(A) and grayscale files as 1 or 2 channels (some encoders write grayscale as
 *   RGB; both are accepted).
 * - 16-bit files are reduced to 8 bits by libvips (high byte); for 16-bit RGB PNGs this equals what Pillow loads
 *   (spot-checked). Pillow opens 16-bit gray as mode "I", which the official code cannot use; we give the high byte.
 * - PNG writing is atomic: encode to `<path>.<pid>.<random>.tmp` in the same folder, then `rename` over the target,
 *   so a reader never sees a half-written file.
 */

import { randomBytes } from 'node:crypto';
import { rename, rm, stat } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';

export {
  assertRawImage,
  ImageInputError,
  MAX_IMAGE_SIDE,
  type RawImage,
  READ_IMAGE_DEFAULTS,
  type ReadImageOptions,
} from './raw-image.ts';

import {
  assertRawImage,
  ImageInputError,
  isChannels,
  type RawImage,
  READ_IMAGE_DEFAULTS,
  type ReadImageOptions,
} from './raw-image.ts';

/** RGB(A) with equal colour channels -> gray (+ alpha), taking the first channel. */
function collapseGray(img: RawImage): RawImage {
  const n = img.width * img.height;
  const C = img.channels;
  const outC = C === 4 ? 2 : 1;
  const out = new Uint8Array(n * outC);
  for (let i = 0; i < n; i++) {
    out[i * outC] = img.data[i * C];
    if (outC === 2) out[i * outC + 1] = img.data[i * C + 3];
  }
  return { width: img.width, height: img.height, channels: outC, data: out };
}

/**
 * Reads an image file (PNG, JPEG, WebP, TIFF, GIF, ...) into raw 8-bit pixels, keeping its channel layout
 * (gray, gray+alpha, RGB or RGBA).
 *
 * Throws {@link ImageInputError} when the file is missing or unreadable, is not an image, or is larger than
 * `maxSide` in either dimension.
 *
 * @example
 * const img = await readImage('assets/examples/mug.png');
 * console.log(img.width, img.height, img.channels); // 224 168 3
 */
export async function readImage(path: string, options: ReadImageOptions = {}): Promise<RawImage> {
  const o = { ...READ_IMAGE_DEFAULTS, ...options };
  try {
    const st = await stat(path);
    if (!st.isFile())
      throw new ImageInputError(`${path}: not a regular file; pass the path of an image file`);
  } catch (e) {
    if (e instanceof ImageInputError) throw e;
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new ImageInputError(`${path}: cannot read the file (${code}); check the path and its permissions`);
  }
  let meta: Metadata;
  try {
    meta = await sharp(path).metadata();
  } catch (e) {
    throw new ImageInputError(
      `${path}: not a readable image (${(e as Error).message}); use a PNG, JPEG or WebP file`,
    );
  }
  const w = meta.width ?? 0;
  const h = meta.height ?? 0;
  if (w > o.maxSide || h > o.maxSide) {
    throw new ImageInputError(
      `${path}: image is ${w}x${h}, larger than the ${o.maxSide}x${o.maxSide} limit; downscale it first (the model sees 518x518)`,
    );
  }
  try {
    const { data, info } = await sharp(path, { ignoreIcc: true, failOn: 'error', limitInputPixels: false })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (!isChannels(info.channels)) {
      throw new ImageInputError(
        `${path}: decoded to ${info.channels} channels; save it as 8-bit RGB or RGBA`,
      );
    }
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.length);
    const grayIn = meta.channels === 1 || meta.channels === 2;
    if (grayIn && (info.channels === 3 || info.channels === 4)) {
      // libvips hands gray files out as RGB(A) with R = G = B; keep the file's own layout (gray or gray+alpha).
      return collapseGray({ width: info.width, height: info.height, channels: info.channels, data: bytes });
    }
    return { width: info.width, height: info.height, channels: info.channels, data: bytes };
  } catch (e) {
    if (e instanceof ImageInputError) throw e;
    throw new ImageInputError(
      `${path}: failed to decode (${(e as Error).message}); the file may be truncated or corrupt, re-export it as PNG`,
    );
  }
}

/**
 * Writes raw pixels as a PNG, atomically (temporary file in the same folder, then rename).
 *
 * @example
 * await writePng('out/preview.png', { width: 2, height: 1, channels: 3, data: new Uint8Array([255, 0, 0, 0, 0, 255]) });
 */
export async function writePng(path: string, img: RawImage): Promise<void> {
  assertRawImage(img, `writePng(${path})`);
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } })
      .toColourspace(img.channels <= 2 ? 'b-w' : 'srgb')
      .png({ compressionLevel: 9 })
      .toFile(tmp);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new ImageInputError(
      `${path}: cannot write the PNG (${(e as Error).message}); check the folder exists and is writable`,
    );
  }
}
