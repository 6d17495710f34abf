/**
 * Per-view preprocessing of Amodal3R (ARCHITECTURE.md §a.2-a.4): mask classification and dilation, masking of the
 * image, the squash to 518x518 with Pillow's LANCZOS, ImageNet normalisation, the 37x37 visibility / occlusion
 * patch ratios, and the assembly of the 4112-token condition.
 *
 * Parity with the official code (`preprocess_image_w_mask`, `encode_image`, `mask_patcher`) is bit-exact on the
 * fixtures in test/fixtures/preprocess (written by tools/fixtures/preprocess.py running the official functions).
 *
 * Notes:
 * - `uint8(float32(v) / 255 * 255)` is `v` for every byte (checked), so masking is done on bytes directly: visible
 *   pixels keep their value, all others become 0 in every channel (alpha too).
 * - Gray inputs are expanded to RGB (gray+alpha to RGBA) first. The official code would mis-broadcast a 2-D array;
 *   the expansion gives what a user means and is identical to `Image.convert("RGB")`.
 * - The float steps are evaluated in float32 order (`Math.fround` after every operation) to match
 *   `np.float32 / 255` followed by torchvision `Normalize` (`sub_(mean).div_(std)` in float32).
 * - The nearest interpolation of the masks uses PyTorch's legacy `mode='nearest'` index rule with the scale
 *   `float(in) / out` computed in float32 and `floorf(dst * scale)` in float32, clamped to `in - 1`.
 */

import { assertRawImage, ImageInputError, type RawImage } from '../io/raw-image.ts';
import {
  DEFAULT_DILATION_KERNEL,
  dilateEllipse,
  type GrayMask,
  isBackgroundValue,
  isOccludedValue,
  MASK_BACKGROUND,
  MASK_VISIBLE,
  MaskInputError,
  TINY_VISIBLE_FRACTION,
  toGrayMask,
} from './mask.ts';
import { pillowResizeLanczos } from './pillow-resize.ts';

/** Side of the square image DINOv2 sees. */
export const IMAGE_SIZE = 518;
/** DINOv2 patch size. */
export const PATCH_SIZE = 14;
/** Patches per side (518 / 14). */
export const PATCHES_PER_SIDE = IMAGE_SIZE / PATCH_SIZE;
/** Patch tokens per view (37 * 37). */
export const NUM_PATCHES = PATCHES_PER_SIDE * PATCHES_PER_SIDE;
/** DINOv2 tokens per view: CLS + 4 registers + 1369 patches. */
export const DINO_TOKENS = 1 + 4 + NUM_PATCHES;
/** Condition tokens per view: DINOv2 tokens + visibility ratios + occlusion ratios. */
export const COND_TOKENS = DINO_TOKENS + 2 * NUM_PATCHES;
/** Channel width of the condition (DINOv2 ViT-L hidden size). */
export const COND_CHANNELS = 1024;
/** ImageNet mean used by the official `transforms.Normalize`. */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
/** ImageNet std used by the official `transforms.Normalize`. */
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/** Options for {@link preprocessView}. */
export interface PreprocessOptions {
  /**
   * Size of the elliptical dilation applied to the occluded region before masking (official
   * `erode_kernel_size`, default 3; 0 disables it).
   */
  dilationKernel?: number;
  /**
   * Pad image and mask to a square (image with 0, mask with background 255, centred; an odd remainder goes to the
   * right/bottom) before anything else. Off by default because the official pipeline squashes any aspect ratio
   * straight to 518x518, and the models were trained on square renders; turn it on for non-square photos, whose
   * objects the squash would otherwise distort (a 2:1 photo makes the object twice as thin), at the cost of
   * leaving the official preprocessing.
   */
  padToSquare?: boolean;
  /** Receives each warning as it is produced (they are also returned in `warnings`). */
  onWarning?: (message: string) => void;
  /** Label for messages (e.g. the file name or "view 2"). */
  label?: string;
}

export const PREPROCESS_DEFAULTS = {
  dilationKernel: DEFAULT_DILATION_KERNEL,
  padToSquare: false,
  label: 'view',
} as const;

/** Output of {@link preprocessView}. */
export interface PreprocessedView {
  /** Normalised image, CHW float32 [3, 518, 518], ready for DINOv2. */
  image518: Float32Array;
  /** The masked, resized 8-bit RGB image (518x518x3 interleaved) the tensor was made from; useful for previews. */
  rgb518: Uint8Array;
  /** Fraction of visible pixels per 14x14 patch, [1369] row-major (values n/196). */
  visRatio: Float32Array;
  /** Fraction of (dilated) occluded pixels per 14x14 patch, [1369] row-major (values n/196). */
  occRatio: Float32Array;
  /** Fraction of the (possibly padded) image that is visible object. */
  visibleFraction: number;
  /** Non-fatal problems, e.g. a tiny visible area. */
  warnings: string[];
}

