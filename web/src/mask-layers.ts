/**
 * The two painted layers of one view (visible object, occluder) and their conversion to and from the official
 * 3-level mask. Pure data, no DOM: the painter draws with these functions and the tests run them in Node.
 *
 * Notes:
 * - Layers are kept at the image's own resolution (one byte per pixel, 0 or 255) so the mask handed to the
 *   pipeline has exactly the image's size; the screen scale only affects where strokes land.
 * - The 3-level mask comes from the library's `maskFromBinary` (occluder wins where both are painted, as the
 *   occluder is in front), and loading a mask uses the library's thresholds (`isOccludedValue`,
 *   `isBackgroundValue`), so painted and loaded masks follow the CLI's convention exactly.
 * - Undo keeps whole-layer snapshots (2 bytes per pixel per step). Alternatives: per-stroke dirty rectangles
 *   save memory but complicate fill (which can touch the whole image); at the 50-step cap a 2048x2048 view costs
 *   400 MiB in the worst case, so the cap scales with the image size (`historyLimit`).
 */

import type { RawImage } from '../../src/io/raw-image.ts';
import {
  type GrayMask,
  isBackgroundValue,
  isOccludedValue,
  MaskInputError,
  maskFromBinary,
} from '../../src/preprocess/mask.ts';

/** Which layer a tool paints. */
export type LayerName = 'object' | 'occluder';

/** Value of a painted pixel in a layer. */
export const PAINTED = 255;
/** Value of an unpainted pixel in a layer. */
export const UNPAINTED = 0;
/** Snapshot budget of the undo history, in bytes (the step count derives from it). */
export const HISTORY_BYTES = 256 * 1024 * 1024;
/** Most undo steps kept, whatever the image size. */
export const HISTORY_MAX_STEPS = 50;

/** The painted layers of one image. */
export interface MaskLayers {
  width: number;
  height: number;
  /** Visible part of the target object (PAINTED / UNPAINTED per pixel). */
  object: Uint8Array;
  /** Whatever hides the object (PAINTED / UNPAINTED per pixel). */
  occluder: Uint8Array;
}

/**
 * Empty layers for an image of the given size.
 * @example
 * const layers = emptyLayers(640, 480);
 */
export function emptyLayers(width: number, height: number): MaskLayers {
  return { width, height, object: new Uint8Array(width * height), occluder: new Uint8Array(width * height) };
}

/** A deep copy (for undo snapshots). */
export function cloneLayers(l: MaskLayers): MaskLayers {
  return { width: l.width, height: l.height, object: l.object.slice(), occluder: l.occluder.slice() };
}

/**
 * Stamps a filled disc of `radius` image pixels at (cx, cy) with `value` into `layer`.
 * @example
 * paintDisc(layers.object, layers.width, layers.height, 10, 10, 4, PAINTED);
 */
export function paintDisc(
  layer: Uint8Array,
  width: number,
  height: number,
  cx: number,
  cy: number,
  radius: number,
  value: number,
): void {
  const r = Math.max(0.5, radius);
  const y0 = Math.max(0, Math.floor(cy - r));
  const y1 = Math.min(height - 1, Math.ceil(cy + r));
  for (let y = y0; y <= y1; y++) {
    // Pixel centres at +0.5: a disc of radius r covers the pixels whose centre lies within r.
    const dy = y + 0.5 - cy;
    const half = r * r - dy * dy;
    if (half < 0) continue;
    const w = Math.sqrt(half);
    const x0 = Math.max(0, Math.ceil(cx - w - 0.5));
    const x1 = Math.min(width - 1, Math.floor(cx + w - 0.5));
    if (x1 >= x0) layer.fill(value, y * width + x0, y * width + x1 + 1);
  }
}

/**
 * Paints a stroke segment: discs every half radius from (x0, y0) to (x1, y1), so fast pointer moves leave no gaps.
 * @example
 * paintStroke(layers.object, w, h, 0, 0, 50, 50, 6, PAINTED);
 */
export function paintStroke(
  layer: Uint8Array,
  width: number,
  height: number,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  radius: number,
  value: number,
): void {
  const len = Math.hypot(x1 - x0, y1 - y0);
  const step = Math.max(0.5, radius / 2);
  const n = Math.max(1, Math.ceil(len / step));
  for (let i = 0; i <= n; i++) {
    const t = i / n;
    paintDisc(layer, width, height, x0 + (x1 - x0) * t, y0 + (y1 - y0) * t, radius, value);
  }
}

/**
 * Paint-bucket fill: sets the 4-connected region of pixels equal to the one at (x, y) to `value`. Returns how
 * many pixels changed (0 when the pixel already has `value`). Scanline algorithm with an explicit stack (no
 * recursion, so a 4096x4096 region cannot overflow the call stack).
 * @example
 * floodFill(layers.object, w, h, 20, 20, PAINTED); // fill inside a painted outline
 */
