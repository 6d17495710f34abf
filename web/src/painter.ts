/**
 * The mask painter of one view: the image on a canvas with the painted layers drawn over it (visible object in
 * green, occluder in red), pointer input for brush / eraser / fill, undo/redo.
 *
 * Notes:
 * - Strokes are applied to the image-resolution layers (mask-layers.ts) and the overlay is redrawn from them, so
 *   what is shown is exactly what the pipeline gets. The overlay is rebuilt only for the rows a stroke touched
 *   (`dirtyRows`) while painting; a full rebuild of a 1024x1024 overlay takes a few ms, fine after fill/undo.
 * - The brush size is in screen pixels (what the user sees) and converted to image pixels per stroke.
 */

import {
  emptyLayers,
  floodFill,
  LayerHistory,
  type LayerName,
  type MaskLayers,
  PAINTED,
  paintStroke,
  UNPAINTED,
} from './mask-layers.ts';

export type Tool = 'brush' | 'eraser' | 'fill';

/** Overlay colours, RGB. */
const VISIBLE_RGB = [40, 220, 90] as const;
const OCCLUDER_RGB = [235, 50, 50] as const;

/** A view's painting state: the image and its layers. */
export interface PaintView {
  name: string;
  /** The decoded image as drawn (RGBA), at its own resolution. */
  bitmap: ImageBitmap;
  layers: MaskLayers;
  history: LayerHistory;
}

/**
 * A new view for an image.
 * @example
 * const view = newPaintView('photo.png', await createImageBitmap(file));
 */
export function newPaintView(name: string, bitmap: ImageBitmap): PaintView {
  return {
    name,
    bitmap,
    layers: emptyLayers(bitmap.width, bitmap.height),
    history: new LayerHistory(bitmap.width, bitmap.height),
  };
}

/** Options for {@link Painter}. */
export interface PainterOptions {
  /** Called after every edit, undo or redo (e.g. to refresh buttons and counts). */
  onChange?: () => void;
}

/**
 * Paints on the active view in `canvas`.
 * @example
 * const painter = new Painter(canvas, { onChange: refresh });
 * painter.setView(view);
 */
export class Painter {
  tool: Tool = 'brush';
  layer: LayerName = 'object';
  /** Brush radius in screen pixels. */
  size = 12;
  /** Overlay opacity 0..1. */
  opacity = 0.5;
  private view: PaintView | null = null;
  private readonly ctx: CanvasRenderingContext2D;
  private overlay: OffscreenCanvas | null = null;
  private overlayCtx: OffscreenCanvasRenderingContext2D | null = null;
  private overlayPixels: ImageData | null = null;
  private last: { x: number; y: number } | null = null;
  private readonly onChange: () => void;

  constructor(
    readonly canvas: HTMLCanvasElement,
    options: PainterOptions = {},
  ) {
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('this browser gives no 2D canvas context');
    this.ctx = ctx;
    this.onChange = options.onChange ?? (() => {});
    canvas.addEventListener('pointerdown', (e) => this.down(e));
    canvas.addEventListener('pointermove', (e) => this.move(e));
    canvas.addEventListener('pointerup', () => this.up());
    canvas.addEventListener('pointercancel', () => this.up());
    canvas.addEventListener('pointerleave', () => this.up());
    const parent = canvas.parentElement;
    if (parent) new ResizeObserver(() => this.fit()).observe(parent);
  }

  /** Scales the canvas on screen to fill its container, keeping the image's aspect (small images grow). */
  fit(): void {
    const parent = this.canvas.parentElement;
    if (!parent || !this.view) return;
    const { width, height } = this.view.bitmap;
    const s = Math.min(parent.clientWidth / width, parent.clientHeight / height);
    this.canvas.style.width = `${Math.floor(width * s)}px`;
    this.canvas.style.height = `${Math.floor(height * s)}px`;
  }

  get active(): PaintView | null {
    return this.view;
  }

  /** Shows `view` (null clears the canvas). */
  setView(view: PaintView | null): void {
    this.view = view;
    this.last = null;
    if (!view) {
      this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
      return;
    }
    this.canvas.width = view.bitmap.width;
    this.canvas.height = view.bitmap.height;
    this.overlay = new OffscreenCanvas(view.bitmap.width, view.bitmap.height);
    this.overlayCtx = this.overlay.getContext('2d');
    this.overlayPixels = new ImageData(view.bitmap.width, view.bitmap.height);
    this.rebuildOverlay(0, view.bitmap.height);
    this.draw();
    this.fit();
  }

