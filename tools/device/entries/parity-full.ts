/**
 * Full-size parity on the device: our models (WebGPU) against the official PyTorch modules' outputs written by
 * tools/fixtures/{dinov2_reg,ss_flow,ss_dec,ss_stage}.py --size full. Weights are regenerated with detweights.
 * Usage (bundled by tools/device/prepare.sh): node parity-full.mjs <fixtures root> [--json]
 * Prints one JSON object with every figure (max-abs errors, relative errors, occupancy IoU, timings).
 */

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Dinov2, type Dinov2Config } from '../../../src/models/dinov2.ts';
import { SLatFlow, type SLatFlowConfig } from '../../../src/models/slat-flow.ts';
import {
  occupiedCoords,
  SparseStructureDecoder,
  type SsDecoderConfig,
} from '../../../src/models/ss-decoder.ts';
import {
  disposeFlowCondition,
  prepareFlowCondition,
  SparseStructureFlow,
  type SsFlowConfig,
} from '../../../src/models/ss-flow.ts';
import { MapWeightStore } from '../../../src/nn/weights.ts';
import { sampleSparseStructure } from '../../../src/pipeline/stage1.ts';
import { GpuContext } from '../../../src/runtime/gpu.ts';
import { Tensor } from '../../../src/runtime/tensor.ts';
import { SparseTensor } from '../../../src/sparse/sparse-tensor.ts';
import { type DetSpec, detGenerate } from '../../../src/testing/detweights.ts';
import { loadFixture } from '../../../src/testing/fixtures.ts';
import { fixtureCondition } from '../../../test/helpers/cond.ts';

const root = process.argv[2] ?? '/tmp/fx';
const results: Record<string, unknown> = {};
const gpu = await GpuContext.create();
if (!gpu) throw new Error('no WebGPU adapter');
results.adapter = `${gpu.adapterInfo.vendor} ${gpu.adapterInfo.device}`;
results.f16 = gpu.features.f16;

function errs(got: Float32Array, want: Float32Array): { maxAbs: number; rel: number } {
  let m = 0;
  let s = 0;
  for (let i = 0; i < want.length; i++) {
    m = Math.max(m, Math.abs(got[i] - want[i]));
    s = Math.max(s, Math.abs(want[i]));
  }
  return { maxAbs: m, rel: m / s };
}

function iou(a: Float32Array, b: Float32Array): number {
  let inter = 0;
  let uni = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] > 0;
    const y = b[i] > 0;
    if (x && y) inter++;
    if (x || y) uni++;
  }
  return uni ? inter / uni : 1;
}

