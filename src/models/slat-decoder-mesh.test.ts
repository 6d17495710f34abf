import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maxAbs, maxAbsDiff } from '../../test/helpers/compare.ts';
import { FORCED_SMALL_BINDING, requireGpu } from '../../test/helpers/gpu.ts';
import { MapWeightStore } from '../nn/weights.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { Tensor } from '../runtime/tensor.ts';
import { SparseTensor } from '../sparse/sparse-tensor.ts';
import { type Fixture, loadFixture } from '../testing/fixtures.ts';
import type { SlatDecoderConfig } from './slat-decoder-base.ts';
import { MESH_FEATURE_CHANNELS, SLatMeshDecoder, slatMeshExpectedShapes } from './slat-decoder-mesh.ts';

// SLAT_DEC_FIXTURE points the same checks at another fixture (e.g. `--size full` output on the device).
const DIR = process.env.SLAT_DEC_FIXTURE ?? 'test/fixtures/slat_dec/ci';
// Parity bound of the issue: max-abs <= 1e-3 of the output's scale in f32. Only f32 summation order differs
// (GEMM tiling, im2col conv as one 27 Cin dot product vs per-tap sums, GroupNorm block statistics): ~1e-6
// relative expected; 1e-4 is ten times tighter than asked.
const REL_TOL = 1e-4;
const F16_REL_TOL = 1e-2;

function store(fx: Fixture): MapWeightStore {
  const m = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  for (const [k, v] of fx.weights) if (k.startsWith('mesh.')) m.set(k.slice(5), v);
  return new MapWeightStore(m, `${fx.dir} (mesh)`);
}

function config(fx: Fixture): SlatDecoderConfig {
  const rep = (fx.manifest.representation_config as Record<string, Record<string, unknown>>).mesh;
  return { ...(fx.manifest.config as unknown as SlatDecoderConfig), representation_config: rep };
}

async function run(
  gpu: GpuContext | null,
  precision: 'f32' | 'f16' = 'f32',
  tol = REL_TOL,
  outBlockBytes?: number,
): Promise<void> {
  const fx = await loadFixture(DIR, { filter: (k) => k.startsWith('mesh.') });
  const dec = await SLatMeshDecoder.load(store(fx), config(fx), { gpu, precision });
  assert.equal(dec.dtype, precision);
  const xi = fx.inputs.get('x_mesh')!;
  const x = SparseTensor.create(
    Tensor.fromArray(xi.data, xi.shape, { gpu }),
    Int32Array.from(fx.inputs.get('coords_mesh')!.data),
  );
  const { coords, feats, resolution } = await dec.decodeFeatures(x, { outBlockBytes });
  assert.equal(resolution, 256);
  // Same voxels in the same (subdivision) order as the official spconv tensors.
  assert.deepEqual([...coords], [...fx.outputs.get('mesh_coords')!.data]);
  const want = fx.outputs.get('mesh_feats')!;
  assert.equal(feats.length, want.data.length);
  assert.equal(want.shape[1], MESH_FEATURE_CHANNELS);
  const err = maxAbsDiff(feats, want.data) / maxAbs(want.data);
  console.log(
    `mesh decoder ${gpu ? `gpu (binding ${gpu.maxBinding})` : 'cpu'} ${precision}: max |diff| / max |out| = ${err.toExponential(2)}`,
  );
  assert.ok(err < tol, `relative error ${err}`);
  x.feats.dispose();
  x.disposeCache();
  dec.dispose();
}

test('mesh decoder matches the official module on the CPU', async () => {
  await run(null);
});

test('mesh decoder matches the official module on the GPU', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  await run(gpu);
});

test('mesh decoder output read back in blocks of rows (decodeFeatures outBlockBytes) gives the same features', async (t) => {
  const gpu = await requireGpu(t);
  // 64 KiB blocks: ~160 rows of the 101-channel f32 output each, so the CI fixture's rows span many blocks
  // (the default 64 MiB blocks only split at ~166k rows, i.e. full-size inputs).
  await run(gpu, 'f32', REL_TOL, 64 * 1024);
});

test('mesh decoder on the GPU with 1 MiB bindings (split im2col / GEMM / GroupNorm paths)', async (t) => {
  const gpu = await requireGpu(t, { maxBinding: FORCED_SMALL_BINDING });
  if (!gpu) return;
  await run(gpu);
});

test('mesh decoder in f16 (use_fp16 precision map) stays close to the f32 reference', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  if (!gpu.features.f16) {
    t.skip('adapter lacks shader-f16');
    return;
  }
  // f16 stream, Linear and conv weights (11-bit mantissa, ~5e-4 relative per rounding) through 2 blocks, two
  // subdivide blocks and GroupNorms: errors compound to ~1e-3 of the output scale; the spec's fp16 target is
  // ~1e-2 relative (ARCHITECTURE.md §k), which we use.
  await run(gpu, 'f16', F16_REL_TOL);
});

test('mesh decoder key table equals the official state dict; width rule enforced', async () => {
  const fx = await loadFixture(DIR, { filter: () => false });
  const official = (fx.manifest.state_dict_keys as string[])
    .filter((k) => k.startsWith('mesh.'))
    .map((k) => k.slice(5));
  assert.deepEqual([...slatMeshExpectedShapes(config(fx)).keys()].sort(), official.sort());
  assert.throws(
    () => slatMeshExpectedShapes({ ...config(fx), model_channels: 128, num_heads: 2 }),
    /multiple of 256/,
  );
});
