import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { requireGpu } from '../../test/helpers/gpu.ts';
import { readImage } from '../io/image.ts';
import { Gaussians } from '../representations/gaussians.ts';
import { turntableCameras } from './camera.ts';
import { splatInputFromGaussians } from './from-gaussians.ts';
import type { SplatInput } from './splat.cpu.ts';
import { renderSplats } from './splat.ts';
import { type Frame, renderTurntable } from './turntable.ts';
import { writeFrames, writeGif } from './turntable-files.ts';

/** Two coloured Gaussians off the turntable axis, so successive frames differ. */
const SCENE: SplatInput = {
  positions: new Float32Array([0.25, 0, 0, -0.1, 0.2, 0.1]),
  scales: new Float32Array([0.08, 0.04, 0.04, 0.05, 0.05, 0.12]),
  rotations: new Float32Array([1, 0, 0, 0, Math.SQRT1_2, Math.SQRT1_2, 0, 0]),
  opacities: new Float32Array([0.9, 0.7]),
  colors: new Float32Array([1, 0.2, 0.1, 0.1, 0.4, 1]),
};

test('turntable: frames on GPU match the CPU twin, differ between views, white background', async (t) => {
  const gpu = await requireGpu(t);
  const cpu = await renderTurntable(null, SCENE, { frames: 5, size: 48 });
  assert.equal(cpu.length, 5);
  // Corner pixel: white background, zero alpha.
  assert.deepEqual([...cpu[0]!.rgba.subarray(0, 4)], [255, 255, 255, 0]);
  // Frame 0 and frame 2 (yaw ~ pi) see different sides.
  let changed = 0;
  for (let i = 0; i < cpu[0]!.rgba.length; i++) if (cpu[0]!.rgba[i] !== cpu[2]!.rgba[i]) changed++;
  assert.ok(changed > 100, `views differ (${changed} bytes)`);
  if (!gpu) return;
  const g = await renderTurntable(gpu, SCENE, { frames: 5, size: 48 });
  for (let f = 0; f < 5; f++) {
    // 8-bit truncation of values that agree to ~1e-5 (splat.test.ts) moves a byte by at most 1.
    let worst = 0;
    for (let i = 0; i < g[f]!.rgba.length; i++)
      worst = Math.max(worst, Math.abs(g[f]!.rgba[i]! - cpu[f]!.rgba[i]!));
    assert.ok(worst <= 1, `frame ${f}: max byte diff ${worst}`);
  }
});

test('turntable: PNG frames and animated GIF/WebP round-trip', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'turntable-'));
  try {
    const frames = await renderTurntable(null, SCENE, { frames: 4, size: 24 });
    const paths = await writeFrames(join(dir, 'frames'), frames);
    assert.deepEqual(await readdir(join(dir, 'frames')), ['000.png', '001.png', '002.png', '003.png']);
    // Default: RGB like the official outputs (the colour already holds the white background).
    const back = await readImage(paths[1]!);
    assert.equal(back.width, 24);
    assert.equal(back.channels, 3);
    for (let p = 0; p < 24 * 24; p++) {
      for (let c = 0; c < 3; c++) assert.equal(back.data[3 * p + c], frames[1]!.rgba[4 * p + c]);
    }
    const withAlpha = await writeFrames(join(dir, 'alpha'), frames.slice(0, 1), { alpha: true });
    const backA = await readImage(withAlpha[0]!);
    assert.equal(backA.channels, 4);
    assert.deepEqual(Buffer.from(backA.data), Buffer.from(frames[0]!.rgba));

    await writeGif(join(dir, 'tt.gif'), frames, { fps: 25 });
    const gifBytes = await readFile(join(dir, 'tt.gif'));
    assert.equal(gifBytes.subarray(0, 6).toString('latin1'), 'GIF89a');
    const meta = await sharp(gifBytes, { animated: true }).metadata();
    assert.equal(meta.pages, 4);
    assert.equal(meta.pageHeight, 24);
    assert.deepEqual(meta.delay, [40, 40, 40, 40]);
    assert.equal(meta.loop, 0);

    // The GIF is opaque (no transparent white background), as the official video.
    const gifRaw = await sharp(gifBytes, { animated: true }).ensureAlpha().raw().toBuffer();
    for (let i = 3; i < gifRaw.length; i += 4) assert.equal(gifRaw[i], 255, 'opaque GIF pixel');

    await writeGif(join(dir, 'tt.webp'), frames, { fps: 10, alpha: true });
    const webp = await sharp(join(dir, 'tt.webp'), { animated: true })
      .raw()
      .toBuffer({ resolveWithObject: true });
    assert.equal(webp.info.pages, 4);
    // Lossless WebP: frame 2 comes back byte for byte (fully transparent pixels may lose their colour).
    const h = 24 * 24 * 4;
    const f2 = webp.data.subarray(2 * h, 3 * h);
    for (let i = 0; i < h; i += 4) {
      if (frames[2]!.rgba[i + 3] === 0) continue;
      for (let c = 0; c < 4; c++)
        assert.equal(f2[i + c], frames[2]!.rgba[i + c], `pixel ${i / 4} channel ${c}`);
    }
    // No temporary files left behind.
    assert.deepEqual((await readdir(dir)).sort(), ['alpha', 'frames', 'tt.gif', 'tt.webp']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('turntable: mismatched frames are refused with their sizes', async () => {
  const a: Frame = { width: 2, height: 2, rgba: new Uint8Array(16) };
  const b: Frame = { width: 3, height: 2, rgba: new Uint8Array(24) };
  await assert.rejects(
    writeGif('/nonexistent/x.gif', [a, b]),
    /writeGif: frame 1 is 3x2 with 24 bytes, expected 2x2/,
  );
  await assert.rejects(writeGif('/nonexistent/x.gif', []), /writeGif: no frames/);
});

test('turntable: the Gaussians adapter feeds activated values (official activations) to the rasteriser', async () => {
  const n = 3;
  const fields = {
    xyz: new Float32Array([0.5, 0.5, 0.5, 0.6, 0.5, 0.5, 0.5, 0.4, 0.55]),
    featuresDc: new Float32Array([1, -1, 0, 0, 2, 0, -3, 0, 1]),
    // softplus(raw + inv_softplus(0.004)) ~ 0.02-0.1: a few pixels at 32 px.
    scaling: new Float32Array([2.5, 2.5, 2.5, 2, 2.5, 3, 2.5, 2.5, 2.5]),
    rotation: new Float32Array([0, 0, 0, 0, 0.1, 0.2, 0, 0, -0.3, 0, 0.4, 0]),
    opacity: new Float32Array([3, 2, 1]),
  };
  const g = new Gaussians(fields);
  const input = splatInputFromGaussians(g);
  assert.deepEqual(input.positions, g.getXyz());
  assert.deepEqual(input.scales, g.getScaling());
  assert.deepEqual(input.opacities, g.getOpacity());
  assert.deepEqual(input.colors, g.getColors());
  // get_xyz subtracts 0.5 (aabb origin); colours clamp at 0; quaternions come normalised.
  assert.ok(Math.abs(input.positions[0]!) < 1e-7 && Math.abs(input.positions[3]! - 0.1) < 1e-6);
  assert.equal(input.colors[6], 0);
  for (let i = 0; i < n; i++) {
    const q = input.rotations.subarray(4 * i, 4 * i + 4);
    assert.ok(Math.abs(Math.hypot(...q) - 1) < 1e-6);
  }
  const img = await renderSplats(null, input, turntableCameras(1)[0]!, { width: 32, height: 32 });
  assert.ok(img.visible === n && img.alpha.some((a) => a > 0.1));
});
