/**
 * Draws the demo inputs in assets/examples/: small procedurally shaded objects, partly hidden by an occluder, each
 * with its 3-level mask (background 255, visible 188, occluded 0) and the two binary masks it was made from.
 * Deterministic; shading is quantised to 24 levels so the PNGs stay a few KB.
 *
 * Usage: node --import tsx tools/make-examples.ts [outDir]
 */

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type RawImage, writePng } from '../src/io/image.ts';
import { MASK_BACKGROUND, MASK_OCCLUDED, MASK_VISIBLE, maskFromBinary } from '../src/preprocess/mask.ts';

const LEVELS = 24;

interface Scene {
  name: string;
  width: number;
  height: number;
  /** Object colour at (x, y) or null where the object is absent. */
  object: (x: number, y: number) => [number, number, number] | null;
  /** Occluder colour at (x, y) or null. */
  occluder: (x: number, y: number) => [number, number, number] | null;
  background: (x: number, y: number) => [number, number, number];
}

function quant(v: number): number {
  const q = Math.round(Math.max(0, Math.min(1, v)) * (LEVELS - 1)) / (LEVELS - 1);
  return Math.round(q * 255);
}

function shade(base: [number, number, number], light: number): [number, number, number] {
  return [quant((base[0] / 255) * light), quant((base[1] / 255) * light), quant((base[2] / 255) * light)];
}

/** Lambert shading of a sphere of centre (cx, cy), radius r, light from the upper left. */
function sphere(cx: number, cy: number, r: number, base: [number, number, number]) {
  return (x: number, y: number): [number, number, number] | null => {
    const dx = (x - cx) / r;
    const dy = (y - cy) / r;
    const d2 = dx * dx + dy * dy;
    if (d2 > 1) return null;
    const dz = Math.sqrt(1 - d2);
    const l = Math.max(0, -0.5 * dx - 0.5 * dy + 0.7 * dz);
    return shade(base, 0.25 + 0.85 * l);
  };
}

/** A mug: vertical cylinder body with a ring handle on the right. */
function mug(cx: number, top: number, bottom: number, r: number, base: [number, number, number]) {
  return (x: number, y: number): [number, number, number] | null => {
    const dx = (x - cx) / r;
    if (Math.abs(dx) <= 1 && y >= top && y <= bottom)
      return shade(base, 0.3 + 0.75 * Math.sqrt(1 - dx * dx) * (0.75 - 0.25 * dx));
    const hx = x - (cx + r);
    const hy = y - (top + bottom) / 2;
    const rr = Math.sqrt(hx * hx * 1.6 + hy * hy);
    if (hx > 0 && rr > 14 && rr < 24) return shade(base, 0.55);
    return null;
  };
}

function box(x0: number, y0: number, x1: number, y1: number, base: [number, number, number]) {
  return (x: number, y: number): [number, number, number] | null =>
    x >= x0 && x < x1 && y >= y0 && y < y1 ? shade(base, 0.8 + 0.2 * ((y - y0) / (y1 - y0))) : null;
}

const floor = (_x: number, y: number): [number, number, number] => {
  const v = y > 150 ? 0.62 : 0.8;
  return [quant(v), quant(v * 0.97), quant(v * 0.92)];
};

const SCENES: Scene[] = [
  {
    name: 'ball',
    width: 192,
    height: 192,
    object: sphere(96, 100, 62, [210, 60, 40]),
    occluder: box(112, 20, 150, 184, [60, 110, 170]),
    background: floor,
  },
  {
    name: 'mug',
    width: 224,
    height: 168,
    object: mug(96, 40, 140, 46, [235, 200, 70]),
    occluder: box(20, 96, 112, 160, [90, 150, 90]),
    background: floor,
  },
];

async function render(s: Scene, outDir: string): Promise<void> {
  const n = s.width * s.height;
  const img = new Uint8Array(n * 3);
  const mask = new Uint8Array(n);
  const objMask = new Uint8Array(n);
  const occMask = new Uint8Array(n);
  for (let y = 0; y < s.height; y++) {
    for (let x = 0; x < s.width; x++) {
      const i = y * s.width + x;
      const o = s.object(x, y);
      const c = s.occluder(x, y);
      const colour = c ?? o ?? s.background(x, y);
      img.set(colour, i * 3);
      // As a user would mark a photo: the whole occluder is black (what lies behind it is unknown), the object
      // pixels in front are gray, everything else white.
      mask[i] = c ? MASK_OCCLUDED : o ? MASK_VISIBLE : MASK_BACKGROUND;
      objMask[i] = o && !c ? 255 : 0;
      occMask[i] = c ? 255 : 0;
    }
  }
  const gray = (data: Uint8Array): RawImage => ({ width: s.width, height: s.height, channels: 1, data });
  // The two binary masks must give the same 3-level mask through maskFromBinary (the documented rule).
  const rebuilt = maskFromBinary(gray(objMask), gray(occMask));
  if (!rebuilt.data.every((v, i) => v === mask[i]))
    throw new Error(`${s.name}: maskFromBinary disagrees with the drawn mask`);
  await writePng(join(outDir, `${s.name}.png`), { width: s.width, height: s.height, channels: 3, data: img });
  await writePng(join(outDir, `${s.name}_mask.png`), gray(mask));
  await writePng(join(outDir, `${s.name}_object.png`), gray(objMask));
  await writePng(join(outDir, `${s.name}_occluder.png`), gray(occMask));
}

const outDir = process.argv[2] ?? 'assets/examples';
await mkdir(outDir, { recursive: true });
for (const s of SCENES) await render(s, outDir);
console.log(`wrote ${SCENES.length} examples to ${outDir}`);
