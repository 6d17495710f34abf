import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maxAbs, maxAbsDiff } from '../../test/helpers/compare.ts';
import { fixtureCondition } from '../../test/helpers/cond.ts';
import { requireGpu } from '../../test/helpers/gpu.ts';
import { absolutePositionEmbedding, gridCoords, timestepEmbedding } from '../nn/embeddings.ts';
import { MapWeightStore } from '../nn/weights.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { Tensor } from '../runtime/tensor.ts';
import { loadFixture } from '../testing/fixtures.ts';
import {
  disposeFlowCondition,
  prepareFlowCondition,
  SparseStructureFlow,
  type SsFlowConfig,
} from './ss-flow.ts';

// Parity bound from the issue: max-abs error <= 1e-3 of the output's scale in f32. Our kernels reorder f32 sums
// (tiled matmul, online softmax), so we expect ~1e-6 relative; 1e-4 relative is a tenfold-tighter check than asked.
const REL_TOL = 1e-4;

test('APE buffer equals the official pos_emb', async () => {
  const fx = await loadFixture('test/fixtures/ss_flow/p1', { filter: () => false });
  const official = fx.outputs.get('pos_emb_official')!;
  const cfg = fx.manifest.config as unknown as SsFlowConfig;
  const ours = absolutePositionEmbedding(
    gridCoords(cfg.resolution / (cfg.patch_size ?? 2)),
    cfg.model_channels,
  );
  // sin/cos of f32 arguments: libm vs JS differ by at most an ulp or two.
  assert.ok(maxAbsDiff(ours, official.data) < 1e-6, `APE max diff ${maxAbsDiff(ours, official.data)}`);
});

test('timestep embedding input matches the official frequencies', () => {
  // cos first, then sin (TimestepEmbedder.timestep_embedding); t=0 gives [1..1, 0..0].
  const e = timestepEmbedding([0]);
  assert.deepEqual([...e.subarray(0, 128)], new Array(128).fill(1));
  assert.deepEqual([...e.subarray(128)], new Array(128).fill(0));
});

async function runFlow(dir: string, gpu: GpuContext | null, shortcuts = true): Promise<void> {
  const fx = await loadFixture(dir);
  const cfg = fx.manifest.config as unknown as SsFlowConfig;
  const flow = await SparseStructureFlow.load(new MapWeightStore(fx.weights, dir), cfg, {
    gpu,
    precision: 'f32',
    shortcuts,
  });
  const x = Tensor.fromArray(fx.inputs.get('x')!.data, fx.inputs.get('x')!.shape, { gpu });
  const t = fx.outputs.get('t')!.data[0];
  for (const [name, cond] of [
    ['v_cond', fixtureCondition(fx)],
    ['v_neg', new Float32Array(4112 * 1024)],
  ] as const) {
    const c = prepareFlowCondition(cond, gpu, flow.dtype);
    const v = await flow.forward(x, t, c);
    const got = await v.toArray();
    const want = fx.outputs.get(name)!;
    assert.deepEqual([...v.shape], want.shape);
    const err = maxAbsDiff(got, want.data) / maxAbs(want.data);
    console.log(
      `${dir} ${gpu ? 'gpu' : 'cpu'}${shortcuts ? '' : ' (no shortcuts)'} ${name}: max |diff| / max |v| = ${err.toExponential(2)}`,
    );
    assert.ok(err < REL_TOL, `${name}: relative error ${err}`);
    v.dispose();
    disposeFlowCondition(c);
  }
  flow.dispose();
}

for (const dir of ['test/fixtures/ss_flow/p1', 'test/fixtures/ss_flow/p2']) {
  test(`stage-1 flow matches the official module on the CPU (${dir})`, async () => {
    await runFlow(dir, null);
  });
  test(`stage-1 flow matches the official module on the GPU (${dir})`, async (t) => {
    const gpu = await requireGpu(t);
    if (!gpu) return;
    await runFlow(dir, gpu);
  });
}

test('stage-1 flow without the algebraic shortcuts (the official computation) matches too', async () => {
  await runFlow('test/fixtures/ss_flow/p1', null, false);
});

test('f16 shortcuts stay within f16 rounding of the full computation', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  if (!gpu.features.f16) return t.skip('adapter has no shader-f16');
  const dir = 'test/fixtures/ss_flow/p1';
  const fx = await loadFixture(dir);
  const cfg = fx.manifest.config as unknown as SsFlowConfig;
  const store = new MapWeightStore(fx.weights, dir);
  const x = Tensor.fromArray(fx.inputs.get('x')!.data, fx.inputs.get('x')!.shape, { gpu });
  const t1000 = fx.outputs.get('t')!.data[0];
  const outs: Float32Array[] = [];
  for (const shortcuts of [true, false]) {
    const flow = await SparseStructureFlow.load(store, cfg, { gpu, precision: 'f16', shortcuts });
    for (const cond of [fixtureCondition(fx), new Float32Array(4112 * 1024)]) {
      const c = prepareFlowCondition(cond, gpu, flow.dtype);
      outs.push(await (await flow.forward(x, t1000, c)).toArray());
      disposeFlowCondition(c);
    }
    flow.dispose();
  }
  // Both paths round to f16 at every layer boundary (residual stream in f16: ~5e-4 relative per rounding);
  // they differ only in where inside the two cross-attentions the f16 roundings fall. Two blocks of this model
  // accumulate a few such roundings: 1e-2 relative is the spec's f16 tolerance (§k). Measured on lavapipe:
  // 2.4e-4 for the condition, exactly 0 for the all-zero condition.
  for (const i of [0, 1]) {
    const err = maxAbsDiff(outs[i], outs[i + 2]) / maxAbs(outs[i + 2]);
    console.log(`f16 shortcut vs full (${i ? 'neg' : 'cond'}): ${err.toExponential(2)}`);
    assert.ok(err < 1e-2, `relative gap ${err}`);
  }
});
