/**
 * Synthetic 2-D occlusion: random occluders drawn over an object image, as the official training loader does
 * (Amodal3R `dataLoader/utils.py`, `generate_random_mask`), producing the 3-level mask of the inference input
 * (background 255, visible 188, occluded 0) and the occluded image (occluder pixels black).
 *
 * Notes
 * - Shape families and ranges follow the official generator on its 518x518 canvas: 1-2 lines (thickness
 *   [3, size)), 1-2 filled circles (radius [3, size)), 1-2 elliptic arcs (semi-axes [3, size), rotation [0, 180),
 *   arc end [0, 360) degrees, thickness [3, size)), then 3-6 blocks with sides [25, 75) each followed by a dilation
 *   of the WHOLE mask with an elliptical kernel of size [5, 9); `size = int((W + H) * 0.03)`; half-open integer
 *   ranges as NumPy's `randint`. The official code only scales `size` with the image; here the block sides and
 *   the dilation kernel scale too, by `s = (W + H) / 1036` (so s = 1 on the official canvas and the ranges are
 *   exactly the official ones there), rounded to integers and kept non-empty.
 * - The official canvas is allocated as (width, height) rows x columns, which transposes non-square images; ours is
 *   height x width with x in [1, W) and y in [1, H).
 * - Randomness: `Rng` (xoshiro128**), stream = sample index, so sample k of a seed does not depend on how many
 *   samples are made or on earlier samples' retries. NumPy streams are not reproduced.
 * - The occluder marks 0 in the mask wherever it lies, also over the background: at inference a real occluder is
 *   marked where it is, since the object's amodal extent is unknown, and the official training conditioning
 *   (`mask_occ`) covers the occluder everywhere as well. The hidden fraction counts object pixels only.
 */

import type { RawImage } from '../io/image.ts';
import { dilateEllipse, MASK_BACKGROUND, MASK_OCCLUDED, MASK_VISIBLE } from '../preprocess/mask.ts';
import { Rng } from './prng.ts';
import { drawEllipseArc, drawLine, emptyRaster, fillCircle, fillRect } from './raster2d.ts';

/** Side of the official training canvas the parameter ranges were chosen for. */
export const OFFICIAL_CANVAS = 518;
/** Smallest accepted width or height (the official generator refuses below 64; scaled ranges stay usable to 32). */
export const MIN_OCCLUDE_SIDE = 32;
/** Channel difference from the border colour above which a pixel counts as object (absorbs JPEG noise). */
export const BORDER_TOLERANCE = 8;

/** Thrown for unusable inputs or unreachable occlusion targets; the message says what to change. */
export class OcclusionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OcclusionError';
  }
}

/** Half-open integer ranges `[lo, hi)` of the generator for one image size. */
export interface OccluderRanges {
  /** Scale factor `(W + H) / 1036` applied to the block and kernel ranges. */
  scale: number;
  lineCount: [number, number];
  circleCount: [number, number];
  ellipseCount: [number, number];
  blockCount: [number, number];
  /** Line / arc thickness, circle radius and ellipse semi-axis range: `[3, int((W + H) * 0.03))`. */
  stroke: [number, number];
  blockSide: [number, number];
  kernel: [number, number];
}

function nonEmpty(lo: number, hi: number): [number, number] {
  const l = Math.max(1, lo);
  return [l, Math.max(l + 1, hi)];
}

/**
 * The generator's parameter ranges for a `width` x `height` image (official values at 518x518).
 * @example
 * occluderRanges(518, 518).blockSide; // [25, 75]
 */
export function occluderRanges(width: number, height: number): OccluderRanges {
  const s = (width + height) / (2 * OFFICIAL_CANVAS);
  const size = Math.floor((width + height) * 0.03);
  return {
    scale: s,
    lineCount: [1, 3],
    circleCount: [1, 3],
    ellipseCount: [1, 3],
    blockCount: [3, 7],
    stroke: nonEmpty(3, size),
    blockSide: nonEmpty(Math.round(25 * s), Math.round(75 * s)),
    kernel: nonEmpty(Math.round(5 * s), Math.round(9 * s)),
  };
}

function checkSize(op: string, width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height)) {
    throw new OcclusionError(`${op}: image size must be integers, got ${width}x${height}`);
  }
  if (width < MIN_OCCLUDE_SIDE || height < MIN_OCCLUDE_SIDE) {
    throw new OcclusionError(
      `${op}: image is ${width}x${height}; occluders need at least ${MIN_OCCLUDE_SIDE}x${MIN_OCCLUDE_SIDE} pixels (upscale the image first)`,
    );
  }
}

