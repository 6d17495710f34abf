/**
 * Parity with the official preprocessing (fixtures written by tools/fixtures/preprocess.py, which runs the official
 * `preprocess_image_w_mask`, `mask_patcher` and `encode_image` input code with OpenCV, Pillow and PyTorch).
 * Everything is compared exactly: bytes equal, floats equal (the ratios are n/196 rounded to float32 on both sides;
 * the normalised values come from the same float32 operation sequence). Where a float tolerance is passed it is
 * 0 or 1e-6 as the brief asks; the observed maximum difference is 0.
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertClose } from '../../test/helpers/compare.ts';
import { type RawImage, readImage } from '../io/image.ts';
import { ellipseKernel, readBinaryMasks, readMask, toGrayMask } from './mask.ts';
import { pillowResizeLanczos } from './pillow-resize.ts';
import { classifyMask, maskPixels, NUM_PATCHES, nearestSourceIndex, preprocessView } from './preprocess.ts';

const DIR = join(import.meta.dirname, '../../test/fixtures/preprocess');

interface CaseInfo {
  name: string;
  width: number;
  height: number;
  kernel: number;
  mode: string;
  mask_mode: string;
  out_mode: string;
  tensor_sample_indices: number[];
  visible_pixels: number;
}
interface Manifest {
  ellipse_kernels: Record<string, number[]>;
  normalize_lut: number[][];
  cases: CaseInfo[];
  nearest_float64_differs: number[];
  nearest_indices: Record<string, number[]>;
  resize_cases: { name: string; mode: string; in: [number, number]; out: [number, number] }[];
}
const manifest = JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8')) as Manifest;

function readF32(path: string): Float32Array {
  const b = readFileSync(path);
  const out = new Float32Array(b.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = b.readFloatLE(i * 4);
  return out;
}

/** First index where two byte arrays differ, with the values, or '' when equal. */
function firstDiff(a: Uint8Array, b: Uint8Array): string {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  let count = 0;
  let first = -1;
  let maxd = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      if (first < 0) first = i;
      count++;
      maxd = Math.max(maxd, Math.abs(a[i] - b[i]));
    }
  }
  return count === 0
    ? ''
    : `${count} bytes differ (max |diff| ${maxd}), first at ${first}: ${a[first]} vs ${b[first]}`;
}

function channelsOf(mode: string): number {
  return ({ L: 1, LA: 2, RGB: 3, RGBA: 4 } as Record<string, number>)[mode];
}

/** sharp may decode gray PNGs as gray; the fixture modes say what Pillow saw. Re-expand if sharp changed layout. */
function expectChannels(img: RawImage, mode: string, label: string): RawImage {
  assert.equal(
    img.channels,
    channelsOf(mode),
    `${label}: decoded ${img.channels} channels for Pillow mode ${mode}`,
  );
  return img;
}

test('ellipse kernels equal cv2.getStructuringElement(MORPH_ELLIPSE, (k, k)) for k = 1..15', () => {
  for (const [k, expected] of Object.entries(manifest.ellipse_kernels)) {
    assert.deepEqual([...ellipseKernel(Number(k))], expected, `k=${k}`);
  }
  assert.deepEqual([...ellipseKernel(3)], [0, 1, 0, 1, 1, 1, 0, 1, 0]);
});

test('nearest index follows PyTorch legacy nearest with a float32 scale', () => {
  // Worked example: 333 -> 518, scale = fround(333/518) = 0.6428571343421936; 517 * scale = 332.35 -> 332.
  assert.equal(nearestSourceIndex(517, 333, 518), 332);
  assert.equal(nearestSourceIndex(5, 518, 518), 5);
  // 1000 -> 518: scale 1.9305019 (float32); index 259 -> floor(500.0000...) must not drop to 499.
  const s = Math.fround(1000 / 518);
  assert.equal(nearestSourceIndex(259, 1000, 518), Math.floor(Math.fround(259 * s)));
});

test('nearest index equals torch F.interpolate(nearest) where a float64 scale would not', () => {
  for (const [n, expected] of Object.entries(manifest.nearest_indices)) {
    const got = Array.from({ length: 518 }, (_, i) => nearestSourceIndex(i, Number(n), 518));
    assert.deepEqual(got, expected, `in=${n}`);
  }
  // For every input size 1..4096 our index map differs from the float64 formula exactly where torch's does.
  const differs: number[] = [];
  for (let n = 1; n <= 4096; n++) {
    for (let i = 0; i < 518; i++) {
      if (nearestSourceIndex(i, n, 518) !== Math.min(Math.floor(i * (n / 518)), n - 1)) {
        differs.push(n);
        break;
      }
    }
  }
  assert.deepEqual(differs, manifest.nearest_float64_differs);
});

