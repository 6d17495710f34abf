/**
 * Image conditioning (ARCHITECTURE.md §a.2-a.4): images + 3-level masks -> the [V, 4112, 1024] condition both
 * flows attend to, plus each view's visible fraction (used to order views by visibility).
 *
 * DINOv2 runs one view at a time (V x 1374 tokens never sit on the GPU at once; the official code batches views,
 * which gives the same values since views do not interact). Browser-safe: image and mask paths are decoded by the
 * Node reader loaded on demand; a web page passes decoded {@link RawImage}s. Files: `conditioning-file.ts`.
 */

import type { ModelFiles } from '../io/model-files.ts';
import type { RawImage } from '../io/raw-image.ts';
import { Dinov2 } from '../models/dinov2.ts';
import { openDinov2Dir } from '../models/dinov2-weights.ts';
import { type GrayMask, readMask } from '../preprocess/mask.ts';
import {
  buildConditioningTokens,
  COND_CHANNELS,
  DINO_TOKENS,
  IMAGE_SIZE,
  type PreprocessOptions,
  preprocessView,
} from '../preprocess/preprocess.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { Tensor } from '../runtime/tensor.ts';

/** The condition of V views. */
export interface Conditioning {
  /** [V, 4112, 1024] float32, view-major. */
  tokens: Float32Array;
  views: number;
  /** Visible fraction of each view's image. */
  visibleFractions: number[];
  warnings: string[];
}

/** Thrown for unusable inputs (counts, files); the message says what to fix. */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

export interface EncodeOptions
  extends Pick<PreprocessOptions, 'dilationKernel' | 'padToSquare' | 'onWarning'> {
  /** DINOv2 weights directory (HF or torch-hub layout; a path or model files), or a loaded model (not disposed here). */
  dinov2: string | ModelFiles | Dinov2;
  /** GPU context; null/omitted = CPU. */
  gpu?: GpuContext | null;
  /** Called after each view with (done, total). */
  onView?: (done: number, total: number) => void;
  /** Receives each view's preprocessed DINOv2 input [3, 518, 518] (for intermediate dumps). */
  onImage?: (view: number, image518: Float32Array) => void;
}

export type ImageInput = string | RawImage;
export type MaskInput = string | RawImage | GrayMask;

/**
 * Reads and checks the inputs: one mask per image, every file readable.
 * @example
 * const { images, masks } = await loadViews(['a.png'], ['a_mask.png']);
 */
export async function loadViews(
  images: readonly ImageInput[],
  masks: readonly MaskInput[],
): Promise<{ images: RawImage[]; masks: (RawImage | GrayMask)[]; labels: string[] }> {
  if (images.length === 0) throw new InputError('no input image: pass at least one --image with its --mask');
  if (images.length !== masks.length) {
    throw new InputError(
      `${images.length} image(s) but ${masks.length} mask(s): every image needs exactly one 3-level mask (white background, gray visible object, black occluder), given in the same order`,
    );
  }
  const labels = images.map((im, i) => (typeof im === 'string' ? im : `view ${i}`));
  const readImage = async (path: string) => (await import('../io/image.ts')).readImage(path);
  const imgs = await Promise.all(images.map((im) => (typeof im === 'string' ? readImage(im) : im)));
  const ms = await Promise.all(masks.map((m) => (typeof m === 'string' ? readMask(m) : m)));
  return { images: imgs, masks: ms, labels };
}

/**
 * Preprocesses the views and runs DINOv2: the Amodal3R condition.
 *
 * @example
 * const cond = await encodeCondition(['a.png'], ['a_mask.png'], { dinov2: 'model/dinov2', gpu });
 * console.log(cond.tokens.length === 4112 * 1024, cond.visibleFractions);
 */
export async function encodeCondition(
  images: readonly ImageInput[],
  masks: readonly MaskInput[],
  options: EncodeOptions,
): Promise<Conditioning> {
  const { images: imgs, masks: ms, labels } = await loadViews(images, masks);
  const views = imgs.map((im, i) =>
    preprocessView(im, ms[i], {
      // Only defined options: an explicit undefined would override the preprocessing defaults.
      ...(options.dilationKernel !== undefined && { dilationKernel: options.dilationKernel }),
      ...(options.padToSquare !== undefined && { padToSquare: options.padToSquare }),
      onWarning: options.onWarning,
      label: labels[i],
    }),
  );
  for (let i = 0; i < views.length; i++) options.onImage?.(i, views[i].image518);
  const gpu = options.gpu ?? null;
  let dino: Dinov2;
  const owned = !(options.dinov2 instanceof Dinov2);
  if (!(options.dinov2 instanceof Dinov2)) {
    const { store, config } = await openDinov2Dir(options.dinov2);
    try {
      dino = await Dinov2.load(store, config, { gpu });
    } finally {
      await store.close();
    }
  } else dino = options.dinov2 as Dinov2;
  const per = DINO_TOKENS * COND_CHANNELS;
  const dinoTokens = new Float32Array(views.length * per);
  try {
    for (let v = 0; v < views.length; v++) {
      const x = Tensor.fromArray(views[v].image518, [1, 3, IMAGE_SIZE, IMAGE_SIZE], { gpu });
      const y = dino.forward(x);
      x.dispose();
      const vals = await y.toArray();
      y.dispose();
      if (vals.length !== per)
        throw new Error(`encodeCondition: DINOv2 gave ${vals.length} values per view, expected ${per}`);
      dinoTokens.set(vals, v * per);
      options.onView?.(v + 1, views.length);
    }
  } finally {
    if (owned) dino.dispose();
  }
  return {
    tokens: buildConditioningTokens(
      dinoTokens,
      views.map((v) => v.visRatio),
      views.map((v) => v.occRatio),
    ),
    views: views.length,
    visibleFractions: views.map((v) => v.visibleFraction),
    warnings: views.flatMap((v) => v.warnings),
  };
}