async function step(name: string, fn: () => Promise<Record<string, unknown>>): Promise<void> {
  const t0 = performance.now();
  try {
    results[name] = { ...(await fn()), seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    results[name] = { error: String(e instanceof Error ? e.stack : e) };
  }
  console.error(name, JSON.stringify(results[name]));
  gpu!.trimPool();
}

if (existsSync(join(root, 'dinov2/full'))) {
  const fx = await loadFixture(join(root, 'dinov2/full'));
  const cfg = fx.manifest.config as unknown as Dinov2Config;
  for (const precision of ['f32', 'f16'] as const) {
    await step(`dinov2_full_${precision}`, async () => {
      const dino = await Dinov2.load(new MapWeightStore(fx.weights), cfg, { gpu, precision });
      const img = fx.inputs.get('image')!;
      const out = dino.forward(Tensor.fromArray(img.data, img.shape, { gpu }));
      const r = errs(await out.toArray(), fx.outputs.get('tokens')!.data);
      dino.dispose();
      return { dtype: dino.dtype, ...r };
    });
  }
}

if (existsSync(join(root, 'slat_flow/full'))) {
  const fx = await loadFixture(join(root, 'slat_flow/full'));
  const cfg = fx.manifest.config as unknown as SLatFlowConfig;
  for (const precision of ['f32', 'f16'] as const) {
    await step(`slat_flow_full_${precision}`, async () => {
      const flow = await SLatFlow.load(new MapWeightStore(fx.weights), cfg, { gpu, precision });
      const coords = Int32Array.from(fx.outputs.get('coords')!.data);
      const xf = fx.inputs.get('x_feats')!;
      const x = SparseTensor.create(Tensor.fromArray(xf.data, xf.shape, { gpu }), coords);
      const t = fx.outputs.get('t')!.data[0];
      const out: Record<string, unknown> = { dtype: flow.dtype, voxels: coords.length / 4 };
      for (const [name, cond] of [
        ['v_cond', fixtureCondition(fx)],
        ['v_neg', new Float32Array(4112 * 1024)],
      ] as const) {
        const c = prepareFlowCondition(cond, gpu, flow.dtype);
        const t0 = performance.now();
        const v = await flow.forward(x, t, c);
        const got = await v.feats.toArray();
        out[`${name}_ms`] = performance.now() - t0;
        out[`${name}_vs_fp32`] = errs(got, fx.outputs.get(name)!.data);
        const ref16 = fx.outputs.get(`${name}.fp16`);
        if (ref16) out[`${name}_vs_fp16`] = errs(got, ref16.data);
        v.feats.dispose();
        disposeFlowCondition(c);
      }
      x.disposeCache();
      flow.dispose();
      return out;
    });
  }
}

if (existsSync(join(root, 'ss_flow/full'))) {
  const fx = await loadFixture(join(root, 'ss_flow/full'));
  const cfg = fx.manifest.config as unknown as SsFlowConfig;
  for (const precision of ['f32', 'f16'] as const) {
    await step(`ss_flow_full_${precision}`, async () => {
      const flow = await SparseStructureFlow.load(new MapWeightStore(fx.weights), cfg, { gpu, precision });
      const x = Tensor.fromArray(fx.inputs.get('x')!.data, fx.inputs.get('x')!.shape, { gpu });
      const t = fx.outputs.get('t')!.data[0];
      const out: Record<string, unknown> = { dtype: flow.dtype };
      for (const [name, cond] of [
        ['v_cond', fixtureCondition(fx)],
        ['v_neg', new Float32Array(4112 * 1024)],
      ] as const) {
        const c = prepareFlowCondition(cond, gpu, flow.dtype);
        const v = await (await flow.forward(x, t, c)).toArray();
        out[`${name}_vs_fp32`] = errs(v, fx.outputs.get(name)!.data);
        const ref16 = fx.outputs.get(`${name}.fp16`);
        if (ref16) out[`${name}_vs_fp16`] = errs(v, ref16.data);
        disposeFlowCondition(c);
      }
      flow.dispose();
      return out;
    });
  }
}

if (existsSync(join(root, 'ss_dec/full'))) {
  const fx = await loadFixture(join(root, 'ss_dec/full'));
  const cfg = fx.manifest.config as unknown as SsDecoderConfig;
  for (const precision of ['f32', 'f16'] as const) {
    await step(`ss_dec_full_${precision}`, async () => {
      const dec = await SparseStructureDecoder.load(new MapWeightStore(fx.weights), cfg, { gpu, precision });
      const z = fx.inputs.get('z')!;
      const got = await dec.forward(Tensor.fromArray(z.data, z.shape, { gpu })).toArray();
      const out: Record<string, unknown> = {
        dtype: dec.dtype,
        vs_fp32: errs(got, fx.outputs.get('logits')!.data),
        iou_vs_fp32: iou(got, fx.outputs.get('logits')!.data),
      };
      const ref16 = fx.outputs.get('logits.fp16');
      if (ref16) {
        out.vs_fp16 = errs(got, ref16.data);
        out.iou_vs_fp16 = iou(got, ref16.data);
      }
      dec.dispose();
      return out;
    });
  }
}

if (existsSync(join(root, 'ss_stage/full'))) {
  const fx = await loadFixture(join(root, 'ss_stage/full'));
  const m = fx.manifest as unknown as {
    flow_config: SsFlowConfig;
    decoder_config: SsDecoderConfig;
    flow_weights: DetSpec[];
    decoder_weights: DetSpec[];
  };
  const gen = (specs: DetSpec[]) =>
    new Map(specs.map((s) => [s.name, { shape: s.shape, data: detGenerate(s) }]));
  for (const precision of ['f32', 'f16'] as const) {
    await step(`ss_stage_full_${precision}`, async () => {
      const flow = await SparseStructureFlow.load(new MapWeightStore(gen(m.flow_weights)), m.flow_config, {
        gpu,
        precision,
      });
      const dec = await SparseStructureDecoder.load(
        new MapWeightStore(gen(m.decoder_weights)),
        m.decoder_config,
        { gpu, precision },
      );
      const t0 = performance.now();
      const r = await sampleSparseStructure(flow, dec, [fixtureCondition(fx)], {
        noise: fx.inputs.get('noise')!.data,
        steps: 12,
        cfgStrength: 7.5,
        viewOrder: 'given',
      });
      const ms = performance.now() - t0;
      const ref = fx.outputs.get('logits')!.data;
      const out: Record<string, unknown> = {
        dtype: flow.dtype,
        stageMs: ms,
        voxels: r.coords.length / 4,
        iou_vs_fp32: iou(r.logits, ref),
        latent_vs_fp32: errs(r.latent, fx.outputs.get('latent')!.data),
      };
      const ref16 = fx.outputs.get('logits.fp16');
      if (ref16) {
        out.iou_vs_fp16 = iou(r.logits, ref16.data);
        out.latent_vs_fp16 = errs(r.latent, fx.outputs.get('latent.fp16')!.data);
      }
      out.refVoxels = occupiedCoords(ref, [1, 64, 64, 64]).length / 4;
      flow.dispose();
      dec.dispose();
      return out;
    });
  }
}

process.stdout.write(`${JSON.stringify(results, null, 1)}\n`);
gpu.destroy();
