/** Unit tests: mask conventions, binary-mask conversion, dilation semantics, input errors, token assembly. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RawImage } from '../io/image.ts';
import {
  dilateEllipse,
  type GrayMask,
  MASK_BACKGROUND,
  MASK_OCCLUDED,
  MASK_VISIBLE,
  MaskInputError,
  maskFromBinary,
  toGrayMask,
} from './mask.ts';
import {
  buildConditioningTokens,
  COND_TOKENS,
  classifyMask,
  DINO_TOKENS,
  NUM_PATCHES,
  negativeConditioning,
  preprocessView,
} from './preprocess.ts';

function gray(width: number, height: number, f: (x: number, y: number) => number): GrayMask {
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = f(x, y);
  return { width, height, data };
}

function rgb(
  width: number,
  height: number,
  f: (x: number, y: number, c: number) => number,
  channels: 3 | 4 = 3,
): RawImage {
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < channels; c++) data[(y * width + x) * channels + c] = f(x, y, c);
  return { width, height, channels, data };
}

test('thresholds: <127 occluded, >230 background, 127..230 visible (anti-aliased values accepted)', () => {
  const values = [0, 126, 127, 150, 188, 230, 231, 255];
  const m = gray(values.length, 1, (x) => values[x]);
  const { vis, occ } = classifyMask(m, 0);
  assert.deepEqual([...occ], [1, 1, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...vis], [0, 0, 1, 1, 1, 1, 0, 0]);
  assert.equal(MASK_BACKGROUND, 255);
  assert.equal(MASK_VISIBLE, 188);
  assert.equal(MASK_OCCLUDED, 0);
});

test('dilation: 3x3 cross grows a single occluded pixel into a plus and removes it from the visible set', () => {
  const m = gray(5, 5, (x, y) => (x === 2 && y === 2 ? 0 : 188));
  const { vis, occ } = classifyMask(m, 3);
  const plus = [7, 11, 12, 13, 17];
  for (let i = 0; i < 25; i++) {
    assert.equal(occ[i], plus.includes(i) ? 1 : 0, `occ ${i}`);
    assert.equal(vis[i], plus.includes(i) ? 0 : 1, `vis ${i}`);
  }
});

test('dilation: even kernels use the (k/2, k/2) anchor without mirroring, and borders never dilate in', () => {
  // k=2 ellipse is [[0,1],[1,1]] with anchor (1,1): dst(x,y) = max(src(x,y-1), src(x-1,y), src(x,y)).
  // Both expectations below were printed by cv2.dilate (OpenCV 4.6) on the same inputs.
  const src = new Uint8Array(16);
  src[1 * 4 + 1] = 1;
  const out = dilateEllipse(src, 4, 4, 2);
  const set = [...out].flatMap((v, i) => (v ? [i] : []));
  assert.deepEqual(set, [5, 6, 9]);
  // A set pixel on the corner stays within the image.
  const corner = new Uint8Array(9);
  corner[0] = 1;
  assert.deepEqual([...dilateEllipse(corner, 3, 3, 3)], [1, 1, 0, 1, 0, 0, 0, 0, 0]);
});

test('maskFromBinary: occluder wins, object-only is visible, the rest background', () => {
  const obj = rgb(4, 1, (x) => (x < 2 ? 255 : 0));
  const occl = rgb(4, 1, (x) => (x === 1 || x === 2 ? 255 : 0));
  const m = maskFromBinary(obj, occl);
  assert.deepEqual([...m.data], [MASK_VISIBLE, MASK_OCCLUDED, MASK_OCCLUDED, MASK_BACKGROUND]);
  assert.throws(
    () =>
      maskFromBinary(
        rgb(4, 2, () => 0),
        rgb(3, 2, () => 0),
      ),
    (e: Error) => e instanceof MaskInputError && /4x2/.test(e.message) && /3x2/.test(e.message),
  );
});

test('toGrayMask uses the Pillow L formula and ignores alpha', () => {
  const img: RawImage = { width: 1, height: 1, channels: 4, data: new Uint8Array([200, 100, 50, 0]) };
  assert.equal(toGrayMask(img).data[0], (200 * 19595 + 100 * 38470 + 50 * 7471 + 0x8000) >> 16);
});

test('preprocessView: size mismatch names both sizes', () => {
  assert.throws(
    () =>
      preprocessView(
        rgb(40, 30, () => 9),
        gray(30, 40, () => 188),
      ),
    (e: Error) => e instanceof MaskInputError && /30x40/.test(e.message) && /40x30/.test(e.message),
  );
});

test('preprocessView: a mask without visible pixels is an error that explains the convention', () => {
  assert.throws(
    () =>
      preprocessView(
        rgb(20, 20, () => 9),
        gray(20, 20, (x) => (x < 10 ? 255 : 0)),
      ),
    (e: Error) => e instanceof MaskInputError && /no visible pixels/.test(e.message) && /188/.test(e.message),
  );
  // Visible pixels swallowed by the dilation also count as none.
  assert.throws(
    () =>
      preprocessView(
        rgb(3, 1, () => 9),
        gray(3, 1, (x) => (x === 1 ? 188 : 0)),
      ),
    MaskInputError,
  );
});

test('preprocessView: a tiny visible area warns (returned and via the hook) but proceeds', () => {
  const seen: string[] = [];
  const m = gray(100, 100, (x, y) => (x >= 50 && x < 53 && y >= 50 && y < 53 ? 188 : 255));
  const r = preprocessView(
    rgb(100, 100, () => 200),
    m,
    { onWarning: (w) => seen.push(w), label: 'cam0' },
  );
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0], /cam0: only 0\.09% of the image is visible/);
  assert.deepEqual(seen, r.warnings);
  assert.equal(r.visibleFraction, 9 / 10000);
  // No warning above the threshold.
  const big = preprocessView(
    rgb(10, 10, () => 200),
    gray(10, 10, () => 188),
  );
  assert.deepEqual(big.warnings, []);
});

test('preprocessView: fully visible uniform image gives ratio 1 everywhere and a uniform tensor', () => {
  const r = preprocessView(
    rgb(64, 48, (_x, _y, c) => [10, 120, 250][c]),
    gray(64, 48, () => 188),
  );
  assert.ok(r.visRatio.every((v) => v === 1));
  assert.ok(r.occRatio.every((v) => v === 0));
  // Lanczos weights of a constant image sum to 1 in fixed point, so the constant survives exactly.
  assert.ok(r.rgb518.every((v, i) => v === [10, 120, 250][i % 3]));
  const N = 518 * 518;
  for (let c = 0; c < 3; c++)
    assert.ok(r.image518.subarray(c * N, (c + 1) * N).every((v) => v === r.image518[c * N]));
});

test('preprocessView: gray and gray+alpha images are expanded to RGB(A)', () => {
  const g: RawImage = { width: 8, height: 8, channels: 1, data: new Uint8Array(64).fill(77) };
  const r = preprocessView(
    g,
    gray(8, 8, () => 188),
  );
  assert.ok(r.rgb518.every((v) => v === 77));
  const ga: RawImage = { width: 8, height: 8, channels: 2, data: new Uint8Array(128).fill(255) };
  assert.ok(
    preprocessView(
      ga,
      gray(8, 8, () => 188),
    ).rgb518.every((v) => v === 255),
  );
});

test('padToSquare: pads the short side with background, so a wide image is not squashed', () => {
  // 60x20 image, visible everywhere. Without padding every patch is fully visible; with padding the
  // top and bottom thirds are background (ratio 0) and the middle rows visible.
  const img = rgb(60, 20, () => 100);
  const m = gray(60, 20, () => 188);
  const plain = preprocessView(img, m);
  assert.ok(plain.visRatio.every((v) => v === 1));
  const padded = preprocessView(img, m, { padToSquare: true });
  assert.equal(padded.visRatio[0], 0); // top-left patch is padding
  assert.equal(padded.visRatio[18 * 37 + 18], 1); // centre patch is image
  assert.equal(padded.rgb518[0], 0); // padding is black
  assert.ok(Math.abs(padded.visibleFraction - 1 / 3) < 1e-12);
});

test('buildConditioningTokens: layout [dino 1374 | vis 1369 | occ 1369] x 1024 per view', () => {
  const V = 2;
  const dino = new Float32Array(V * DINO_TOKENS * 1024);
  for (let i = 0; i < dino.length; i++) dino[i] = (i % 9973) / 9973;
  const vis = [0, 1].map((v) => Float32Array.from({ length: NUM_PATCHES }, (_, i) => ((i + v) % 197) / 196));
  const occ = [0, 1].map((v) =>
    Float32Array.from({ length: NUM_PATCHES }, (_, i) => ((i * 7 + v) % 197) / 196),
  );
  const cond = buildConditioningTokens(dino, vis, occ);
  assert.equal(cond.length, V * COND_TOKENS * 1024);
  assert.equal(COND_TOKENS, 4112);
  for (let v = 0; v < V; v++) {
    const b: number = v * COND_TOKENS * 1024;
    assert.equal(cond[b + 5 * 1024 + 3], dino[v * DINO_TOKENS * 1024 + 5 * 1024 + 3]);
    for (const t of [0, 1, 700, 1368]) {
      for (const ch of [0, 511, 1023]) {
        assert.equal(cond[b + (1374 + t) * 1024 + ch], vis[v][t], `view ${v} vis token ${t} ch ${ch}`);
        assert.equal(cond[b + (2743 + t) * 1024 + ch], occ[v][t], `view ${v} occ token ${t} ch ${ch}`);
      }
    }
  }
  assert.throws(() => buildConditioningTokens(dino, [vis[0]], [occ[0]]), /buildConditioningTokens/);
  const neg = negativeConditioning();
  assert.equal(neg.length, 4112 * 1024);
  assert.ok(neg.every((x) => x === 0));
});
