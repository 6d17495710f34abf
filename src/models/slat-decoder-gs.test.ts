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
  GS_REPRESENTATION_DEFAULTS,
  gaussiansFromDecoderOutput,
  SLatGaussianDecoder,
  slatGsExpectedShapes,
} from './slat-decoder-gs.ts';

// SLAT_DEC_FIXTURE points the same checks at another fixture (e.g. `--size full` output on the device).
const DIR = process.env.SLAT_DEC_FIXTURE ?? 'test/fixtures/slat_dec/ci';
// Parity bound of the issue: max-abs <= 1e-3 of the output's scale in f32. Our kernels only reorder f32 sums
// (tiled GEMM, online softmax), ~1e-6 relative expected; 1e-4 is ten times tighter than asked and still far
// above reordering noise.
const REL_TOL = 1e-4;
const F16_REL_TOL = 1e-2;

function store(fx: Fixture, prefix: string, extra: [string, string][] = []): MapWeightStore {
  const m = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  for (const [k, v] of fx.weights) if (k.startsWith(`${prefix}.`)) m.set(k.slice(prefix.length + 1), v);
  for (const [key, out] of extra) m.set(key, fx.outputs.get(out)!);
  return new MapWeightStore(m, `${fx.dir} (${prefix})`);
}

function config(fx: Fixture): SlatDecoderConfig {
  const rep = (fx.manifest.representation_config as Record<string, Record<string, unknown>>).gs;
  return { ...(fx.manifest.config as unknown as SlatDecoderConfig), representation_config: rep };
}

function input(fx: Fixture, gpu: GpuContext | null, c = 'coords', f = 'x'): SparseTensor {
  const x = fx.inputs.get(f)!;
  return SparseTensor.create(
    Tensor.fromArray(x.data, x.shape, { gpu }),
    Int32Array.from(fx.inputs.get(c)!.data),
  );
}

async function run(gpu: GpuContext | null, precision: 'f32' | 'f16' = 'f32', tol = REL_TOL): Promise<void> {
  const fx = await loadFixture(DIR, { filter: (k) => k.startsWith('gs.') });
  const dec = await SLatGaussianDecoder.load(
    store(fx, 'gs', [['offset_perturbation', 'offset_perturbation']]),
    config(fx),
    { gpu, precision },
  );
  assert.equal(dec.dtype, precision);
  const x = input(fx, gpu);
  const raw = dec.forwardRaw(x);
  const got = await raw.toArray();
  raw.dispose();
  const want = fx.outputs.get('gs_raw')!;
  assert.deepEqual([...raw.shape], want.shape);
  const err = maxAbsDiff(got, want.data) / maxAbs(want.data);
  console.log(
    `GS decoder ${gpu ? 'gpu' : 'cpu'} ${precision}: raw max |diff| / max |out| = ${err.toExponential(2)}`,
  );
  assert.ok(err < tol, `raw relative error ${err}`);
  const [g] = await dec.decode(x);
  // decode() on the GPU reads each field back separately; the result must be exactly the one-array CPU path.
  const fromRaw = gaussiansFromDecoderOutput(got, x.coords, dec.dims.res, dec.rep, dec.perturbation);
  for (const k of ['xyz', 'featuresDc', 'scaling', 'rotation', 'opacity'] as const) {
    assert.deepEqual(g.fields[k], fromRaw.fields[k], `decode() field ${k} equals gaussiansFromDecoderOutput`);
  }
  // Activated values inherit the raw error (derivatives of tanh/softplus/sigmoid are <= 1 and scaled down by
  // 1/64 for positions): compare with the same relative bound on each output's scale.
  for (const [name, ours] of [
    ['gs_get_xyz', g.getXyz()],
    ['gs_get_scaling', g.getScaling()],
    ['gs_get_opacity', g.getOpacity()],
    ['gs_get_rotation', g.getRotation()],
  ] as const) {
    const w = fx.outputs.get(name)!.data;
    const e = maxAbsDiff(ours, w) / maxAbs(w);
    assert.ok(e < tol, `${name}: relative error ${e}`);
  }
  x.disposeCache();
  dec.dispose();
}

test('GS decoder matches the official module on the CPU', async () => {
  await run(null);
});

test('GS decoder matches the official module on the GPU', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  await run(gpu);
});

test('GS decoder in f16 (use_fp16 precision map) stays close to the f32 reference', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  if (!gpu.features.f16) {
    t.skip('adapter lacks shader-f16');
    return;
  }
  // f16 residual stream and block Linear weights (~5e-4 relative per rounding) over 2 blocks, then an f32 LN and
  // head: ~1e-3 of the output scale expected; the spec's fp16 target is ~1e-2 relative (§k), which we use.
  await run(gpu, 'f16', F16_REL_TOL);
});

test('GS decoder key table: official keys, errors name what is wrong', async () => {
  const fx = await loadFixture(DIR, { filter: (k) => k.startsWith('gs.') });
  const expected = slatGsExpectedShapes(config(fx));
  const official = (fx.manifest.state_dict_keys as string[])
    .filter((k) => k.startsWith('gs.'))
    .map((k) => k.slice(3));
  assert.deepEqual([...expected.keys()].sort(), official.sort());
  const bad = store(fx, 'gs');
  await assert.rejects(
    SLatGaussianDecoder.load(bad, config(fx), { gpu: null }),
    /missing keys \(1\):\s+offset_perturbation/,
  );
  assert.throws(
    () => slatGsExpectedShapes({ ...config(fx), attn_mode: 'shift_order' }),
    /attn_mode 'shift_order'/,
  );
  assert.equal(GS_REPRESENTATION_DEFAULTS.num_gaussians, 32);
});
