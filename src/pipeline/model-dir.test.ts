/**
 * Model directory validation (openModelDir) on tiny models written by make-test-model: a good directory opens with
 * every role and the sampler settings of its pipeline.json; each kind of damage gives its own message with a fix,
 * all problems at once; stage 2 absent is a warning, not an error. Also make-test-model's determinism and
 * initialisation scheme.
 */

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { memoryModelFiles } from '../io/model-files.ts';
import { initParameter, makeTestModel, testModelSpecs } from './make-test-model.ts';
import { ModelDirError, openModelDir, openModelWeights } from './model-dir.ts';

let work = '';
let good = '';

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'amodal3r-modeldir-'));
  good = join(work, 'good');
  // No calibration: these tests only need the layout (calibration runs in the e2e test).
  await makeTestModel({ config: 'tiny', out: good, seed: 3, calibrate: false });
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function copy(name: string): Promise<string> {
  const d = join(work, name);
  await cp(good, d, { recursive: true });
  return d;
}

/** Every file under `dir` as relative path -> bytes (what a browser gets from a picked folder). */
async function filesOf(dir: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const abs = join(e.parentPath, e.name);
    out.set(
      abs
        .slice(dir.length + 1)
        .split('\\')
        .join('/'),
      new Uint8Array(await readFile(abs)),
    );
  }
  return out;
}

async function editJson(path: string, f: (j: Record<string, unknown>) => void): Promise<void> {
  const j = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  f(j);
  await writeFile(path, JSON.stringify(j));
}

const stem = (role: string) => testModelSpecs('tiny').find((s) => s.role === role)!.stem;

test('a make-test-model directory opens with all five roles, DINOv2 and its sampler settings', async () => {
  const m = await openModelDir(good);
  assert.equal(m.stage2, true, m.stage2Missing.join('; '));
  assert.deepEqual(Object.keys(m.models).sort(), [
    'slat_decoder_gs',
    'slat_decoder_mesh',
    'slat_flow_model',
    'sparse_structure_decoder',
    'sparse_structure_flow_model',
  ]);
  assert.equal(m.dinov2.layout, 'hub');
  assert.equal(m.dinov2.config.depth, 1);
  assert.deepEqual(m.ssSampler, { steps: 25, cfgStrength: 7.5, cfgInterval: [0.5, 1], rescaleT: 3 });
  assert.equal(m.slatSampler.cfgStrength, 3);
  assert.equal(m.slatNormalization?.mean.length, 8);
  assert.deepEqual(m.warnings, []);
});

