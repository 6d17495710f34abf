import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requireGpu } from '../../test/helpers/gpu.ts';
import { icosphere } from '../../test/helpers/shapes.ts';
import { sphereSplats } from '../../test/helpers/splats.ts';
import { lookAt } from '../render/camera.ts';
import type { SplatInput } from '../render/splat.cpu.ts';
import { bakeTexture, meshDepth, pullPush, sphereCameras } from './texture-bake.ts';
import { unwrapUv } from './uv-atlas.ts';

/** Gaussians covering a sphere of `radius`: red where x > 0, blue where x < 0. */
const twoToneSphere = (n: number, radius: number): SplatInput =>
  sphereSplats(n, radius, (d) => (d[0] > 0 ? [0.9, 0.1, 0.1] : [0.1, 0.1, 0.9]));

test('sphereCameras: K cameras at the radius, looking at the origin, pitches spread over the sphere', () => {
  const cams = sphereCameras(12, 2, 40);
  assert.equal(cams.length, 12);
  let up = 0;
  for (const c of cams) {
    assert.ok(Math.abs(Math.hypot(...c.position) - 2) < 1e-9);
    // The origin is straight ahead: camera-space point (0, 0, 2).
    assert.ok(Math.abs(c.view[3]) < 1e-9 && Math.abs(c.view[7]) < 1e-9 && Math.abs(c.view[11] - 2) < 1e-9);
    if (c.position[2] > 0) up++;
  }
  assert.equal(up, 6, 'half above, half below');
});

test('meshDepth: perspective-correct depth of a triangle facing the camera, Infinity elsewhere', () => {
  const cam = lookAt([0, 2, 0], [0, 0, 0], [0, 0, 1], Math.PI / 4.5, Math.PI / 4.5);
  // A big triangle in the plane y = 0.5 (distance 1.5 from the camera) and a far one behind it at y = -0.5.
  const vertices = new Float32Array([
    -2, 0.5, -2, 2, 0.5, -2, 0, 0.5, 3, -2, -0.5, -2, 2, -0.5, -2, 0, -0.5, 3,
  ]);
  const depth = meshDepth({ vertices, faces: new Uint32Array([0, 1, 2, 3, 4, 5]) }, cam, 32);
  const c = 16 * 32 + 16;
  assert.ok(Math.abs(depth[c] - 1.5) < 1e-5, `depth ${depth[c]}`);
  const behind = meshDepth(
    { vertices, faces: new Uint32Array([0, 1, 2]) },
    lookAt([0, -2, 0], [0, 0, 0], [0, 0, 1], 0.2, 0.2),
    8,
  );
  assert.ok(
    behind.every((d) => d === Number.POSITIVE_INFINITY || d > 2),
    'seen from behind only the far side',
  );
});

test('pullPush fills every empty texel from the valid ones (a single valid texel colours everything)', () => {
  const rgb = new Float32Array(5 * 5 * 3);
  const w = new Float32Array(25);
  rgb.set([0.2, 0.4, 0.6], 12 * 3);
  w[12] = 1;
  pullPush(rgb, w, 5);
  for (let p = 0; p < 25; p++)
    assert.deepEqual(
      [...rgb.subarray(p * 3, p * 3 + 3)].map((v) => Math.round(v * 10) / 10),
      [0.2, 0.4, 0.6],
    );
  assert.ok(w.every((v) => v > 0));
});

test('bakeTexture: texels take the colour of the Gaussians at their 3-D point (GPU rasteriser)', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  const radius = 0.3;
  const uvMesh = await unwrapUv(icosphere(radius, 2), { resolution: 64, padding: 2 });
  const splats = twoToneSphere(3000, radius);
  const tex = await bakeTexture(gpu, uvMesh, splats, { textureSize: 64, views: 6, viewSize: 64 });
  assert.equal(tex.rgb.length, 64 * 64 * 3);
  assert.ok(tex.seenTexels / tex.surfaceTexels > 0.95, `seen ${tex.seenTexels} of ${tex.surfaceTexels}`);
  // Check each surface texel against the x sign of its 3-D point (recomputed here from the UV triangles).
  let right = 0;
  let checked = 0;
  const { uvs, faces, vertices } = uvMesh;
  for (let f = 0; f < faces.length; f += 3) {
    const cx = (vertices[faces[f] * 3] + vertices[faces[f + 1] * 3] + vertices[faces[f + 2] * 3]) / 3;
    if (Math.abs(cx) < 0.08) continue; // the colour boundary: texels there may mix
    const u = (uvs[faces[f] * 2] + uvs[faces[f + 1] * 2] + uvs[faces[f + 2] * 2]) / 3;
    const v = (uvs[faces[f] * 2 + 1] + uvs[faces[f + 1] * 2 + 1] + uvs[faces[f + 2] * 2 + 1]) / 3;
    const p = (Math.min(63, Math.floor(v * 64)) * 64 + Math.min(63, Math.floor(u * 64))) * 3;
    const [r, , b] = tex.rgb.subarray(p, p + 3);
    checked++;
    if (cx > 0 ? r > 180 && b < 80 : b > 180 && r < 80) right++;
  }
  assert.ok(checked > 100, `${checked} triangles checked`);
  assert.ok(right / checked > 0.95, `${right} of ${checked} triangle centres have their side's colour`);
});

test('bakeTexture: invalid sizes are refused', async () => {
  const uvMesh = await unwrapUv(icosphere(0.3, 0), { resolution: 16 });
  const splats = twoToneSphere(10, 0.3);
  await assert.rejects(
    bakeTexture(null, uvMesh, splats, { textureSize: 3 }),
    /textureSize must be an integer/,
  );
  await assert.rejects(
    bakeTexture(null, uvMesh, splats, { viewSize: 4 }),
    /viewSize must be an integer >= 8/,
  );
  await assert.rejects(
    bakeTexture(null, { ...uvMesh, uvs: new Float32Array(2) }, splats),
    /uvs \[2\] is not \[V\*2\]/,
  );
});