/**
 * One random occluder mask (0/1 per pixel, row-major `height x width`), drawn from `rng`.
 * @example
 * const occ = generateOccluder(518, 518, new Rng(42));
 */
export function generateOccluder(width: number, height: number, rng: Rng): Uint8Array {
  checkSize('generateOccluder', width, height);
  const g = occluderRanges(width, height);
  const r = emptyRaster(width, height);
  const ri = (range: [number, number]) => rng.randint(range[0], range[1]);
  for (let i = ri(g.lineCount); i > 0; i--) {
    const x1 = rng.randint(1, width);
    const x2 = rng.randint(1, width);
    const y1 = rng.randint(1, height);
    const y2 = rng.randint(1, height);
    drawLine(r, x1, y1, x2, y2, ri(g.stroke));
  }
  for (let i = ri(g.circleCount); i > 0; i--) {
    const x = rng.randint(1, width);
    const y = rng.randint(1, height);
    fillCircle(r, x, y, ri(g.stroke));
  }
  for (let i = ri(g.ellipseCount); i > 0; i--) {
    const x = rng.randint(1, width);
    const y = rng.randint(1, height);
    const a = ri(g.stroke);
    const b = ri(g.stroke);
    const rot = rng.randint(0, 180);
    const end = rng.randint(0, 360);
    drawEllipseArc(r, x, y, a, b, rot, 0, end, ri(g.stroke));
  }
  let data = r.data;
  for (let i = ri(g.blockCount); i > 0; i--) {
    const bh = ri(g.blockSide);
    const bw = ri(g.blockSide);
    const x = width - bw > 0 ? rng.randint(0, width - bw) : 0;
    const y = height - bh > 0 ? rng.randint(0, height - bh) : 0;
    fillRect({ width, height, data }, x, y, bw, bh);
    data = dilateEllipse(data, width, height, ri(g.kernel));
  }
  return data;
}

/**
 * The object region (0/1 per pixel) of an image: alpha > 0 for images with alpha; otherwise `objectMask` (gray
 * >= 128 = object) when given; otherwise every pixel whose colour differs by more than {@link BORDER_TOLERANCE}
 * in some channel from the most common colour of the image border.
 * @example
 * const obj = objectRegion(await readImage('mug.png'));
 */
export function objectRegion(img: RawImage, objectMask?: RawImage): Uint8Array {
  const { width, height, channels, data } = img;
  const n = width * height;
  const out = new Uint8Array(n);
  if (channels === 2 || channels === 4) {
    for (let i = 0; i < n; i++) out[i] = data[i * channels + channels - 1]! > 0 ? 1 : 0;
    return out;
  }
  if (objectMask) {
    if (objectMask.width !== width || objectMask.height !== height) {
      throw new OcclusionError(
        `objectRegion: object mask is ${objectMask.width}x${objectMask.height} but the image is ${width}x${height}; they must match`,
      );
    }
    const c = objectMask.channels;
    for (let i = 0; i < n; i++) out[i] = objectMask.data[i * c]! >= 128 ? 1 : 0;
    return out;
  }
  // Most common border colour.
  const counts = new Map<number, number>();
  const key = (i: number) => {
    let k = 0;
    for (let ch = 0; ch < channels; ch++) k = k * 256 + data[i * channels + ch]!;
    return k;
  };
  const visit = (x: number, y: number) => {
    const k = key(y * width + x);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  };
  for (let x = 0; x < width; x++) {
    visit(x, 0);
    visit(x, height - 1);
  }
  for (let y = 1; y < height - 1; y++) {
    visit(0, y);
    visit(width - 1, y);
  }
  let best = 0;
  let bestCount = -1;
  for (const [k, c] of counts) {
    if (c > bestCount || (c === bestCount && k < best)) {
      best = k;
      bestCount = c;
    }
  }
  const bg: number[] = [];
  for (let ch = channels - 1, k = best; ch >= 0; ch--, k = Math.floor(k / 256)) bg[ch] = k % 256;
  for (let i = 0; i < n; i++) {
    let diff = 0;
    for (let ch = 0; ch < channels; ch++) diff = Math.max(diff, Math.abs(data[i * channels + ch]! - bg[ch]!));
    out[i] = diff > BORDER_TOLERANCE ? 1 : 0;
  }
  return out;
}

/**
 * Applies an occluder: the 3-level mask (occluder 0, visible object 188, background 255) and the image with the
 * occluder's pixels black (colour channels 0, alpha kept).
 * @example
 * const { image, mask } = applyOccluder(img, objectRegion(img), occ);
 */