for (const c of manifest.cases) {
  test(`official parity: ${c.name} (${c.width}x${c.height}, ${c.mode}, kernel ${c.kernel})`, async () => {
    const d = join(DIR, c.name);
    const img = expectChannels(await readImage(join(d, 'input.png')), c.mode, 'input');
    const maskRaw = await readImage(join(d, 'mask.png'));
    const gray = toGrayMask(maskRaw);
    // 1. Full-resolution masks (thresholds + OpenCV dilation).
    const { vis, occ, visibleCount } = classifyMask(gray, c.kernel);
    assert.equal(visibleCount, c.visible_pixels);
    const visRef = toGrayMask(await readImage(join(d, 'vis_full.png'))).data;
    const occRef = toGrayMask(await readImage(join(d, 'occ_full.png'))).data;
    assert.equal(
      firstDiff(
        vis.map((v) => v * 255),
        visRef,
      ),
      '',
      'vis (1 - invis)',
    );
    assert.equal(
      firstDiff(
        occ.map((v) => v * 255),
        occRef,
      ),
      '',
      'mask_occ (dilated occluded)',
    );
    // 2. Masked image handed to Pillow.
    const masked = maskPixels(img.data, img.channels, vis);
    const maskedRef = (await readImage(join(d, 'masked.png'))).data;
    assert.equal(firstDiff(masked, maskedRef), '', 'masked image');
    // 3. Pillow LANCZOS to 518x518, all channels (alpha included for RGBA).
    const out518Ref = expectChannels(await readImage(join(d, 'out518.png')), c.out_mode, 'out518');
    const resized = pillowResizeLanczos(masked, c.width, c.height, img.channels, 518, 518);
    assert.equal(firstDiff(resized, out518Ref.data), '', 'Pillow LANCZOS 518x518');
    // 4. The whole view through the public entry point.
    const r = preprocessView(img, maskRaw, { dilationKernel: c.kernel });
    const rgbRef = new Uint8Array(518 * 518 * 3);
    const C = out518Ref.channels;
    for (let i = 0; i < 518 * 518; i++)
      for (let k = 0; k < 3; k++) rgbRef[i * 3 + k] = out518Ref.data[i * C + k];
    assert.equal(firstDiff(r.rgb518, rgbRef), '', 'rgb518');
    // Normalised tensor: every element against the official table, sampled elements against the official tensor.
    const lut = manifest.normalize_lut;
    const N = 518 * 518;
    for (let k = 0; k < 3; k++) {
      for (let i = 0; i < N; i++) {
        if (r.image518[k * N + i] !== Math.fround(lut[k][rgbRef[i * 3 + k]])) {
          assert.fail(
            `normalised tensor channel ${k} pixel ${i}: ${r.image518[k * N + i]} vs ${lut[k][rgbRef[i * 3 + k]]}`,
          );
        }
      }
    }
    const sample = readF32(join(d, 'tensor_sample.f32'));
    const got = Float32Array.from(c.tensor_sample_indices, (i) => r.image518[i]);
    assertClose(got, sample, { atol: 1e-6, label: 'normalised tensor sample' });
    assertClose(got, sample, { atol: 0, label: 'normalised tensor sample (bit-exact)' });
    // 5. Patch ratios.
    assertClose(r.visRatio, readF32(join(d, 'vis.f32')), { atol: 0, label: 'vis ratios' });
    assertClose(r.occRatio, readF32(join(d, 'occ.f32')), { atol: 0, label: 'occ ratios' });
    assert.equal(r.visRatio.length, NUM_PATCHES);
  });
}

for (const c of manifest.resize_cases) {
  test(`Pillow LANCZOS parity on noise: ${c.name} ${c.in.join('x')} -> ${c.out.join('x')} (${c.mode})`, async () => {
    const src = expectChannels(await readImage(join(DIR, 'resize', `${c.name}.in.png`)), c.mode, 'in');
    const ref = expectChannels(await readImage(join(DIR, 'resize', `${c.name}.out.png`)), c.mode, 'out');
    const got = pillowResizeLanczos(src.data, src.width, src.height, src.channels, c.out[0], c.out[1]);
    assert.equal(firstDiff(got, ref.data), '');
  });
}

test('demo inputs in assets/examples preprocess cleanly, and the binary-mask pair gives the same result', async () => {
  const ex = join(import.meta.dirname, '../../assets/examples');
  for (const name of ['ball', 'mug']) {
    const img = await readImage(join(ex, `${name}.png`));
    const mask = toGrayMask(await readImage(join(ex, `${name}_mask.png`)));
    const r = preprocessView(img, mask, { label: name });
    assert.deepEqual(r.warnings, [], name);
    assert.ok(r.visibleFraction > 0.05 && r.visibleFraction < 0.9, `${name}: visible ${r.visibleFraction}`);
    assert.ok(r.occRatio.some((v) => v === 1) && r.visRatio.some((v) => v === 1), name);
    const pair = await readBinaryMasks(join(ex, `${name}_object.png`), join(ex, `${name}_occluder.png`));
    assert.deepEqual((await readMask(join(ex, `${name}_mask.png`))).data, mask.data);
    assert.deepEqual(pair.data, mask.data, `${name}: maskFromBinary`);
  }
});