  /** Replaces the active view's layers (loading a mask), as one undoable edit. */
  replaceLayers(layers: MaskLayers): void {
    const v = this.view;
    if (!v) return;
    v.history.push(v.layers);
    v.layers = layers;
    this.refresh();
  }

  /** Clears both layers of the active view (undoable). */
  clear(): void {
    const v = this.view;
    if (!v) return;
    this.replaceLayers(emptyLayers(v.layers.width, v.layers.height));
  }

  undo(): void {
    const v = this.view;
    const prev = v?.history.undo(v.layers);
    if (v && prev) {
      v.layers = prev;
      this.refresh();
    }
  }

  redo(): void {
    const v = this.view;
    const next = v?.history.redo(v.layers);
    if (v && next) {
      v.layers = next;
      this.refresh();
    }
  }

  /** Redraws everything (after opacity changes or layer replacement). */
  refresh(): void {
    if (!this.view) return;
    this.rebuildOverlay(0, this.view.layers.height);
    this.draw();
    this.onChange();
  }

  /** Image coordinates of a pointer event, and image pixels per screen pixel. */
  private toImage(e: PointerEvent): { x: number; y: number; scale: number } {
    const r = this.canvas.getBoundingClientRect();
    const scale = this.canvas.width / Math.max(1, r.width);
    return { x: (e.clientX - r.left) * scale, y: (e.clientY - r.top) * scale, scale };
  }

  private down(e: PointerEvent): void {
    const v = this.view;
    if (!v || e.button !== 0) return;
    e.preventDefault();
    const p = this.toImage(e);
    v.history.push(v.layers);
    const layer = v.layers[this.layer];
    if (this.tool === 'fill') {
      const value =
        layer[Math.floor(p.y) * v.layers.width + Math.floor(p.x)] === PAINTED ? UNPAINTED : PAINTED;
      floodFill(layer, v.layers.width, v.layers.height, p.x, p.y, value);
      this.refresh();
      return;
    }
    this.canvas.setPointerCapture?.(e.pointerId);
    this.last = { x: p.x, y: p.y };
    this.stamp(p.x, p.y, p.x, p.y, p.scale);
  }

  private move(e: PointerEvent): void {
    if (!this.last || !this.view) return;
    const p = this.toImage(e);
    this.stamp(this.last.x, this.last.y, p.x, p.y, p.scale);
    this.last = { x: p.x, y: p.y };
  }

  private up(): void {
    if (!this.last) return;
    this.last = null;
    this.onChange();
  }

  private stamp(x0: number, y0: number, x1: number, y1: number, scale: number): void {
    const v = this.view!;
    const { width, height } = v.layers;
    const radius = this.size * scale;
    const value = this.tool === 'eraser' ? UNPAINTED : PAINTED;
    paintStroke(v.layers[this.layer], width, height, x0, y0, x1, y1, radius, value);
    const ya = Math.max(0, Math.floor(Math.min(y0, y1) - radius - 1));
    const yb = Math.min(height, Math.ceil(Math.max(y0, y1) + radius + 2));
    this.rebuildOverlay(ya, yb);
    this.draw();
  }

  /** Recomputes overlay rows [y0, y1) from the layers. */
  private rebuildOverlay(y0: number, y1: number): void {
    const v = this.view;
    const px = this.overlayPixels;
    if (!v || !px || !this.overlayCtx) return;
    const { width, object, occluder } = v.layers;
    const d = px.data;
    for (let i = y0 * width; i < y1 * width; i++) {
      const o = i * 4;
      if (occluder[i] === PAINTED) {
        d[o] = OCCLUDER_RGB[0];
        d[o + 1] = OCCLUDER_RGB[1];
        d[o + 2] = OCCLUDER_RGB[2];
        d[o + 3] = 255;
      } else if (object[i] === PAINTED) {
        d[o] = VISIBLE_RGB[0];
        d[o + 1] = VISIBLE_RGB[1];
        d[o + 2] = VISIBLE_RGB[2];
        d[o + 3] = 255;
      } else d[o + 3] = 0;
    }
    this.overlayCtx.putImageData(px, 0, 0, 0, y0, width, y1 - y0);
  }

  private draw(): void {
    const v = this.view;
    if (!v || !this.overlay) return;
    this.ctx.globalAlpha = 1;
    this.ctx.drawImage(v.bitmap, 0, 0);
    this.ctx.globalAlpha = this.opacity;
    this.ctx.drawImage(this.overlay, 0, 0);
    this.ctx.globalAlpha = 1;
  }
}