export function applyOccluder(
  img: RawImage,
  object: Uint8Array,
  occluder: Uint8Array,
): { image: RawImage; mask: RawImage } {
  const n = img.width * img.height;
  if (object.length !== n || occluder.length !== n) {
    throw new OcclusionError(
      `applyOccluder: image has ${n} pixels but object/occluder masks have ${object.length}/${occluder.length}`,
    );
  }
  const c = img.channels;
  const colour = c === 2 || c === 4 ? c - 1 : c;
  const out = new Uint8Array(img.data);
  const mask = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (occluder[i]) {
      mask[i] = MASK_OCCLUDED;
      for (let ch = 0; ch < colour; ch++) out[i * c + ch] = 0;
    } else {
      mask[i] = object[i] ? MASK_VISIBLE : MASK_BACKGROUND;
    }
  }
  return {
    image: { width: img.width, height: img.height, channels: c, data: out },
    mask: { width: img.width, height: img.height, channels: 1, data: mask },
  };
}

/** Fraction of object pixels covered by the occluder (0 for an empty object). */
export function hiddenFraction(object: Uint8Array, occluder: Uint8Array): number {
  let obj = 0;
  let hid = 0;
  for (let i = 0; i < object.length; i++) {
    if (object[i]) {
      obj++;
      if (occluder[i]) hid++;
    }
  }
  return obj === 0 ? 0 : hid / obj;
}

export interface Occlude2dOptions {
  /** Seed of the generator. */
  seed?: number;
  /** Sample index (the generator stream); sample k is the same whatever the number of samples. */
  index?: number;
  /** Smallest accepted hidden fraction of the object. */
  minFrac?: number;
  /** Largest accepted hidden fraction of the object. */
  maxFrac?: number;
  /** Occluders drawn before giving up on the fraction range. */
  maxAttempts?: number;
}

export const OCCLUDE2D_DEFAULTS: Required<Occlude2dOptions> = {
  seed: 0,
  index: 0,
  minFrac: 0,
  maxFrac: 1,
  maxAttempts: 200,
};

export interface Occlude2dResult {
  image: RawImage;
  /** 1-channel 3-level mask. */
  mask: RawImage;
  /** Fraction of the object hidden by the occluder. */
  hiddenFraction: number;
  /** Occluders drawn until one fitted (1 = the first). */
  attempts: number;
}

/**
 * Draws occluders until the hidden fraction of `object` lies in `[minFrac, maxFrac]` and applies it.
 * Throws {@link OcclusionError} when no occluder fits within `maxAttempts` draws, or for an empty object with
 * `minFrac > 0`.
 * @example
 * const r = occlude2d(img, objectRegion(img), { seed: 1, index: 0, minFrac: 0.2, maxFrac: 0.6 });
 * await writePng('000.png', r.image); await writePng('000_mask.png', r.mask);
 */
export function occlude2d(
  img: RawImage,
  object: Uint8Array,
  options: Occlude2dOptions = {},
): Occlude2dResult {
  const o = { ...OCCLUDE2D_DEFAULTS, ...options };
  checkSize('occlude2d', img.width, img.height);
  if (!(o.minFrac >= 0 && o.maxFrac <= 1 && o.minFrac <= o.maxFrac)) {
    throw new OcclusionError(
      `occlude2d: need 0 <= minFrac <= maxFrac <= 1, got minFrac=${o.minFrac} maxFrac=${o.maxFrac}`,
    );
  }
  if (!Number.isInteger(o.maxAttempts) || o.maxAttempts < 1) {
    throw new OcclusionError(`occlude2d: maxAttempts must be a positive integer, got ${o.maxAttempts}`);
  }
  const objectPixels = object.reduce((s, v) => s + (v ? 1 : 0), 0);
  if (objectPixels === 0 && o.minFrac > 0) {
    throw new OcclusionError(
      'occlude2d: the object region is empty, so no hidden fraction above 0 is possible; pass an RGBA image, --object-mask, or an image on a plain background',
    );
  }
  const rng = new Rng(o.seed, o.index);
  let closest = Number.NaN;
  for (let attempt = 1; attempt <= o.maxAttempts; attempt++) {
    const occ = generateOccluder(img.width, img.height, rng);
    const f = hiddenFraction(object, occ);
    if (f >= o.minFrac && f <= o.maxFrac) {
      return { ...applyOccluder(img, object, occ), hiddenFraction: f, attempts: attempt };
    }
    const target = f < o.minFrac ? o.minFrac : o.maxFrac;
    if (Number.isNaN(closest) || Math.abs(f - target) < Math.abs(closest - target)) closest = f;
  }
  throw new OcclusionError(
    `occlude2d: no occluder hid a fraction of the object within [${o.minFrac}, ${o.maxFrac}] in ${o.maxAttempts} attempts (closest ${closest.toFixed(3)}); widen the range (typical fractions depend on the object's size in the image)`,
  );
}
