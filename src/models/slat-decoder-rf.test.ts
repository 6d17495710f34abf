import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maxAbs, maxAbsDiff } from '../../test/helpers/compare.ts';
import { requireGpu } from '../../test/helpers/gpu.ts';
import { MapWeightStore } from '../nn/weights.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { Tensor } from '../runtime/tensor.ts';
import { SparseTensor } from '../sparse/sparse-tensor.ts';
import { type Fixture, loadFixture } from '../testing/fixtures.ts';
import type { SlatDecoderConfig } from './slat-decoder-base.ts';
import {
  SLatRadianceFieldDecoder,
  slatRfExpectedShapes,
  strivecFromDecoderOutput,
  strivecLayout,
} from './slat-decoder-rf.ts';

// SLAT_DEC_FIXTURE points the same checks at another fixture (e.g. `--size full` output on the device).
const DIR = process.env.SLAT_DEC_FIXTURE ?? 'test/fixtures/slat_dec/ci';
// Parity bound of the issue: max-abs <= 1e-3 of the output's scale in f32; only f32 summation order differs
// (~1e-6 relative expected), so 1e-4 is ten times tighter than asked.
const REL_TOL = 1e-4;

function store(fx: Fixture): MapWeightStore {
  const m = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  for (const [k, v] of fx.weights) if (k.startsWith('rf.')) m.set(k.slice(3), v);
  return new MapWeightStore(m, `${fx.dir} (rf)`);
}

function config(fx: Fixture): SlatDecoderConfig {
  const rep = (fx.manifest.representation_config as Record<string, Record<string, unknown>>).rf;
  return { ...(fx.manifest.config as unknown as SlatDecoderConfig), representation_config: rep };
}

async function run(gpu: GpuContext | null): Promise<void> {
  const fx = await loadFixture(DIR, { filter: (k) => k.startsWith('rf.') });
  const dec = await SLatRadianceFieldDecoder.load(store(fx), config(fx), { gpu, precision: 'f32' });
  const xi = fx.inputs.get('x')!;
  const coords = Int32Array.from(fx.inputs.get('coords')!.data);
  const x = SparseTensor.create(Tensor.fromArray(xi.data, xi.shape, { gpu }), coords);
  const out = dec.forwardRaw(x);
  const got = await out.toArray();
  out.dispose();
  const want = fx.outputs.get('rf_raw')!;
  const err = maxAbsDiff(got, want.data) / maxAbs(want.data);
  console.log(`RF decoder ${gpu ? 'gpu' : 'cpu'}: max |diff| / max |out| = ${err.toExponential(2)}`);
  assert.ok(err < REL_TOL, `relative error ${err}`);
  const [p] = await dec.decode(x);
  // decode() on the GPU reads each field back separately; the result must be exactly the one-array CPU path.
  const fromRaw = strivecFromDecoderOutput(got, coords, dec.dims.res, dec.rep);
  for (const k of ['trivec', 'density', 'featuresDc', 'position'] as const) {
    assert.deepEqual(p[k], fromRaw[k], `decode() ${k} equals strivecFromDecoderOutput`);
  }
  const L = strivecLayout(dec.rep);
  assert.equal(L.channels, 448);
  const n = coords.length / 4;
  // to_representation: trivec = raw + 1, density and features_dc sliced (checked on the official raw values).
  for (const v of [0, n - 1]) {
    assert.ok(Math.abs(p.trivec[v * 384 + 5] - (want.data[v * 448 + 5] + 1)) < 1e-3);
    assert.ok(Math.abs(p.density[v * 16 + 3] - want.data[v * 448 + 384 + 3]) < 1e-3);
    assert.ok(Math.abs(p.featuresDc[v * 48 + 47] - want.data[v * 448 + 447]) < 1e-3);
    assert.equal(p.position[3 * v], (coords[4 * v + 1] + 0.5) / 64);
  }
  assert.equal(p.depth[0], 6);
  x.feats.dispose();
  x.disposeCache();
  dec.dispose();
}

test('RF decoder matches the official module on the CPU', async () => {
  await run(null);
});

test('RF decoder matches the official module on the GPU', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  await run(gpu);
});

test('batch of two: each item decodes as if alone (windows and attention stay inside a batch item)', async () => {
  const fx = await loadFixture(DIR, { filter: (k) => k.startsWith('rf.') });
  const dec = await SLatRadianceFieldDecoder.load(store(fx), config(fx), { gpu: null, precision: 'f32' });
  const xi = fx.inputs.get('x')!;
  const c1 = Int32Array.from(fx.inputs.get('coords')!.data);
  const n = c1.length / 4;
  // item 1 = the same voxels and features shifted by +3 on x (the windows cut it differently)
  const c2 = new Int32Array(8 * n);
  c2.set(c1);
  const f2 = new Float32Array(2 * xi.data.length);
  f2.set(xi.data);
  for (let i = 0; i < n; i++) {
    c2.set([1, c1[4 * i + 1] + 3, c1[4 * i + 2], c1[4 * i + 3]], 4 * (n + i));
    f2.set(xi.data.subarray(8 * i, 8 * i + 8), 8 * (n + i));
  }
  const both = dec.forwardRaw(SparseTensor.create(Tensor.fromArray(f2, [2 * n, 8]), c2));
  const alone2 = dec.forwardRaw(
    SparseTensor.create(
      Tensor.fromArray(f2.subarray(8 * n), [n, 8]),
      c2.subarray(4 * n).map((v, i) => (i % 4 === 0 ? 0 : v)),
    ),
  );
  const b = both.data;
  const want = fx.outputs.get('rf_raw')!.data;
  // Item 0 in a batch of two equals the official single-item output.
  assert.ok(maxAbsDiff(b.subarray(0, n * 448), want) / maxAbs(want) < REL_TOL);
  // Item 1 equals the same input decoded alone (bitwise: the same ops on the same rows and windows).
  assert.deepEqual(b.subarray(n * 448), alone2.data);
  // The +3 shift changes the window partition, so item 1 really differs from item 0 (up to the APE change).
  assert.ok(maxAbsDiff(b.subarray(0, n * 448), b.subarray(n * 448)) > 1e-3);
  dec.dispose();
});

test('RF decoder key table equals the official state dict', async () => {
  const fx = await loadFixture(DIR, { filter: () => false });
  const official = (fx.manifest.state_dict_keys as string[])
    .filter((k) => k.startsWith('rf.'))
    .map((k) => k.slice(3));
  assert.deepEqual([...slatRfExpectedShapes(config(fx)).keys()].sort(), official.sort());
});
