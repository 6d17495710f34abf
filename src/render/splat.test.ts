import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomArray } from '../../test/helpers/compare.ts';
import { FORCED_SMALL_BINDING, requireGpu } from '../../test/helpers/gpu.ts';
import { multiviewCameras, OFFICIAL_TURN, orbitCamera, turntableCameras } from './camera.ts';
import {
  binSplats,
  compositeCpu,
  projectSplatsCpu,
  RECORD_FLOATS,
  type SplatInput,
  shDcToRgb,
  sortByDepth,
} from './splat.cpu.ts';
import { compositeGpu, projectSplatsGpu, renderSplats, SplatUpload } from './splat.ts';

/** Random scene in the TRELLIS box [-0.5, 0.5]^3 with scales spanning sub-pixel to large Gaussians. */
function randomScene(n: number, seed: number, scaleRange: [number, number] = [0.003, 0.06]): SplatInput {
  const u = (k: number, s: number) => {
    const r = randomArray(k, s);
    for (let i = 0; i < k; i++) r[i] = (r[i]! + 1) / 2;
    return r;
  };
  const positions = randomArray(n * 3, seed, 0.5);
  const su = u(n * 3, seed + 1);
  const scales = new Float32Array(n * 3);
  const [lo, hi] = scaleRange;
  for (let i = 0; i < n * 3; i++) scales[i] = lo * (hi / lo) ** su[i]!;
  const rotations = randomArray(n * 4, seed + 2);
  for (let i = 0; i < n; i++) {
    const l = Math.hypot(...rotations.subarray(4 * i, 4 * i + 4)) || 1;
    for (let c = 0; c < 4; c++) rotations[4 * i + c]! /= l;
  }
  const opacities = u(n, seed + 3);
  const colors = shDcToRgb(randomArray(n * 3, seed + 4, 2));
  return { positions, scales, rotations, opacities, colors };
}

function single(
  pos: [number, number, number],
  scale: number,
  opacity: number,
  rgb: [number, number, number] = [1, 0, 0],
): SplatInput {
  return {
    positions: new Float32Array(pos),
    scales: new Float32Array([scale, scale, scale]),
    rotations: new Float32Array([1, 0, 0, 0]),
    opacities: new Float32Array([opacity]),
    colors: new Float32Array(rgb),
  };
}

function concat(a: SplatInput, b: SplatInput): SplatInput {
  const c = (x: Float32Array, y: Float32Array) => {
    const o = new Float32Array(x.length + y.length);
    o.set(x);
    o.set(y, x.length);
    return o;
  };
  return {
    positions: c(a.positions, b.positions),
    scales: c(a.scales, b.scales),
    rotations: c(a.rotations, b.rotations),
    opacities: c(a.opacities, b.opacities),
    colors: c(a.colors, b.colors),
  };
}

interface DiffStats {
  max: number;
  mean: number;
  fracOver: number;
}

function diffStats(a: Float32Array, b: Float32Array, over = 1e-3): DiffStats {
  assert.equal(a.length, b.length);
  let max = 0;
  let sum = 0;
  let cnt = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (Number.isNaN(d))
      return { max: Number.POSITIVE_INFINITY, mean: Number.POSITIVE_INFINITY, fracOver: 1 };
    max = Math.max(max, d);
    sum += d;
    if (d > over) cnt++;
  }
  return { max, mean: sum / a.length, fracOver: cnt / a.length };
}

/**
 * GPU (f32) vs CPU twin (f64) tolerances. Away from the rasteriser's discontinuities the images agree to ~1e-5
 * (f32 rounding of the projection and exp). Three thresholds can flip on rounding and cause isolated larger
 * differences: alpha crossing 1/255 (a jump of at most ~1/255 * colour <= 0.004), early termination at T 1e-4
 * (the remaining light is < 1e-4... plus one skipped Gaussian, i.e. <= 0.99 * 1e-4 / 1e-2 relative ~ 0.01 worst
 * case), and a 3-sigma tile rectangle edge (alpha there <= o exp(-4.5) ~ 0.011). Hence max 0.02, while the mean
 * must stay at float-rounding level (2e-5) and at most 0.5% of values may differ by more than 1e-3.
 */
function assertImagesClose(gpuImg: Float32Array, cpuImg: Float32Array, label: string): DiffStats {
  const s = diffStats(gpuImg, cpuImg);
  assert.ok(s.max <= 0.02, `${label}: max |diff| ${s.max}`);
  assert.ok(s.mean <= 2e-5, `${label}: mean |diff| ${s.mean}`);
  assert.ok(s.fracOver <= 0.005, `${label}: ${(s.fracOver * 100).toFixed(3)}% of values differ by > 1e-3`);
  return s;
}

