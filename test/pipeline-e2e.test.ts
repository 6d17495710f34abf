/**
 * End to end: `make-test-model tiny` -> `reconstruct` on a shipped example (assets/examples/ball*) with few steps,
 * on the GPU (lavapipe in CI), through the CLI entry point. Checks every output file structurally (PLY parsed back,
 * finite values, Gaussian layout; GLB header, chunks, accessors and the Khronos validator; SPZ/SOG read back; PNG
 * frames; GIF), and that bad inputs fail with
 * one message and leave no files in --out.
 *
 * The random model's numbers mean nothing; what is tested is that every stage runs, the files are valid and
 * bounded, and the pipeline's plumbing (seeds, atomic outputs, errors). Model parity is tested per model elsewhere.
 * The CPU backend end to end is a benchmark (`npm run bench -- pipeline --device cpu`), not a test: several
 * minutes on a 2-core machine.
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { GAUSSIAN_PLY_PROPERTIES, parsePly } from '../src/io/ply-gaussians.ts';
import { readSog } from '../src/io/sog.ts';
import { readSpz } from '../src/io/spz.ts';
import { makeTestModel } from '../src/pipeline/make-test-model.ts';
import { ModelDirError } from '../src/pipeline/model-dir.ts';
import { reconstruct } from '../src/pipeline/reconstruct.ts';
import { validateGlb } from './helpers/gltf.ts';
import { requireGpu } from './helpers/gpu.ts';

const IMAGE = 'assets/examples/ball.png';
const MASK = 'assets/examples/ball_mask.png';
let work = '';
let modelDir = '';
/** Output folder and occupancy of the full GPU run (reused by the determinism test). */
let firstRun: { out: string; coords: Int32Array } | null = null;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'amodal3r-e2e-'));
  modelDir = join(work, 'model');
  // Calibrated on the CPU so the GPU tests below see the same model whatever the adapter.
  await makeTestModel({ config: 'tiny', out: modelDir, seed: 0, gpu: null });
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

function assertFinite(name: string, a: Float32Array): void {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) assert.fail(`${name}[${i}] = ${a[i]}`);
}

/** Minimal GLB structure check: header, JSON + BIN chunks, accessors inside the buffer views, indices in range. */
function checkGlb(bytes: Uint8Array): { vertices: number; triangles: number } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.equal(dv.getUint32(0, true), 0x46546c67, 'GLB magic');
  assert.equal(dv.getUint32(4, true), 2, 'glTF version 2');
  assert.equal(dv.getUint32(8, true), bytes.byteLength, 'GLB length field');
  const jsonLen = dv.getUint32(12, true);
  assert.equal(dv.getUint32(16, true), 0x4e4f534a, 'first chunk is JSON');
  const json = JSON.parse(new TextDecoder().decode(bytes.subarray(20, 20 + jsonLen))) as {
    accessors: {
      bufferView: number;
      byteOffset?: number;
      count: number;
      componentType: number;
      type: string;
    }[];
    bufferViews: { byteOffset?: number; byteLength: number; byteStride?: number }[];
    meshes: { primitives: { attributes: Record<string, number>; indices: number }[] }[];
  };
  const binAt = 20 + jsonLen;
  const binLen = dv.getUint32(binAt, true);
  assert.equal(dv.getUint32(binAt + 4, true), 0x004e4942, 'second chunk is BIN');
  for (const v of json.bufferViews)
    assert.ok((v.byteOffset ?? 0) + v.byteLength <= binLen, 'bufferView inside BIN');
  const prim = json.meshes[0].primitives[0];
  const pos = json.accessors[prim.attributes.POSITION];
  const idx = json.accessors[prim.indices];
  const bin = binAt + 8;
  const view = (a: { bufferView: number }) => json.bufferViews[a.bufferView];
  // Vertex attributes may be interleaved (gltf-transform's default): honour byteStride and the accessor offset.
  const posStride = view(pos).byteStride ?? 12;
  const posAt = bin + (view(pos).byteOffset ?? 0) + (pos.byteOffset ?? 0);
  const posData = new Float32Array(pos.count * 3);
  for (let i = 0; i < posData.length; i++)
    posData[i] = dv.getFloat32(posAt + Math.floor(i / 3) * posStride + (i % 3) * 4, true);
  assertFinite('GLB POSITION', posData);
  // FlexiCubes vertices lie in the decoder's [-0.5, 0.5]^3 box (rotated to Y-up, still that box).
  for (const x of posData) assert.ok(Math.abs(x) <= 0.5 + 1e-6, `GLB POSITION ${x} inside the unit cube`);
  const idxData = new Uint32Array(
    bytes.slice(bin + (view(idx).byteOffset ?? 0), bin + (view(idx).byteOffset ?? 0) + idx.count * 4).buffer,
  );
  for (const i of idxData) assert.ok(i < pos.count, `index ${i} < ${pos.count}`);
  return { vertices: pos.count, triangles: idx.count / 3 };
}

