/**
 * Full-size SLAT decoder parity on the device, f32 AND f16, against the official modules' fp32 and fp16 outputs
 * written by `tools/fixtures/slat_dec.py --size full --device cuda` (the `.fp16` tensors come from `use_fp16=True`
 * twins of the official decoders loaded with the same weights, so "vs official fp16" compares two half-precision
 * implementations of one network).
 *
 * Usage (bundled by tools/device/prepare.sh): node parity-slat-dec.mjs <fixture dir, e.g. /tmp/fx/slat_dec/full>
 * Prints one JSON object: per decoder and precision, rel = max |ours - official| / max |official| against the
 * fp32 reference and (when present) against the official fp16 output, plus the official fp16-vs-fp32 gap
 * (`official_fp16_vs_fp32`), which is the yardstick for our f16 figures. Nothing is asserted here: the node:test
 * files (src/models/slat-decoder-*.test.ts with SLAT_DEC_FIXTURE) hold the pass/fail bounds; this entry records
 * the figures docs/parity.md reports.
 *
 * Alternatives: extending the decoder tests with fp16 comparisons (those files belong to the decoder work and
 * run in CI on the ci fixture, which has no `.fp16` tensors: the CPU fixture machine cannot run fp16 convs).
 *
 * @example
 * node .device/bundle/tools-device-entries-parity-slat-dec.mjs /tmp/fx/slat_dec/full > $OUT/parity-slat-dec.json
 */

import type { SlatDecoderConfig } from '../../../src/models/slat-decoder-base.ts';
import { SLatGaussianDecoder } from '../../../src/models/slat-decoder-gs.ts';
import { SLatMeshDecoder } from '../../../src/models/slat-decoder-mesh.ts';
import { SLatRadianceFieldDecoder } from '../../../src/models/slat-decoder-rf.ts';
import { MapWeightStore } from '../../../src/nn/weights.ts';
import { GpuContext } from '../../../src/runtime/gpu.ts';
import { Tensor } from '../../../src/runtime/tensor.ts';
import { SparseTensor } from '../../../src/sparse/sparse-tensor.ts';
import { type Fixture, loadFixture } from '../../../src/testing/fixtures.ts';

const dir = process.argv[2] ?? '/tmp/fx/slat_dec/full';
const results: Record<string, unknown> = { fixture: dir };
const gpu = await GpuContext.create();
if (!gpu) throw new Error('parity-slat-dec: no WebGPU adapter (see docs/device.md)');
results.adapter = `${gpu.adapterInfo.vendor} ${gpu.adapterInfo.device}`;

type Kind = 'gs' | 'mesh' | 'rf';
const OUTPUT: Record<Kind, string> = { gs: 'gs_raw', mesh: 'mesh_feats', rf: 'rf_raw' };

function rel(got: Float32Array, want: Float32Array): { maxAbs: number; rel: number } {
  if (got.length !== want.length) throw new Error(`length ${got.length} vs reference ${want.length}`);
  let m = 0;
  let s = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    m = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(m, d);
    s = Math.max(s, Math.abs(want[i]));
  }
  return { maxAbs: m, rel: m / s };
}

function store(fx: Fixture, prefix: Kind): MapWeightStore {
  const m = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  for (const [k, v] of fx.weights) if (k.startsWith(`${prefix}.`)) m.set(k.slice(prefix.length + 1), v);
  if (prefix === 'gs') m.set('offset_perturbation', fx.outputs.get('offset_perturbation')!);
  return new MapWeightStore(m, `${fx.dir} (${prefix})`);
}

function config(fx: Fixture, prefix: Kind): SlatDecoderConfig {
  const rep = (fx.manifest.representation_config as Record<string, Record<string, unknown>>)[prefix];
  return { ...(fx.manifest.config as unknown as SlatDecoderConfig), representation_config: rep };
}

function input(fx: Fixture, prefix: Kind): SparseTensor {
  const [c, f] = prefix === 'mesh' ? ['coords_mesh', 'x_mesh'] : ['coords', 'x'];
  const x = fx.inputs.get(f)!;
  return SparseTensor.create(
    Tensor.fromArray(x.data, x.shape, { gpu }),
    Int32Array.from(fx.inputs.get(c)!.data),
  );
}

async function decode(fx: Fixture, prefix: Kind, precision: 'f32' | 'f16'): Promise<Float32Array> {
  const opts = { gpu, precision };
  const x = input(fx, prefix);
  try {
    if (prefix === 'mesh') {
      const dec = await SLatMeshDecoder.load(store(fx, prefix), config(fx, prefix), opts);
      const r = await dec.decodeFeatures(x);
      dec.dispose();
      return r.feats;
    }
    const dec =
      prefix === 'gs'
        ? await SLatGaussianDecoder.load(store(fx, prefix), config(fx, prefix), opts)
        : await SLatRadianceFieldDecoder.load(store(fx, prefix), config(fx, prefix), opts);
    const out = dec.forwardRaw(x);
    const v = await out.toArray();
    out.dispose();
    dec.dispose();
    return v;
  } finally {
    x.feats.dispose();
    x.disposeCache();
  }
}

for (const prefix of ['gs', 'mesh', 'rf'] as const) {
  const fx = await loadFixture(dir, { filter: (k) => k.startsWith(`${prefix}.`) });
  const name = OUTPUT[prefix];
  const ref32 = fx.outputs.get(name)!.data;
  const ref16 = fx.outputs.get(`${name}.fp16`)?.data;
  const entry: Record<string, unknown> = { rows: fx.outputs.get(name)!.shape[0] };
  if (ref16) entry.official_fp16_vs_fp32 = rel(ref16, ref32);
  for (const precision of ['f32', 'f16'] as const) {
    const t0 = performance.now();
    try {
      const got = await decode(fx, prefix, precision);
      entry[precision] = {
        vs_official_fp32: rel(got, ref32),
        ...(ref16 ? { vs_official_fp16: rel(got, ref16) } : {}),
        seconds: (performance.now() - t0) / 1000,
      };
    } catch (e) {
      entry[precision] = { error: String(e instanceof Error ? e.stack : e) };
    }
    gpu.trimPool();
  }
  if (!ref16)
    entry.note = `${name}.fp16 absent (fixture not generated on CUDA, or its fp16 run failed: see manifest fp16)`;
  results[prefix] = entry;
  console.error(prefix, JSON.stringify(entry));
}
results.fp16_manifest = (await loadFixture(dir, { filter: () => false })).manifest.fp16;
process.stdout.write(`${JSON.stringify(results, null, 1)}\n`);
gpu.destroy();