test('splat: projection records, GPU vs CPU twin (500 random Gaussians, 3 cameras)', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  const input = randomScene(500, 11);
  for (const [yaw, pitch] of [
    [0, 0.25],
    [2.1, -0.4],
    [4.0, 1.2],
  ] as const) {
    const cam = orbitCamera(yaw, pitch, 2, 40);
    const geom = { width: 70, height: 45, kernelSize: 0.1 };
    const a = await projectSplatsGpu(gpu, input, cam, geom);
    const b = projectSplatsCpu(input, cam, geom);
    let visible = 0;
    for (let i = 0; i < 500; i++) {
      const o = i * RECORD_FLOATS;
      assert.equal(a[o + 11], b[o + 11], `visibility of ${i}`);
      if (b[o + 11] !== 1) continue;
      visible++;
      // f32 vs f64 on O(100) pixel coordinates and conics of sub-pixel Gaussians: 1e-4 relative + small absolute.
      for (let c = 0; c < 10; c++) {
        const d = Math.abs(a[o + c]! - b[o + c]!);
        assert.ok(
          d <= 1e-3 + 1e-4 * Math.abs(b[o + c]!),
          `record ${i} field ${c}: ${a[o + c]} vs ${b[o + c]}`,
        );
      }
      // radius = ceil(...): may differ by 1 when 3 sqrt(lambda) sits on an integer.
      assert.ok(Math.abs(a[o + 10]! - b[o + 10]!) <= 1, `radius of ${i}`);
    }
    assert.ok(visible > 400, `most Gaussians in front of the camera (${visible})`);
  }
});

test('splat: render GPU vs CPU twin, random scenes at awkward sizes', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  const cases: [number, number, number, number][] = [
    // n, width, height, seed
    [500, 64, 64, 1],
    [300, 45, 70, 2],
    [1, 17, 1, 3],
    [0, 16, 16, 4],
  ];
  for (const [n, width, height, seed] of cases) {
    const input = randomScene(n, seed);
    const cam = turntableCameras(7)[seed % 7]!;
    const opts = { width, height, background: [1, 1, 1] as const, kernelSize: 0.1 };
    const g = await renderSplats(gpu, input, cam, opts);
    const c = await renderSplats(null, input, cam, opts);
    assertImagesClose(g.color, c.color, `colour n=${n} ${width}x${height}`);
    assertImagesClose(g.alpha, c.alpha, `alpha n=${n} ${width}x${height}`);
    if (n === 500) assert.ok(c.visible > 400 && c.entries >= c.visible, 'scene is mostly visible');
  }
});

test('splat: compositing splits under small binding limits (1 MiB and 64 KiB)', async (t) => {
  // 3000 large Gaussians at 96x96: > 29k tile entries (36 B each) > 1 MiB, so the entry list is cut into
  // segments; with 64 KiB the projection is also chunked (1170 Gaussians per window) and state rows are grouped.
  const input = randomScene(3000, 21, [0.03, 0.2]);
  const cam = orbitCamera(0.7, 0.3, 2, 40);
  const opts = { width: 96, height: 96, background: [0, 0, 0] as const, kernelSize: 0.1 };
  const c = await renderSplats(null, input, cam, opts);
  assert.ok(c.entries * 36 > FORCED_SMALL_BINDING, `scene has ${c.entries} entries`);
  for (const maxBinding of [FORCED_SMALL_BINDING, 1 << 16]) {
    const gpu = await requireGpu(t, { maxBinding });
    if (!gpu) return;
    const g = await renderSplats(gpu, input, cam, opts);
    assertImagesClose(g.color, c.color, `colour, maxBinding ${maxBinding}`);
    assertImagesClose(g.alpha, c.alpha, `alpha, maxBinding ${maxBinding}`);
  }
});

test('splat: the same bins give the same image on GPU and CPU (compositor only, exact ordering)', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  const input = randomScene(400, 31);
  const cam = orbitCamera(1.3, 0.5, 2, 40);
  const geom = { width: 50, height: 50, kernelSize: 0.1 };
  const bins = binSplats(projectSplatsCpu(input, cam, geom), geom);
  const a = await compositeGpu(gpu, bins, geom);
  const b = compositeCpu(bins, geom);
  // Same inputs, so only f32 exp/mul vs f64 and the two thresholds can differ (see assertImagesClose).
  assertImagesClose(a.color, b.color, 'colour sums');
  assertImagesClose(a.transmittance, b.transmittance, 'transmittance');
});