test('reconstruct: tiny random model, ball example, 2+2 steps, all formats (GPU)', {
  timeout: 900_000,
}, async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  const out = join(work, 'out-gpu');
  const r = await reconstruct({
    images: [IMAGE],
    masks: [MASK],
    model: modelDir,
    out,
    gpu,
    seed: 1,
    ssSteps: 2,
    slatSteps: 2,
    frames: 2,
    frameSize: 48,
    formats: ['ply', 'glb', 'spz', 'sog', 'png', 'gif'],
    // A small texture bake (the defaults, 32 views of 512^2 into 1024^2, take ~1 min on lavapipe).
    glb: { textureSize: 64, bake: { views: 4, viewSize: 64 } },
  });
  t.diagnostic(
    `voxels ${r.voxels}, gaussians ${r.gaussians}, mesh ${JSON.stringify(r.mesh)}, ` +
      `timings ${r.timings.map((s) => `${s.stage} ${s.seconds.toFixed(1)}s`).join(', ')}, peak GPU ${r.peakGpuBytes}`,
  );
  // Calibrated for ~500 voxels on standard-normal latents; the sampled latent of this example lands near that.
  assert.ok(r.voxels >= 50 && r.voxels <= 5000, `voxels ${r.voxels}`);
  assert.deepEqual([...r.files].sort(), [
    'frames/000.png',
    'frames/001.png',
    'gaussians.ply',
    'gaussians.sog',
    'gaussians.spz',
    'mesh.glb',
    'occupancy.ply',
    'turntable.gif',
  ]);
  assert.deepEqual(r.skipped, []);
  assert.ok(r.peakGpuBytes !== null && r.peakGpuBytes > 0);
  firstRun = { out, coords: r.coords };

  const g = parsePly(new Uint8Array(await readFile(join(out, 'gaussians.ply'))));
  assert.deepEqual(g.names, [...GAUSSIAN_PLY_PROPERTIES]);
  // 32 Gaussians per voxel (representation_config num_gaussians).
  assert.equal(g.vertexCount, 32 * r.voxels);
  for (const [k, v] of g.properties) assertFinite(k, v);
  // Positions lie near the unit cube [-0.5, 0.5]^3 (voxel centre + tanh offset <= 1.5 voxels).
  for (const k of ['x', 'y', 'z'])
    for (const v of g.properties.get(k)!) assert.ok(Math.abs(v) < 0.55, `${k} ${v}`);

  const occ = parsePly(new Uint8Array(await readFile(join(out, 'occupancy.ply'))));
  assert.equal(occ.vertexCount, r.voxels);
  assert.deepEqual(occ.names, ['x', 'y', 'z']);
  for (const [k, v] of occ.properties) {
    assertFinite(k, v);
    for (const x of v) assert.ok(Math.abs(x) < 0.5, `${k} ${x}`);
  }

  const glbBytes = new Uint8Array(await readFile(join(out, 'mesh.glb')));
  const glb = checkGlb(glbBytes);
  const report = await validateGlb(glbBytes);
  assert.equal(report.errors, 0, report.text);
  // The baked GLB holds the simplified, UV-split mesh (official simplify 0.95).
  assert.equal(glb.vertices, r.glb?.verticesOut);
  assert.equal(glb.triangles, r.glb?.facesOut);
  assert.ok(glb.triangles > 0 && glb.triangles < (r.mesh?.triangles ?? 0));
  assert.equal(
    (await readSpz(new Uint8Array(await readFile(join(out, 'gaussians.spz'))))).count,
    32 * r.voxels,
  );
  assert.equal(
    (await readSog(new Uint8Array(await readFile(join(out, 'gaussians.sog'))))).count,
    32 * r.voxels,
  );

  const gif = await readFile(join(out, 'turntable.gif'));
  assert.equal(gif.subarray(0, 6).toString('latin1'), 'GIF89a');
  const png = await readFile(join(out, 'frames/000.png'));
  assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
  // No temporary folders left next to --out.
  assert.deepEqual(
    (await readdir(work)).filter((n) => n.startsWith('.')),
    [],
  );
});

