import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { WebIO } from '@gltf-transform/core';
import sharp from 'sharp';
import { validateGlb } from '../../test/helpers/gltf.ts';
import { requireGpu } from '../../test/helpers/gpu.ts';
import { icosphere } from '../../test/helpers/shapes.ts';
import { sphereSplats } from '../../test/helpers/splats.ts';
import type { SplatInput } from '../render/splat.cpu.ts';
import { meshToTexturedGlb, writeTexturedGlb } from './glb-export.ts';

/** Gaussians on a sphere: green on top (z > 0), magenta below. */
const topBottomSphere = (n: number, radius: number): SplatInput =>
  sphereSplats(n, radius, (d) => (d[2] > 0 ? [0.1, 0.9, 0.1] : [0.9, 0.1, 0.9]));

test('textured GLB: simplified, UV-mapped, baked sRGB texture; passes the glTF validator; colours land right', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  const mesh = icosphere(0.3, 3); // 1280 triangles
  const stages = new Set<string>();
  const { bytes, stats } = await meshToTexturedGlb(mesh, topBottomSphere(3000, 0.3), gpu, {
    simplify: { ratio: 0.75 },
    textureSize: 64,
    bake: { views: 6, viewSize: 64 },
    onProgress: (stage) => stages.add(stage),
  });
  assert.deepEqual([...stages].sort(), ['bake', 'encode', 'simplify', 'uv-atlas']);
  assert.equal(stats.facesIn, 1280);
  assert.ok(stats.facesOut <= 320 && stats.facesOut >= 200, `${stats.facesOut} faces`);
  assert.ok(stats.seenFraction > 0.9, `seen ${stats.seenFraction}`);
  const report = await validateGlb(bytes);
  assert.equal(report.errors, 0, report.text);

  // Read back: texture image, sampler, material, and the colour under each triangle (glTF: uv (0, 0) is the
  // top-left of the image) must match its side of the sphere (Y-up in the file: +Y is the old +Z).
  const doc = await new WebIO().readBinary(bytes);
  const prim = doc.getRoot().listMeshes()[0].listPrimitives()[0];
  const mat = prim.getMaterial();
  assert.equal(mat?.getAlphaMode(), 'OPAQUE');
  const texture = mat?.getBaseColorTexture();
  assert.equal(texture?.getMimeType(), 'image/png');
  const img = await sharp(texture?.getImage() ?? new Uint8Array())
    .raw()
    .toBuffer({ resolveWithObject: true });
  assert.deepEqual([img.info.width, img.info.height, img.info.channels], [64, 64, 3]);
  const pos = prim.getAttribute('POSITION')?.getArray() as Float32Array;
  const uv = prim.getAttribute('TEXCOORD_0')?.getArray() as Float32Array;
  const idx = prim.getIndices()?.getArray() as Uint32Array;
  let right = 0;
  let checked = 0;
  for (let f = 0; f < idx.length; f += 3) {
    const y = (pos[idx[f] * 3 + 1] + pos[idx[f + 1] * 3 + 1] + pos[idx[f + 2] * 3 + 1]) / 3;
    if (Math.abs(y) < 0.08) continue;
    const u = (uv[idx[f] * 2] + uv[idx[f + 1] * 2] + uv[idx[f + 2] * 2]) / 3;
    const v = (uv[idx[f] * 2 + 1] + uv[idx[f + 1] * 2 + 1] + uv[idx[f + 2] * 2 + 1]) / 3;
    const p = (Math.min(63, Math.floor(v * 64)) * 64 + Math.min(63, Math.floor(u * 64))) * 3;
    const [r, g] = [img.data[p], img.data[p + 1]];
    checked++;
    if (y > 0 ? g > 180 && r < 80 : r > 180 && g < 80) right++;
  }
  assert.ok(
    checked > 50 && right / checked > 0.9,
    `${right} of ${checked} triangles have their side's colour`,
  );
});

test('writeTexturedGlb writes atomically', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'glb-'));
  try {
    // CPU twin (gpu null): same maths, no adapter needed for this file-handling check.
    const stats = await writeTexturedGlb(
      join(dir, 'mesh.glb'),
      icosphere(0.3, 1),
      topBottomSphere(300, 0.3),
      null,
      {
        simplify: false,
        textureSize: 16,
        bake: { views: 2, viewSize: 16 },
      },
    );
    assert.equal(stats.facesOut, 80);
    assert.deepEqual(await readdir(dir), ['mesh.glb']);
    assert.equal((await validateGlb(new Uint8Array(await readFile(join(dir, 'mesh.glb'))))).errors, 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