test('splat: a single isotropic Gaussian is a radially symmetric blob with the predicted peak and profile', async (t) => {
  const gpu = await requireGpu(t);
  // 65 px: the image centre is pixel (32, 32) (pixel centres at integers, principal point (W - 1) / 2).
  const size = 65;
  const s = 0.02;
  const o = 0.8;
  const k = 0.1;
  const cam = orbitCamera(0.4, 0.2, 2, 40);
  const f = size / (2 * Math.tan((20 * Math.PI) / 180));
  const sigma2 = ((f * s) / 2) ** 2; // J = f / z on the axis, z = 2
  const coef = Math.sqrt(sigma2 ** 2 / ((sigma2 + k) ** 2 + 1e-6) + 1e-6);
  const peak = o * coef;
  for (const ctx of gpu ? [gpu, null] : [null]) {
    const img = await renderSplats(ctx, single([0, 0, 0], s, o), cam, {
      width: size,
      height: size,
      kernelSize: k,
    });
    const A = (x: number, y: number) => img.alpha[y * size + x]!;
    const who = ctx ? 'gpu' : 'cpu';
    // f32 on the GPU: 1e-5 on alphas <= 1.
    assert.ok(Math.abs(A(32, 32) - peak) < 1e-5, `${who} peak ${A(32, 32)} vs ${peak}`);
    let maxA = 0;
    for (const v of img.alpha) maxA = Math.max(maxA, v);
    assert.equal(maxA, A(32, 32), `${who}: the maximum is at the centre`);
    for (let d = 1; d <= 8; d++) {
      const want = peak * Math.exp(-(d * d) / (2 * (sigma2 + k)));
      const got = [A(32 + d, 32), A(32 - d, 32), A(32, 32 + d), A(32, 32 - d)];
      for (const g of got) {
        if (want >= 1 / 255) assert.ok(Math.abs(g - want) < 2e-5, `${who} d=${d}: ${g} vs ${want}`);
        else assert.equal(g, 0, `${who} d=${d}: below the 1/255 alpha cut-off`);
      }
      // Diagonal symmetry too (the rotation of the camera must not shear an isotropic Gaussian on the axis).
      const diag = [A(32 + d, 32 + d), A(32 - d, 32 - d), A(32 + d, 32 - d), A(32 - d, 32 + d)];
      for (const g of diag) assert.ok(Math.abs(g - diag[0]!) < 2e-5, `${who} diagonal d=${d}`);
    }
  }
});

/** Alpha-weighted centroid in pixels. */
function centroid(img: { alpha: Float32Array; width: number; height: number }): [number, number] {
  let sx = 0;
  let sy = 0;
  let sw = 0;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const a = img.alpha[y * img.width + x]!;
      sx += a * x;
      sy += a * y;
      sw += a;
    }
  }
  assert.ok(sw > 0, 'something was drawn');
  return [sx / sw, sy / sw];
}

test('splat: camera convention of render_utils (Z up, OpenCV image axes)', async () => {
  const size = 64;
  const c = (size - 1) / 2;
  const opts = { width: size, height: size };
  const at = async (pos: [number, number, number], yaw: number, pitch = 0) =>
    centroid(await renderSplats(null, single(pos, 0.03, 0.9), orbitCamera(yaw, pitch, 2, 40), opts));
  // yaw 0: camera on +Y looking at -Y; +X is to the LEFT, +Z is UP (smaller row).
  const [x0] = await at([0.3, 0, 0], 0);
  assert.ok(x0 < c - 5, `+X at yaw 0 appears left (${x0})`);
  const [, z0] = await at([0, 0, 0.3], 0);
  assert.ok(z0 < c - 5, `+Z appears above the centre (${z0})`);
  // yaw 90 deg: camera on +X; +Y appears RIGHT of centre, +X sits in the middle (in front).
  const [y90] = await at([0, 0.3, 0], Math.PI / 2);
  assert.ok(y90 > c + 5, `+Y at yaw 90 appears right (${y90})`);
  const [xc, yc] = await at([0.3, 0, 0], Math.PI / 2);
  assert.ok(Math.abs(xc - c) < 1e-3 && Math.abs(yc - c) < 1e-3, `+X at yaw 90 is centred (${xc}, ${yc})`);
  // pitch > 0 looks down: the origin-side point below the camera's eye line... a point at +Z rises less than at
  // pitch 0 but stays above the centre; a point at the camera's far side (-Y at yaw 0) moves up the image.
  const [, far] = await at([0, -0.3, 0], 0, 0.5);
  assert.ok(far < c - 3, `the far side moves up when looking down (${far})`);
});

