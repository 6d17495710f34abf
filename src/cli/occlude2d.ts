/**
 * `amodal3r occlude2d`: synthetic 2-D occlusion of one object image (see src/data/occlude2d.ts), written as
 * `<out>/NNN.png` (occluded image) and `<out>/NNN_mask.png` (3-level mask), NNN = 000, 001, ...
 */

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { OcclusionError, objectRegion, occlude2d } from '../data/occlude2d.ts';
import { readImage, writePng } from '../io/image.ts';
import { intOption } from './int-option.ts';

export interface Occlude2dCliOptions {
  image: string;
  out: string;
  seed?: string;
  count?: string;
  objectMask?: string;
  minFrac?: string;
  maxFrac?: string;
  maxAttempts?: string;
}

const intArg = (name: string, v: string | undefined, dflt: number, min: number): number =>
  intOption(name, v, dflt, min, OcclusionError);

function fracArg(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 1)
    throw new OcclusionError(`--${name} must be a number in [0, 1], got "${v}"`);
  return n;
}

/** File stem of sample `i` (at least 3 digits). */
export function sampleStem(i: number): string {
  return String(i).padStart(3, '0');
}

/**
 * Runs the command; returns one summary line per sample.
 * @example
 * await runOcclude2d({ image: 'mug.png', out: 'occ', seed: '1', count: '4' });
 */
export async function runOcclude2d(opts: Occlude2dCliOptions): Promise<string[]> {
  const seed = intArg('seed', opts.seed, 0, 0);
  const count = intArg('count', opts.count, 1, 1);
  const maxAttempts = intArg('max-attempts', opts.maxAttempts, 200, 1);
  const minFrac = fracArg('min-frac', opts.minFrac, 0);
  const maxFrac = fracArg('max-frac', opts.maxFrac, 1);
  const img = await readImage(opts.image);
  const objMask = opts.objectMask ? await readImage(opts.objectMask) : undefined;
  const object = objectRegion(img, objMask);
  await mkdir(opts.out, { recursive: true });
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const r = occlude2d(img, object, { seed, index: i, minFrac, maxFrac, maxAttempts });
    const stem = sampleStem(i);
    await writePng(join(opts.out, `${stem}.png`), r.image);
    await writePng(join(opts.out, `${stem}_mask.png`), r.mask);
    lines.push(
      `${stem}: hidden ${(100 * r.hiddenFraction).toFixed(1)}% of the object (attempt ${r.attempts})`,
    );
  }
  return lines;
}

/**
 * Registers `occlude2d` on the program.
 * @example
 * registerOcclude2d(program);
 */
export function registerOcclude2d(program: Command): void {
  program
    .command('occlude2d')
    .description('draw random 2-D occluders over an object image: occluded images + 3-level masks')
    .requiredOption('--image <file>', 'object image (RGBA: alpha > 0 is the object)')
    .requiredOption('--out <dir>', 'output folder (NNN.png, NNN_mask.png)')
    .option('--seed <n>', 'random seed (same seed => identical files)', '0')
    .option('--count <k>', 'number of samples', '1')
    .option('--object-mask <file>', 'binary object mask for RGB images (white = object)')
    .option('--min-frac <f>', 'smallest hidden fraction of the object', '0')
    .option('--max-frac <f>', 'largest hidden fraction of the object', '1')
    .option('--max-attempts <n>', 'occluders tried per sample before giving up', '200')
    .action(async (opts: Occlude2dCliOptions) => {
      for (const line of await runOcclude2d(opts)) process.stdout.write(`${line}\n`);
    });
}