/** Gray / gray+alpha become RGB / RGBA by repeating the gray value; RGB(A) passes through. */
function toColour(img: RawImage): { channels: 3 | 4; data: Uint8Array } {
  if (img.channels === 3 || img.channels === 4) return { channels: img.channels, data: img.data };
  const n = img.width * img.height;
  const C = img.channels === 2 ? 4 : 3;
  const out = new Uint8Array(n * C);
  for (let i = 0; i < n; i++) {
    const g = img.data[i * img.channels];
    out[i * C] = g;
    out[i * C + 1] = g;
    out[i * C + 2] = g;
    if (C === 4) out[i * C + 3] = img.data[i * 2 + 1];
  }
  return { channels: C, data: out };
}

/** Pads interleaved pixels to `side x side`, centred, filling with `fill`. */
function padCentred(
  data: Uint8Array,
  w: number,
  h: number,
  C: number,
  side: number,
  fill: number,
): Uint8Array {
  const out = new Uint8Array(side * side * C).fill(fill);
  const ox = Math.floor((side - w) / 2);
  const oy = Math.floor((side - h) / 2);
  for (let y = 0; y < h; y++) out.set(data.subarray(y * w * C, (y + 1) * w * C), ((y + oy) * side + ox) * C);
  return out;
}

/**
 * PyTorch's legacy `F.interpolate(mode='nearest')` source index for output index `dst`: the scale is
 * `float32(inSize) / outSize` in float32 and the product is rounded to float32 before `floor`.
 *
 * @example
 * nearestSourceIndex(517, 333, 518); // 332
 */
export function nearestSourceIndex(dst: number, inSize: number, outSize: number): number {
  if (inSize === outSize) return dst;
  const scale = Math.fround(inSize / outSize);
  return Math.min(Math.floor(Math.fround(dst * scale)), inSize - 1);
}

/**
 * `mask_patcher`: nearest-resize a 0/1 mask of `width x height` to 518x518, then the mean of each 14x14 patch,
 * row-major [1369].
 *
 * @example
 * const ratios = patchRatios(visible, 640, 480);
 */
export function patchRatios(mask: Uint8Array, width: number, height: number): Float32Array {
  const xs = new Int32Array(IMAGE_SIZE);
  const ys = new Int32Array(IMAGE_SIZE);
  for (let i = 0; i < IMAGE_SIZE; i++) {
    xs[i] = nearestSourceIndex(i, width, IMAGE_SIZE);
    ys[i] = nearestSourceIndex(i, height, IMAGE_SIZE);
  }
  const counts = new Int32Array(NUM_PATCHES);
  for (let y = 0; y < IMAGE_SIZE; y++) {
    const row = ys[y] * width;
    const pr = Math.floor(y / PATCH_SIZE) * PATCHES_PER_SIDE;
    for (let x = 0; x < IMAGE_SIZE; x++) {
      if (mask[row + xs[x]]) counts[pr + Math.floor(x / PATCH_SIZE)]++;
    }
  }
  const out = new Float32Array(NUM_PATCHES);
  for (let i = 0; i < NUM_PATCHES; i++) out[i] = counts[i] / (PATCH_SIZE * PATCH_SIZE);
  return out;
}

/**
 * ImageNet-normalised CHW float32 tensor from 518x518 interleaved RGB bytes, in the official float32 order:
 * `((v / 255) - mean) / std`.
 *
 * @example
 * const x = normalizeImage(rgb518); // Float32Array(3 * 518 * 518)
 */
export function normalizeImage(rgb: Uint8Array, size = IMAGE_SIZE): Float32Array {
  const n = size * size;
  if (rgb.length !== n * 3)
    throw new ImageInputError(
      `normalizeImage: expected ${n * 3} bytes (${size}x${size}x3), got ${rgb.length}`,
    );
  // One lookup table per channel: 256 possible inputs.
  const out = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) {
    const m = Math.fround(IMAGENET_MEAN[c]);
    const s = Math.fround(IMAGENET_STD[c]);
    const lut = new Float32Array(256);
    for (let v = 0; v < 256; v++) lut[v] = Math.fround(Math.fround(Math.fround(v / 255) - m) / s);
    const base = c * n;
    for (let i = 0; i < n; i++) out[base + i] = lut[rgb[i * 3 + c]];
  }
  return out;
}