test('splat: front-to-back order follows depth, not index; background and truncation', async () => {
  const size = 32;
  const cam = orbitCamera(0, 0, 2, 40); // camera on +Y: larger y is nearer
  // Large enough (about 9 px) that alpha saturates at the 0.99 clamp near the centre.
  const red = single([0, 0.2, 0], 0.2, 0.99, [1, 0, 0]);
  const blue = single([0, -0.2, 0], 0.2, 0.99, [0, 0, 1]);
  for (const input of [concat(red, blue), concat(blue, red)]) {
    const img = await renderSplats(null, input, cam, { width: size, height: size, background: [1, 1, 1] });
    const p = (16 * size + 16) * 3;
    assert.ok(
      img.color[p]! > 0.9 && img.color[p + 2]! < 0.1,
      `near red wins: ${img.color.subarray(p, p + 3)}`,
    );
    // 8-bit output = floor(clip(255 x)) of the composited colour.
    for (let i = 0; i < size * size; i++) {
      for (let ch = 0; ch < 3; ch++) {
        assert.equal(
          img.rgba[4 * i + ch],
          Math.floor(Math.min(255, Math.max(0, img.color[3 * i + ch]! * 255))),
        );
      }
    }
    // Far from the blob only the white background shows.
    const far = await renderSplats(null, input, cam, { width: 96, height: 96, background: [1, 1, 1] });
    assert.deepEqual([...far.rgba.subarray(0, 4)], [255, 255, 255, 0]);
  }
});

test('splat: input validation names the op and the sizes', async () => {
  const bad = single([0, 0, 0], 0.1, 0.5);
  bad.colors = new Float32Array(2);
  await assert.rejects(
    renderSplats(null, bad, orbitCamera(0, 0, 2, 40), { width: 8, height: 8 }),
    /renderSplats: colors has 2 values, expected 3/,
  );
  await assert.rejects(
    renderSplats(null, single([0, 0, 0], 0.1, 0.5), orbitCamera(0, 0, 2, 40), { width: 0, height: 8 }),
    /renderSplats: width and height/,
  );
});

test('splat: turntable cameras follow render_video', () => {
  const cams = turntableCameras(300);
  assert.equal(cams.length, 300);
  // Frame 0: yaw 0, pitch 0.25, r 2.
  const p0 = cams[0]!.position;
  assert.ok(
    Math.abs(p0[0]) < 1e-12 &&
      Math.abs(p0[1] - 2 * Math.cos(0.25)) < 1e-12 &&
      Math.abs(p0[2] - 2 * Math.sin(0.25)) < 1e-12,
  );
  // Last frame: yaw 2 * 3.1415 (the official constant, not 2 pi).
  const last = cams[299]!.position;
  const yaw = OFFICIAL_TURN;
  assert.ok(Math.abs(OFFICIAL_TURN - 6.283) < 1e-12);
  const pitch = 0.25 + 0.5 * Math.sin(yaw);
  assert.ok(Math.abs(last[0] - 2 * Math.sin(yaw) * Math.cos(pitch)) < 1e-12);
  assert.ok(Math.abs(last[2] - 2 * Math.sin(pitch)) < 1e-12);
  for (const c of cams) {
    // The eye maps to the camera origin (R eye + t = 0) and the world origin to (0, 0, r): straight ahead.
    const v = c.view;
    const e = c.position;
    for (let r = 0; r < 3; r++) {
      const pe = v[4 * r]! * e[0] + v[4 * r + 1]! * e[1] + v[4 * r + 2]! * e[2] + v[4 * r + 3]!;
      assert.ok(Math.abs(pe) < 1e-12, `eye row ${r}: ${pe}`);
      assert.ok(Math.abs(v[4 * r + 3]! - (r === 2 ? 2 : 0)) < 1e-12, `origin row ${r}: ${v[4 * r + 3]}`);
    }
  }
});