test('precomputed condition + same seed gives the same occupancy; existing --out needs --force', {
  timeout: 600_000,
}, async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  assert.ok(firstRun, 'runs after the full reconstruction test');
  const out = firstRun.out;
  // Refused up front, before any model work.
  await assert.rejects(
    reconstruct({ images: [IMAGE], masks: [MASK], model: modelDir, out, gpu, ssSteps: 2, formats: [] }),
    /already exists.*--force/,
  );
  const { encodeCondition } = await import('../src/pipeline/encode.ts');
  const condition = await encodeCondition([IMAGE], [MASK], { dinov2: join(modelDir, 'dinov2'), gpu });
  const b = await reconstruct({
    images: [],
    masks: [],
    condition,
    model: modelDir,
    out,
    force: true,
    gpu,
    seed: 1,
    ssSteps: 2,
    formats: [],
  });
  assert.deepEqual(b.coords, firstRun.coords);
  assert.deepEqual(await readdir(out), ['occupancy.ply']);
});

test('bad inputs fail with one message and leave no files', async () => {
  const out = join(work, 'out-bad');
  const run = (o: Partial<Parameters<typeof reconstruct>[0]>) =>
    reconstruct({ images: [IMAGE], masks: [MASK], model: modelDir, out, gpu: null, ssSteps: 1, ...o });
  await assert.rejects(run({ masks: [] }), /1 image\(s\) but 0 mask\(s\)/);
  await assert.rejects(run({ images: [join(work, 'nope.png')] }), /nope\.png: cannot read the file/);
  const notImage = join(work, 'not-an-image.png');
  await writeFile(notImage, 'hello');
  await assert.rejects(run({ masks: [notImage] }), /not a readable image/);
  // A mask that is all background: nothing visible.
  const blank = join(work, 'blank_mask.png');
  const { writePng, readImage } = await import('../src/io/image.ts');
  const img = await readImage(IMAGE);
  await writePng(blank, {
    width: img.width,
    height: img.height,
    channels: 1,
    data: new Uint8Array(img.width * img.height).fill(255),
  });
  await assert.rejects(run({ masks: [blank] }), /no visible pixels/);
  await assert.rejects(run({ model: join(work, 'no-model') }), ModelDirError);
  await assert.rejects(run({ ssSteps: 0 }), /ss-steps must be an integer >= 1/);
  await assert.rejects(run({ formats: ['obj' as 'ply'] }), /unknown output format 'obj'/);
  assert.equal(existsSync(out), false);
  assert.deepEqual(
    (await readdir(work)).filter((n) => n.startsWith('.')),
    [],
  );
});

test('CLI: reconstruct --json with a broken model directory exits 1 with the problems listed', async () => {
  const broken = join(work, 'broken');
  await makeTestModel({ config: 'tiny', out: broken, seed: 0, calibrate: false });
  await rm(join(broken, 'dinov2'), { recursive: true });
  const { main } = await import('../src/cli/main.ts');
  const errs: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => {
    errs.push(String(s));
    return true;
  }) as typeof process.stderr.write;
  let code: number;
  try {
    code = await main([
      'node',
      'amodal3r',
      'reconstruct',
      '--image',
      IMAGE,
      '--mask',
      MASK,
      '--model',
      broken,
      '--out',
      join(work, 'o'),
      '--json',
    ]);
  } finally {
    process.stderr.write = write;
    process.exitCode = undefined;
  }
  assert.equal(code, 1);
  assert.match(errs.join(''), /dinov2 is missing.*amodal3r download/s);
  assert.equal(existsSync(join(work, 'o')), false);
});

test('GPU lost mid-run: one actionable message, no output folder', { timeout: 300_000 }, async (t) => {
  const shared = await requireGpu(t);
  if (!shared) return;
  const { GpuContext } = await import('../src/runtime/gpu.ts');
  // A context of its own: destroying the shared one would break the other tests.
  const gpu = await GpuContext.create();
  assert.ok(gpu);
  const out = join(work, 'out-lost');
  // A precomputed (all-zero image tokens) condition skips DINOv2: the loss happens inside stage 1.
  const condition = {
    tokens: new Float32Array(4112 * 1024),
    views: 1,
    visibleFractions: [0.5],
    warnings: [],
  };
  await assert.rejects(
    reconstruct({
      images: [],
      masks: [],
      condition,
      model: modelDir,
      out,
      gpu,
      ssSteps: 3,
      onProgress: (e) => {
        if (e.stage === 'stage1' && e.done === 1) gpu.device.destroy();
      },
    }),
    /GPU device lost.*no output was written/s,
  );
  assert.equal(existsSync(out), false);
  assert.deepEqual(
    (await readdir(work)).filter((n) => n.startsWith('.')),
    [],
  );
});