/** Full-resolution masks of one view: `vis` = 1 - (dilated occluded | background), `occ` = dilated occluded. */
export interface VisibilityMasks {
  vis: Uint8Array;
  occ: Uint8Array;
  visibleCount: number;
}

/**
 * Classifies a 3-level gray mask with the official thresholds and dilates the occluded region with the
 * `kernel x kernel` OpenCV ellipse (0 = no dilation). Returns 0/1 masks of the mask's size.
 *
 * @example
 * const { vis, occ } = classifyMask(gray, 3);
 */
export function classifyMask(mask: GrayMask, kernel: number = DEFAULT_DILATION_KERNEL): VisibilityMasks {
  const n = mask.width * mask.height;
  const m = mask.data;
  const occ0 = new Uint8Array(n);
  for (let i = 0; i < n; i++) occ0[i] = isOccludedValue(m[i]) ? 1 : 0;
  const occ = kernel > 0 ? dilateEllipse(occ0, mask.width, mask.height, kernel) : occ0;
  const vis = new Uint8Array(n);
  let visibleCount = 0;
  for (let i = 0; i < n; i++) {
    if (!occ[i] && !isBackgroundValue(m[i])) {
      vis[i] = 1;
      visibleCount++;
    }
  }
  return { vis, occ, visibleCount };
}

/**
 * Keeps the pixels where `vis` is 1 and zeroes all channels (alpha included) elsewhere; the official
 * `uint8(float32(img) / 255 * (1 - invis) * 255)`, which is lossless for kept bytes.
 *
 * @example
 * const masked = maskPixels(rgb, 3, vis);
 */
export function maskPixels(pixels: Uint8Array, channels: number, vis: Uint8Array): Uint8Array {
  if (pixels.length !== vis.length * channels) {
    throw new ImageInputError(
      `maskPixels: ${pixels.length} bytes do not match ${vis.length} mask pixels x ${channels} channels`,
    );
  }
  const out = new Uint8Array(pixels.length);
  for (let i = 0; i < vis.length; i++) {
    if (!vis[i]) continue;
    for (let c = 0; c < channels; c++) out[i * channels + c] = pixels[i * channels + c];
  }
  return out;
}

/**
 * Preprocesses one view exactly as the official `preprocess_image_w_mask` + `encode_image` (input side) +
 * `mask_patcher`: classify the 3-level mask, dilate the occluded region, zero every non-visible pixel, squash to
 * 518x518 with Pillow LANCZOS, drop alpha, normalise; and compute the per-patch visibility and occlusion ratios.
 *
 * The mask may be gray or colour (reduced like Pillow's `convert("L")`); it must have the image's size and at least
 * one visible pixel. A visible area below {@link TINY_VISIBLE_FRACTION} of the image gives a warning.
 *
 * @example
 * const img = await readImage('photo.png');
 * const mask = toGrayMask(await readImage('photo_mask.png'));
 * const { image518, visRatio, occRatio, warnings } = preprocessView(img, mask);
 */