export function floodFill(
  layer: Uint8Array,
  width: number,
  height: number,
  x: number,
  y: number,
  value: number,
): number {
  x = Math.floor(x);
  y = Math.floor(y);
  if (x < 0 || y < 0 || x >= width || y >= height) return 0;
  const target = layer[y * width + x];
  if (target === value) return 0;
  let changed = 0;
  const stack: number[] = [x, y];
  while (stack.length > 0) {
    const sy = stack.pop()!;
    const sx = stack.pop()!;
    const row = sy * width;
    if (layer[row + sx] !== target) continue;
    let l = sx;
    while (l > 0 && layer[row + l - 1] === target) l--;
    let r = sx;
    while (r < width - 1 && layer[row + r + 1] === target) r++;
    layer.fill(value, row + l, row + r + 1);
    changed += r - l + 1;
    for (const ny of [sy - 1, sy + 1]) {
      if (ny < 0 || ny >= height) continue;
      const nrow = ny * width;
      let inRun = false;
      for (let i = l; i <= r; i++) {
        const match = layer[nrow + i] === target;
        if (match && !inRun) stack.push(i, ny);
        inRun = match;
      }
    }
  }
  return changed;
}

function grayImage(width: number, height: number, data: Uint8Array): RawImage {
  return { width, height, channels: 1, data };
}

/**
 * The official 3-level mask of the painted layers (background 255, visible 188, occluded 0).
 * @example
 * const mask = layersToMask(layers); // hand to the pipeline with the view's image
 */
export function layersToMask(l: MaskLayers): GrayMask {
  return maskFromBinary(grayImage(l.width, l.height, l.object), grayImage(l.width, l.height, l.occluder), {
    threshold: PAINTED,
  });
}

/**
 * Layers from an existing 3-level mask (official thresholds: < 127 occluded, > 230 background, else visible).
 * Throws a {@link MaskInputError} naming `label` when the mask's size differs from the image's.
 * @example
 * const layers = maskToLayers(mask, image.width, image.height, 'photo_mask.png');
 */
export function maskToLayers(mask: GrayMask, width: number, height: number, label: string): MaskLayers {
  if (mask.width !== width || mask.height !== height) {
    throw new MaskInputError(
      `${label} is ${mask.width}x${mask.height} but the image is ${width}x${height}; a mask must have its image's size`,
    );
  }
  const l = emptyLayers(width, height);
  for (let i = 0; i < mask.data.length; i++) {
    const v = mask.data[i];
    if (isOccludedValue(v)) l.occluder[i] = PAINTED;
    else if (!isBackgroundValue(v)) l.object[i] = PAINTED;
  }
  return l;
}

/** Pixels of the object that are painted and not covered by the occluder (what the model will see). */
export function visiblePixels(l: MaskLayers): number {
  let n = 0;
  for (let i = 0; i < l.object.length; i++) if (l.object[i] === PAINTED && l.occluder[i] !== PAINTED) n++;
  return n;
}

/** Undo/redo of whole-layer snapshots with a step cap derived from {@link HISTORY_BYTES}. */
export class LayerHistory {
  private readonly undoStack: MaskLayers[] = [];
  private readonly redoStack: MaskLayers[] = [];
  readonly limit: number;

  constructor(width: number, height: number) {
    this.limit = historyLimit(width, height);
  }

  /** Records the state before an edit (clears the redo stack). */
  push(before: MaskLayers): void {
    this.undoStack.push(cloneLayers(before));
    if (this.undoStack.length > this.limit) this.undoStack.shift();
    this.redoStack.length = 0;
  }

  /** The state to go back to, given the current one (which becomes redoable); null when nothing to undo. */
  undo(current: MaskLayers): MaskLayers | null {
    const prev = this.undoStack.pop();
    if (!prev) return null;
    this.redoStack.push(cloneLayers(current));
    return prev;
  }

  /** The state to go forward to; null when nothing to redo. */
  redo(current: MaskLayers): MaskLayers | null {
    const next = this.redoStack.pop();
    if (!next) return null;
    this.undoStack.push(cloneLayers(current));
    return next;
  }

  get canUndo(): boolean {
    return this.undoStack.length > 0;
  }

  get canRedo(): boolean {
    return this.redoStack.length > 0;
  }
}

/** Undo steps for an image size: as many snapshots as fit {@link HISTORY_BYTES}, at least 1, at most 50. */
export function historyLimit(width: number, height: number): number {
  return Math.max(1, Math.min(HISTORY_MAX_STEPS, Math.floor(HISTORY_BYTES / (2 * width * height))));
}