test('every problem is reported at once, each with its fix', async () => {
  const d = await copy('broken');
  await rm(join(d, `${stem('sparse_structure_decoder')}.safetensors`));
  await editJson(join(d, `${stem('slat_decoder_gs')}.json`), (j) => {
    j.name = 'SomethingElse';
  });
  // Narrower decoder channels than the stored weights: a header/shape mismatch.
  await editJson(join(d, `${stem('sparse_structure_flow_model')}.json`), (j) => {
    (j.args as { model_channels: number }).model_channels = 256;
  });
  await rm(join(d, 'dinov2'), { recursive: true });
  await assert.rejects(openModelDir(d), (e: Error) => {
    assert.ok(e instanceof ModelDirError);
    const p = e.problems.join('\n');
    assert.match(
      p,
      /sparse_structure_decoder: weights .*ss_dec.*\.safetensors are missing — run `amodal3r download/,
    );
    assert.match(p, /slat_decoder_gs: .* names class 'SomethingElse', expected one of SLatGaussianDecoder/);
    assert.match(
      p,
      /sparse_structure_flow_model: .*the weights do not match SparseStructureFlowModelMaskAsCondWeighted/,
    );
    assert.match(p, /shape mismatches/);
    assert.match(p, /dinov2 is missing .*facebook\/dinov2-with-registers-large/);
    assert.equal(e.problems.length, 4);
    return true;
  });
});

test('missing directory, missing pipeline.json, invalid JSON', async () => {
  await assert.rejects(openModelDir(join(work, 'nothing')), /is not a directory/);
  const d = await copy('nopipe');
  await rm(join(d, 'pipeline.json'));
  await assert.rejects(openModelDir(d), /pipeline\.json is missing/);
  await writeFile(join(d, 'pipeline.json'), '{ not json');
  await assert.rejects(openModelDir(d), /pipeline\.json is not valid JSON/);
  await writeFile(join(d, 'pipeline.json'), '{"name": "x", "args": {"models": {}}}');
  await assert.rejects(openModelDir(d), /args\.models\.sparse_structure_flow_model is missing/);
});

test('a truncated safetensors file is named', async () => {
  const d = await copy('trunc');
  const p = join(d, `${stem('slat_flow_model')}.safetensors`);
  const bytes = await readFile(p);
  await writeFile(p, bytes.subarray(0, 100));
  await assert.rejects(openModelDir(d), /slat_flow_model: .*truncated/);
});

test('stage 2 absent from pipeline.json is a warning (stage-1 outputs only), or an error when required', async () => {
  const d = await copy('stage1');
  await editJson(join(d, 'pipeline.json'), (j) => {
    const models = (j.args as { models: Record<string, string> }).models;
    delete models.slat_flow_model;
    delete models.slat_decoder_mesh;
  });
  const m = await openModelDir(d);
  assert.equal(m.stage2, false);
  assert.match(m.warnings.join('\n'), /stage 2 unavailable .*slat_flow_model.*slat_decoder_mesh/);
  await assert.rejects(
    openModelDir(d, { requireStage2: true }),
    /stage 2: pipeline\.json lists no slat_flow_model/,
  );
});

test('make-test-model: deterministic per seed, refuses a non-empty --out without --force', async () => {
  const hash = async (dir: string) =>
    createHash('sha256')
      .update(await readFile(join(dir, `${stem('slat_flow_model')}.safetensors`)))
      .digest('hex');
  const again = join(work, 'again');
  await makeTestModel({ config: 'tiny', out: again, seed: 3, calibrate: false });
  assert.equal(await hash(again), await hash(good));
  await assert.rejects(
    makeTestModel({ config: 'tiny', out: again, seed: 4, calibrate: false }),
    /not empty; pass --force/,
  );
  await makeTestModel({ config: 'tiny', out: again, seed: 4, calibrate: false, force: true });
  assert.notEqual(await hash(again), await hash(good));
});

test('initParameter: std 1/sqrt(fan_in) for weights, ones for norms and gammas, small biases', () => {
  const w = initParameter('blocks.0.attn.to_qkv.weight', [384, 128], 0);
  const std = Math.sqrt(w.reduce((a, v) => a + v * v, 0) / w.length);
  // 49152 uniform samples: the sample std is within ~1% of 1/sqrt(128) = 0.0884.
  assert.ok(Math.abs(std - 1 / Math.sqrt(128)) < 0.003, `std ${std}`);
  assert.ok(initParameter('blocks.0.norm2.weight', [128], 0).every((v) => v === 1));
  assert.ok(initParameter('blocks.0.self_attn.q_rms_norm.gamma', [2, 64], 0).every((v) => v === 1));
  assert.ok(initParameter('blocks.0.norm2.bias', [128], 0).every((v) => Math.abs(v) <= 0.02));
  const head = initParameter('out_layer.weight', [64, 128], 0);
  assert.ok(Math.max(...head.map(Math.abs)) <= 0.05 * Math.sqrt(3 / 128) + 1e-7);
  // Streams per name: the same tensor from another seed differs; the same seed repeats.
  assert.deepEqual(initParameter('a.weight', [4, 4], 1), initParameter('a.weight', [4, 4], 1));
  assert.notDeepEqual(initParameter('a.weight', [4, 4], 1), initParameter('a.weight', [4, 4], 2));
});

test('the same model opens from in-memory files (the browser path) with the same entries and weights', async () => {
  const files = await filesOf(good);
  const fromDisk = await openModelDir(good);
  const m = await openModelDir(memoryModelFiles(files, 'picked'));
  assert.equal(m.dir, 'picked');
  assert.deepEqual(Object.keys(m.models).sort(), Object.keys(fromDisk.models).sort());
  assert.equal(m.dinov2.config.depth, fromDisk.dinov2.config.depth);
  const entry = m.models.sparse_structure_decoder!;
  assert.equal(entry.weightsPath, `picked/${stem('sparse_structure_decoder')}.safetensors`);
  const a = await openModelWeights(entry);
  const b = await openModelWeights(fromDisk.models.sparse_structure_decoder!);
  try {
    const name = a.names()[0]!;
    assert.deepEqual(await a.readFloat32(name), await b.readFloat32(name));
  } finally {
    await a.close();
    await b.close();
  }
  files.delete(`${stem('slat_flow_model')}.safetensors`);
  await assert.rejects(
    openModelDir(memoryModelFiles(files, 'picked')),
    /slat_flow_model: weights picked\/.* are missing/,
  );
});