export function preprocessView(
  image: RawImage,
  mask: GrayMask | RawImage,
  options: PreprocessOptions = {},
): PreprocessedView {
  const o = { ...PREPROCESS_DEFAULTS, ...options };
  assertRawImage(image, `${o.label}: image`);
  if ('channels' in mask) assertRawImage(mask, `${o.label}: mask`);
  const gray: GrayMask = 'channels' in mask ? toGrayMask(mask) : mask;
  if (gray.data.length !== gray.width * gray.height) {
    throw new MaskInputError(
      `${o.label}: mask data has ${gray.data.length} bytes, expected ${gray.width}x${gray.height}`,
    );
  }
  if (gray.width !== image.width || gray.height !== image.height) {
    throw new MaskInputError(
      `${o.label}: mask is ${gray.width}x${gray.height} but the image is ${image.width}x${image.height}; the mask must have the image's size (resize it with nearest-neighbour)`,
    );
  }
  if (!Number.isInteger(o.dilationKernel) || o.dilationKernel < 0) {
    throw new MaskInputError(
      `${o.label}: dilationKernel must be a non-negative integer, got ${o.dilationKernel}`,
    );
  }
  let { channels: C, data: pix } = toColour(image);
  let w = image.width;
  let h = image.height;
  let m = gray.data;
  if (o.padToSquare && w !== h) {
    const side = Math.max(w, h);
    pix = padCentred(pix, w, h, C, side, 0);
    m = padCentred(m, w, h, 1, side, MASK_BACKGROUND);
    w = side;
    h = side;
  }
  const {
    vis,
    occ,
    visibleCount: visCount,
  } = classifyMask({ width: w, height: h, data: m }, o.dilationKernel);
  if (visCount === 0) {
    throw new MaskInputError(
      `${o.label}: the mask has no visible pixels (visible = gray 127..230, e.g. ${MASK_VISIBLE}; background > 230, occluded < 127${o.dilationKernel > 0 ? `, and the occluded region is grown by a ${o.dilationKernel}x${o.dilationKernel} ellipse` : ''}); mark the visible part of the object in gray`,
    );
  }
  const n = w * h;
  const warnings: string[] = [];
  const visibleFraction = visCount / n;
  if (visibleFraction < TINY_VISIBLE_FRACTION) {
    const msg = `${o.label}: only ${(visibleFraction * 100).toFixed(2)}% of the image is visible object (${visCount} pixels); the reconstruction may be poor, crop closer to the object`;
    warnings.push(msg);
    o.onWarning?.(msg);
  }
  const masked = maskPixels(pix, C, vis);
  const resized = pillowResizeLanczos(masked, w, h, C, IMAGE_SIZE, IMAGE_SIZE);
  const N = IMAGE_SIZE * IMAGE_SIZE;
  let rgb518: Uint8Array;
  if (C === 3) rgb518 = resized;
  else {
    rgb518 = new Uint8Array(N * 3);
    for (let i = 0; i < N; i++) {
      rgb518[i * 3] = resized[i * 4];
      rgb518[i * 3 + 1] = resized[i * 4 + 1];
      rgb518[i * 3 + 2] = resized[i * 4 + 2];
    }
  }
  return {
    image518: normalizeImage(rgb518),
    rgb518,
    visRatio: patchRatios(vis, w, h),
    occRatio: patchRatios(occ, w, h),
    visibleFraction,
    warnings,
  };
}

/**
 * Assembles the Amodal3R condition of `V` views (§a.4): per view the 1374 DINOv2 tokens (already layer-normed),
 * then 1369 visibility-ratio tokens, then 1369 occlusion-ratio tokens, each ratio repeated over all 1024 channels.
 * `visRatios` / `occRatios` hold one [1369] array per view. Result: float32 [V, 4112, 1024].
 *
 * @example
 * const cond = buildConditioningTokens(dino, [a.visRatio], [a.occRatio]); // dino: Float32Array(1 * 1374 * 1024)
 */
export function buildConditioningTokens(
  dinoTokens: Float32Array,
  visRatios: readonly Float32Array[],
  occRatios: readonly Float32Array[],
): Float32Array {
  const V = visRatios.length;
  const per = DINO_TOKENS * COND_CHANNELS;
  if (V === 0 || occRatios.length !== V || dinoTokens.length !== V * per) {
    throw new Error(
      `buildConditioningTokens: dinoTokens has ${dinoTokens.length} values (expected V x ${DINO_TOKENS} x ${COND_CHANNELS} with V = ${V}), ${visRatios.length} visibility and ${occRatios.length} occlusion ratio arrays; all must describe the same V >= 1 views`,
    );
  }
  for (let v = 0; v < V; v++) {
    if (visRatios[v].length !== NUM_PATCHES || occRatios[v].length !== NUM_PATCHES) {
      throw new Error(
        `buildConditioningTokens: view ${v} has ratio arrays of ${visRatios[v].length} and ${occRatios[v].length} values, expected ${NUM_PATCHES}`,
      );
    }
  }
  const out = new Float32Array(V * COND_TOKENS * COND_CHANNELS);
  for (let v = 0; v < V; v++) {
    const base = v * COND_TOKENS * COND_CHANNELS;
    out.set(dinoTokens.subarray(v * per, (v + 1) * per), base);
    const visBase = base + per;
    const occBase = visBase + NUM_PATCHES * COND_CHANNELS;
    for (let t = 0; t < NUM_PATCHES; t++) {
      out.fill(visRatios[v][t], visBase + t * COND_CHANNELS, visBase + (t + 1) * COND_CHANNELS);
      out.fill(occRatios[v][t], occBase + t * COND_CHANNELS, occBase + (t + 1) * COND_CHANNELS);
    }
  }
  return out;
}

/**
 * The unconditional (classifier-free guidance) condition: zeros [1, 4112, 1024].
 *
 * @example
 * const neg = negativeConditioning(); // Float32Array(4112 * 1024), all 0
 */
export function negativeConditioning(): Float32Array {
  return new Float32Array(COND_TOKENS * COND_CHANNELS);
}