test('splat: depth sort is stable (index order among equal depths), like the official radix sort', () => {
  const n = 5000;
  const r = randomArray(n, 77);
  // Few distinct depths so ties are common; bit patterns of positive floats.
  const depths = new Float32Array(n);
  for (let i = 0; i < n; i++) depths[i] = 0.5 + Math.round((r[i]! + 1) * 20) / 16;
  const items = Uint32Array.from({ length: n }, (_, i) => i);
  const sorted = sortByDepth(items, new Uint32Array(depths.buffer));
  const want = [...items].sort((a, b) => depths[a]! - depths[b]! || a - b);
  assert.deepEqual([...sorted], want);
});

test('splat: render_multiview cameras (8 yaws by 45 degrees, pitch 30 degrees, r 2)', () => {
  const cams = multiviewCameras();
  assert.equal(cams.length, 8);
  const p = (30 * Math.PI) / 180;
  for (const [i, c] of cams.entries()) {
    const y = (i * Math.PI) / 4;
    const want = [2 * Math.sin(y) * Math.cos(p), 2 * Math.cos(y) * Math.cos(p), 2 * Math.sin(p)];
    for (let k = 0; k < 3; k++)
      assert.ok(Math.abs(c.position[k]! - want[k]!) < 1e-12, `camera ${i} axis ${k}`);
  }
});

test('splat: an uploaded scene renders identically over several views; disposed uploads are refused', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  const input = randomScene(200, 41);
  const up = SplatUpload.create(gpu, input);
  const opts = { width: 40, height: 24 };
  try {
    for (const cam of turntableCameras(3)) {
      const a = await renderSplats(gpu, up, cam, opts);
      const b = await renderSplats(gpu, input, cam, opts);
      // Same kernels on the same data: bit-identical.
      assert.deepEqual(a.color, b.color);
    }
  } finally {
    up.dispose();
  }
  await assert.rejects(renderSplats(gpu, up, orbitCamera(0, 0, 2, 40), opts), /SplatUpload .* disposed/);
});

test('splat: anisotropic rotated Gaussian: conic and filtered opacity match the closed form (quaternion w,x,y,z)', async (t) => {
  const gpu = await requireGpu(t);
  // Camera at yaw 0, pitch 0: image x = world -X, image y = world -Z, depth along -Y; the origin at depth 2.
  const cam = orbitCamera(0, 0, 2, 40);
  const size = 64;
  const k = 0.1;
  const f = size / (2 * Math.tan((20 * Math.PI) / 180));
  const [sx, sy, sz] = [0.05, 0.01, 0.02];
  const theta = 0.6; // rotation about world Y: an in-plane rotation of the image ellipse
  const input: SplatInput = {
    positions: new Float32Array([0, 0, 0]),
    scales: new Float32Array([sx, sy, sz]),
    rotations: new Float32Array([Math.cos(theta / 2), 0, Math.sin(theta / 2), 0]),
    opacities: new Float32Array([0.7]),
    colors: new Float32Array([1, 1, 1]),
  };
  const c = Math.cos(theta);
  const s = Math.sin(theta);
  // World XZ covariance of R_y(theta) diag(sx^2, sz^2) R_y^T; the two axis flips of the camera cancel.
  const sc = (f / 2) ** 2;
  const a = sc * (c * c * sx * sx + s * s * sz * sz);
  const b = sc * (-c * s * sx * sx + c * s * sz * sz);
  const d = sc * (s * s * sx * sx + c * c * sz * sz);
  const det0 = a * d - b * b;
  const det1 = (a + k) * (d + k) - b * b;
  const coef = Math.sqrt(det0 / (det1 + 1e-6) + 1e-6);
  const want = [(size - 1) / 2, (size - 1) / 2, (d + k) / det1, -b / det1, (a + k) / det1, 0.7 * coef];
  const geom = { width: size, height: size, kernelSize: k };
  const recs: [string, Float32Array][] = [['cpu', projectSplatsCpu(input, cam, geom)]];
  if (gpu) recs.push(['gpu', await projectSplatsGpu(gpu, input, cam, geom)]);
  for (const [who, r] of recs) {
    assert.equal(r[11], 1, `${who}: visible`);
    // f32 on the GPU: 1e-5 relative on conic terms of order 0.01-1 px^-2 and on pixel coordinates ~32.
    for (let i = 0; i < want.length; i++) {
      assert.ok(
        Math.abs(r[i]! - want[i]!) <= 1e-5 * Math.max(1, Math.abs(want[i]!)),
        `${who} field ${i}: ${r[i]} vs ${want[i]}`,
      );
    }
    assert.ok(Math.abs(r[9]! - 2) < 1e-6, `${who} depth`);
  }
  assert.ok(b !== 0 && Math.abs(a - d) > 1, 'the case is genuinely anisotropic and rotated');
});
