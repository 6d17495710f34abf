/**
 * `amodal3r occlusion-mask`: builds the 3-level mask Amodal3R expects (white background 255, gray visible 188,
 * black occluded 0) from binary masks: `--object` (the target object, white = object) or `--rgba` (a cut-out whose
 * alpha is the object), plus `--occluder` (white = whatever covers the object). See src/preprocess/mask.ts.
 */

import type { Command } from 'commander';
import { type RawImage, readImage, writePng } from '../io/image.ts';
import { MASK_BACKGROUND, MASK_OCCLUDED, MASK_VISIBLE, maskFromBinary } from '../preprocess/mask.ts';

export interface OcclusionMaskCliOptions {
  object?: string;
  rgba?: string;
  occluder: string;
  out: string;
  threshold: string;
}

/** The alpha channel of an RGBA / gray+alpha image as a gray image. */
export function alphaAsMask(img: RawImage, label: string): RawImage {
  if (img.channels !== 4 && img.channels !== 2)
    throw new Error(
      `${label}: --rgba needs an image with an alpha channel (RGBA or gray+alpha), got ${img.channels} channels; use --object with a binary mask instead`,
    );
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = img.data[i * img.channels + img.channels - 1];
  return { width: img.width, height: img.height, channels: 1, data: out };
}

/**
 * Runs the command; returns pixel counts per class.
 * @example
 * await runOcclusionMask({ object: 'obj.png', occluder: 'occ.png', out: 'mask.png', threshold: '128' });
 */
export async function runOcclusionMask(
  opts: OcclusionMaskCliOptions,
): Promise<{ visible: number; occluded: number; background: number }> {
  if (!!opts.object === !!opts.rgba)
    throw new Error('pass exactly one of --object <binary mask> or --rgba <cut-out>');
  const threshold = Number(opts.threshold);
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > 255)
    throw new Error(`--threshold must be an integer in 1..255, got "${opts.threshold}"`);
  const objPath = (opts.object ?? opts.rgba) as string;
  const obj = await readImage(objPath);
  const object = opts.rgba ? alphaAsMask(obj, objPath) : obj;
  const occluder = await readImage(opts.occluder);
  const mask = maskFromBinary(object, occluder, { threshold });
  const counts = { visible: 0, occluded: 0, background: 0 };
  for (const v of mask.data) {
    if (v === MASK_VISIBLE) counts.visible++;
    else if (v === MASK_OCCLUDED) counts.occluded++;
    else if (v === MASK_BACKGROUND) counts.background++;
  }
  if (counts.visible === 0)
    throw new Error(
      `${objPath}: no visible object pixel outside the occluder; check the masks (white = set, threshold ${threshold})`,
    );
  await writePng(opts.out, { width: mask.width, height: mask.height, channels: 1, data: mask.data });
  return counts;
}

/**
 * Registers `occlusion-mask` on the program.
 * @example
 * registerOcclusionMask(program);
 */
export function registerOcclusionMask(program: Command): void {
  program
    .command('occlusion-mask')
    .description('build a 3-level Amodal3R mask (255 background, 188 visible, 0 occluded) from binary masks')
    .option('--object <file>', 'binary mask of the target object (white = object)')
    .option(
      '--rgba <file>',
      'cut-out of the object with alpha (alpha > threshold = object), instead of --object',
    )
    .requiredOption(
      '--occluder <file>',
      'binary mask of the occluder (white = occluder; wins over the object)',
    )
    .requiredOption('--out <file>', 'output PNG')
    .option('--threshold <v>', 'gray level at and above which a binary pixel is set', '128')
    .action(async (opts: OcclusionMaskCliOptions) => {
      const c = await runOcclusionMask(opts);
      const n = c.visible + c.occluded + c.background;
      process.stdout.write(
        `wrote ${opts.out}: visible ${((100 * c.visible) / n).toFixed(1)}%, occluded ${((100 * c.occluded) / n).toFixed(1)}%, background ${((100 * c.background) / n).toFixed(1)}%\n`,
      );
    });
}
