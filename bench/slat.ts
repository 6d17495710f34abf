/**
 * `npm run bench -- slat [--json] [--precision f16|f32] [--iters N] [--only flow,gs,mesh,rf,conv] [--profile]
 * [--small]`: stage 2 at full size with random weights, ours on WebGPU:
 *
 * - `flow`: one SLAT-flow CFG step (conditional + unconditional forward, batch 1 each, as the official sampler)
 *   at the released size (width 1024, 24 blocks, io [128], patch 2) on the spherical shell of
 *   tools/fixtures/slat_flow.py --size full (20,256 voxels at 64^3);
 * - `gs`, `rf`: the Gaussian / radiance-field decoders (768 wide, 12 swin blocks) on the same voxels, including
 *   the readback and the representation step;
 * - `mesh`: the mesh decoder (to 256^3, 64 children per voxel) and, timed separately, FlexiCubes extraction
 *   (ours runs on the CPU). The mesh decoder's `out_layer` is zero, as the official constructor initialises it,
 *   so both implementations extract the same surface (every voxel's sdf = -1/256: the boundary of the occupied
 *   256^3 set) whatever the other random weights are;
 * - `conv`: the submanifold conv alone at the flow's three shapes (128 -> 128 and 2048 -> 128 on the voxels,
 *   1024 -> 1024 on the 3,496 tokens), the fused sparse-conv kernel against the im2col rung, GPU timestamps.
 *
 * `--profile` adds a per-kernel breakdown: every dispatch is submitted in its own compute pass with timestamp
 * writes (so the sum is a little above the timed figure: one pass per kernel), and the times are grouped by
 * pipeline family (attention, matmul, sparse-conv gather, norms, ...). The PyTorch side of the same call is
 * tools/bench_slat_official.py (tools/device/bench-slat.sh runs both).
 *
 * Notes: weights come from `randomWeights` (uniform +-1/sqrt(fan_in)); timing does not depend on their values
 * except through FlexiCubes, handled above. `--small` shrinks every network (flow width 128 / 2 blocks, decoders
 * width 256 / 2 blocks) and the shell (2,048 voxels) so it runs on lavapipe: the flow, GS and conv cases in
 * minutes (flow CFG step 12.0 s, GS decoder 22.8 s on 2 shared cores); the mesh case (131k voxels at 256^3) much
 * longer. Alternatives for the per-kernel breakdown: sub-phase wall timers (coarser, and they would need hooks
 * in the models) — wrapping `gpu.dispatch` needs none.
 *
 * @example
 * npm run bench -- slat --json --precision f16 --profile
 */

import type { SlatDecoderConfig } from '../src/models/slat-decoder-base.ts';
import {
  GS_REPRESENTATION_DEFAULTS,
  offsetPerturbation,
  SLatGaussianDecoder,
  slatGsExpectedShapes,
} from '../src/models/slat-decoder-gs.ts';
import { SLatMeshDecoder, slatMeshExpectedShapes } from '../src/models/slat-decoder-mesh.ts';
import { SLatRadianceFieldDecoder, slatRfExpectedShapes } from '../src/models/slat-decoder-rf.ts';
import {
  resolveSLatFlowConfig,
  SLatFlow,
  type SLatFlowConfig,
  slatFlowExpectedShapes,
} from '../src/models/slat-flow.ts';
import { COND_IMAGE_TOKENS, COND_PATCHES, disposeFlowCondition } from '../src/models/ss-flow.ts';
import { MapWeightStore } from '../src/nn/weights.ts';
import { testSlatDecoderConfig, testSlatFlowConfig } from '../src/pipeline/make-test-model.ts';
import { extractMesh } from '../src/representations/flexicubes.ts';
import type { GpuContext } from '../src/runtime/gpu.ts';
import { Tensor } from '../src/runtime/tensor.ts';
import { prepareSparseConvWeight, type SubmConvOptions, submConv3d } from '../src/sparse/conv.ts';
import { SparseTensor } from '../src/sparse/sparse-tensor.ts';
import { argValue, type BenchFn, benchFlowConditions, randomWeights, timeGpu, timeWall } from './harness.ts';

/** Released SLAT flow (ARCHITECTURE.md §e; ../shared/spec/configs.json `slat_flow_model`). */
export const SLAT_FLOW_FULL: SLatFlowConfig = testSlatFlowConfig('full');

/** Released SLAT decoders' trunk (configs.json `slat_decoder_*`). */
export const SLAT_DEC_FULL: SlatDecoderConfig = testSlatDecoderConfig('full');

/** Shell radii of tools/fixtures/slat_flow.py --size full (20,256 voxels); `--small` uses a thinner, smaller one. */
const SHELL_FULL = { inner: 18, outer: 22 };
const SHELL_SMALL = { inner: 8, outer: 10 };
const GRID = 64;
const T_MODEL = 750;

/** Voxels with inner <= |p - 31.5| < outer, in torch.nonzero (x-major) order, batch 0. */
export function shellCoords(inner: number, outer: number): Int32Array {
  const c = (GRID - 1) / 2;
  const out: number[] = [];
  for (let x = 0; x < GRID; x++)
    for (let y = 0; y < GRID; y++)
      for (let z = 0; z < GRID; z++) {
        const d = Math.sqrt((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2);
        if (d >= inner && d < outer) out.push(0, x, y, z);
      }
  return Int32Array.from(out);
}

/** Condition tokens of the two cross-attentions (DINOv2 patch + special tokens; mask patch tokens). */
const COND_TOKENS = COND_IMAGE_TOKENS;
const MASK_TOKENS = COND_PATCHES;

/**
 * Nominal FLOPs of one SLAT-flow forward by op family (the official algorithm, 2 per multiply-add): sparse convs
 * (27 taps), transformer Linears (condition K/V projections included, though the shortcuts cache them) and
 * attention (4 L Lk C per attention). With the profile's milliseconds this gives each family's TFLOP/s.
 */
export function slatFlowFlops(cfg: SLatFlowConfig, voxels: number, tokens: number): Record<string, number> {
  const r = resolveSLatFlowConfig(cfg);
  const { C, hidden } = r;
  let conv = 0;
  let linear = 0;
  for (const b of [...r.inputBlocks, ...r.outBlocks]) {
    const rows = b.down ? tokens : voxels; // down: resample before the convs; up: back at the voxels
    conv += 2 * rows * 27 * (b.cin * b.cout + b.cout * b.cout);
    if (b.cin !== b.cout) linear += 2 * rows * b.cin * b.cout;
  }
  const L = tokens;
  const perBlockLinear =
    2 * L * (4 * C * C + 2 * 2 * C * C + 2 * C * hidden) + 2 * 2 * (COND_TOKENS + MASK_TOKENS) * C * C;
  linear += r.blocks * perBlockLinear + 2 * voxels * (r.inC * r.io[0] + r.io[0] * r.outC);
  const attention = r.blocks * 4 * L * (L + COND_TOKENS + MASK_TOKENS) * C;
  return { conv, linear, attention, total: conv + linear + attention };
}

/** Coordinates after the flow's 2x downsample: distinct (b, x >> 1, y >> 1, z >> 1), sorted. */
function parentCoords(coords: Int32Array): Int32Array {
  const keys = new Set<number>();
  for (let i = 0; i < coords.length; i += 4) {
    keys.add(
      ((coords[i] * 512 + (coords[i + 1] >> 1)) * 512 + (coords[i + 2] >> 1)) * 512 + (coords[i + 3] >> 1),
    );
  }
  const sorted = [...keys].sort((x, y) => x - y);
  const out = new Int32Array(sorted.length * 4);
  sorted.forEach((k, i) => {
    out[4 * i + 3] = k % 512;
    out[4 * i + 2] = Math.floor(k / 512) % 512;
    out[4 * i + 1] = Math.floor(k / 512 ** 2) % 512;
    out[4 * i] = Math.floor(k / 512 ** 3);
  });
  return out;
}

/** Pipeline label -> op family for the per-kernel breakdown. */
export function kernelFamily(label: string): string {
  const name = label.split('(')[0];
  if (name.startsWith('attention') || name === 'softmax') return 'attention';
  if (name.startsWith('matmul')) return 'matmul (Linear + im2col conv GEMM)';
  if (name.startsWith('sparse_conv')) return 'sparse conv (fused gather-GEMM)';
  if (name === 'gatherRows') return /TI=f32/.test(label) ? 'sparse conv im2col gather' : 'row gather';
  if (name === 'scatterRows') return 'row scatter (downsample, mesh)';
  if (/norm/.test(name)) return 'norms';
  return 'elementwise / layout';
}

interface KernelProfile {
  dispatches: number;
  totalMs: number;
  byFamily: Record<string, { ms: number; dispatches: number }>;
  top: { label: string; ms: number; dispatches: number }[];
}

/** Most dispatches one profiled run may record (16 bytes of timestamps each). */
const PROFILE_MAX_DISPATCHES = 1 << 17;
/** Query-set slots (pairs); resolved into the big buffer each time they fill up, without waiting. */
const PROFILE_SLOTS = 1024;

/**
 * Runs `run` once with every dispatch in its own timestamped compute pass and sums GPU time per pipeline.
 * Wraps `gpu.dispatch` on this instance only for the duration of the call. Filled query slots are resolved into
 * one large buffer by a submitted command (queue order keeps that correct), so long synchronous stretches of
 * dispatches need no await; the results are read back once at the end.
 */
async function profileKernels(gpu: GpuContext, run: () => Promise<void>): Promise<KernelProfile | null> {
  if (!gpu.features.timestamps) return null;
  const qs = gpu.device.createQuerySet({ type: 'timestamp', count: 2 * PROFILE_SLOTS });
  const all = gpu.device.createBuffer({
    size: 16 * PROFILE_MAX_DISPATCHES,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  const labels: string[] = [];
  let inSlots = 0;
  const resolveSlots = (): void => {
    if (inSlots === 0) return;
    const enc = gpu.device.createCommandEncoder();
    enc.resolveQuerySet(qs, 0, 2 * inSlots, all, 16 * (labels.length - inSlots));
    gpu.device.queue.submit([enc.finish()]);
    inSlots = 0;
  };
  const original = gpu.dispatch;
  gpu.dispatch = (pipeline, bindings, workgroups) => {
    gpu.flush(); // anything still pending goes in its own untimed pass
    original.call(gpu, pipeline, bindings, workgroups);
    if (gpu.pendingCount === 0) return; // an empty dispatch records nothing
    if (labels.length >= PROFILE_MAX_DISPATCHES) {
      throw new Error(`profileKernels: more than ${PROFILE_MAX_DISPATCHES} dispatches`);
    }
    const i = inSlots;
    gpu.flush({ querySet: qs, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 });
    labels.push(pipeline.label || '(unlabelled)');
    inSlots++;
    if (inSlots === PROFILE_SLOTS) resolveSlots();
  };
  try {
    await run();
    gpu.flush();
    resolveSlots();
  } finally {
    gpu.dispatch = original;
  }
  const bytes = 16 * Math.max(1, labels.length);
  const read = gpu.device.createBuffer({
    size: bytes,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const enc = gpu.device.createCommandEncoder();
  enc.copyBufferToBuffer(all, 0, read, 0, bytes);
  gpu.device.queue.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const t = new BigUint64Array(read.getMappedRange().slice(0));
  read.unmap();
  read.destroy();
  all.destroy();
  qs.destroy();
  const per = new Map<string, { ms: number; dispatches: number }>();
  let total = 0;
  labels.forEach((l, i) => {
    const ms = Number(t[2 * i + 1] - t[2 * i]) / 1e6;
    const e = per.get(l) ?? { ms: 0, dispatches: 0 };
    e.ms += ms;
    e.dispatches++;
    per.set(l, e);
    total += ms;
  });
  const byFamily: Record<string, { ms: number; dispatches: number }> = {};
  for (const [l, e] of per) {
    const f = kernelFamily(l);
    const b = byFamily[f] ?? { ms: 0, dispatches: 0 };
    b.ms += e.ms;
    b.dispatches += e.dispatches;
    byFamily[f] = b;
  }
  const top = [...per.entries()]
    .map(([label, e]) => ({ label: label.slice(0, 160), ...e }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 15);
  return { dispatches: labels.length, totalMs: total, byFamily, top };
}

function fmt(ms: number): string {
  return `${ms.toFixed(1)} ms`;
}

const bench: BenchFn = async ({ gpu, args, json }) => {
  const precision = (argValue(args, 'precision') ?? 'f16') as 'f16' | 'f32';
  const iterations = Number(argValue(args, 'iters') ?? 5);
  const only = new Set((argValue(args, 'only') ?? 'flow,gs,mesh,rf,conv').split(','));
  const profile = args.includes('--profile');
  const small = args.includes('--small');
  const shell = small ? SHELL_SMALL : SHELL_FULL;
  const coords = shellCoords(shell.inner, shell.outer);
  const n = coords.length / 4;
  const flowCfg: SLatFlowConfig = small
    ? { ...SLAT_FLOW_FULL, model_channels: 128, num_heads: 2, num_blocks: 2, io_block_channels: [32] }
    : SLAT_FLOW_FULL;
  const decCfg: SlatDecoderConfig = small
    ? { ...SLAT_DEC_FULL, model_channels: 256, num_heads: 4, num_blocks: 2 }
    : SLAT_DEC_FULL;
  const figures: Record<string, unknown> = {
    precision,
    voxels: n,
    small,
    flowConfig: flowCfg,
    decoderConfig: decCfg,
    timing:
      'wall time per call after >= 1 s warm-up (GPU drained each iteration), median of --iters; conv: GPU timestamps',
  };
  console.error(`slat bench: ${n} voxels, ${precision}${small ? ' (--small configs)' : ''}`);
  // With --json, one line of the figures so far after each case: tools/device/bench-slat.sh keeps the last one
  // when a step is cut off by its time limit.
  const progress = (name: string): void => {
    if (json) process.stdout.write(`${JSON.stringify({ progress: name, ...figures })}\n`);
  };
  const latent = (): SparseTensor =>
    SparseTensor.create(
      Tensor.fromArray(
        new Float32Array(n * 8).map((_, i) => Math.sin(i * 0.37)),
        [n, 8],
        { gpu },
      ),
      coords,
    );

  if (only.has('flow')) {
    const flow = await SLatFlow.load(
      new MapWeightStore(randomWeights(slatFlowExpectedShapes(flowCfg)), 'random weights'),
      flowCfg,
      { gpu, precision },
    );
    const { cond: c, uncond: neg } = benchFlowConditions(gpu, flow.dtype);
    const x = latent();
    const step = async (): Promise<void> => {
      const a = await flow.forward(x, T_MODEL, c);
      const b = await flow.forward(x, T_MODEL, neg);
      a.feats.dispose();
      b.feats.dispose();
    };
    const t = await timeWall(gpu, step, { iterations });
    figures.flowCfgStepMs = t.medianMs;
    figures.flowCfgStepMinMs = t.minMs;
    const tokens = parentCoords(coords).length / 4;
    const flops = slatFlowFlops(flowCfg, n, tokens);
    figures.flowTokens = tokens;
    figures.flowNominalFlopsPerForward = flops;
    figures.flowCfgStepTflops = (2 * flops.total) / (t.medianMs * 1e-3) / 1e12;
    console.error(`SLAT flow CFG step (2 forwards): ${fmt(t.medianMs)} median`);
    if (profile) {
      figures.flowProfile = await profileKernels(gpu, step);
      console.error('flow kernels:', JSON.stringify((figures.flowProfile as KernelProfile | null)?.byFamily));
    }
    progress('flow');
    x.feats.dispose();
    x.disposeCache();
    disposeFlowCondition(c);
    disposeFlowCondition(neg);
    flow.dispose();
    gpu.trimPool();
  }

  const decoderCase = async (
    name: string,
    load: () => Promise<{ run: (x: SparseTensor) => Promise<Record<string, number>>; dispose(): void }>,
  ): Promise<void> => {
    const dec = await load();
    const x = latent();
    let extra: Record<string, number> = {};
    const t = await timeWall(
      gpu,
      async () => {
        extra = await dec.run(x);
      },
      { iterations },
    );
    figures[`${name}Ms`] = t.medianMs;
    figures[`${name}MinMs`] = t.minMs;
    for (const [k, v] of Object.entries(extra)) figures[`${name}.${k}`] = v;
    console.error(`${name}: ${fmt(t.medianMs)} median ${JSON.stringify(extra)}`);
    if (profile) {
      const p = await profileKernels(gpu, async () => {
        await dec.run(x);
      });
      figures[`${name}Profile`] = p;
      console.error(`${name} kernels:`, JSON.stringify(p?.byFamily));
    }
    progress(name);
    x.feats.dispose();
    x.disposeCache();
    dec.dispose();
    gpu.trimPool();
  };

  if (only.has('gs')) {
    await decoderCase('gsDecoder', async () => {
      const rep = GS_REPRESENTATION_DEFAULTS;
      const cfg = { ...decCfg, representation_config: { ...rep } };
      const w = randomWeights(slatGsExpectedShapes(cfg));
      w.set('offset_perturbation', {
        shape: [rep.num_gaussians, 3],
        data: offsetPerturbation(rep.num_gaussians, rep.voxel_size),
      });
      const dec = await SLatGaussianDecoder.load(new MapWeightStore(w, 'random weights'), cfg, {
        gpu,
        precision,
      });
      return {
        run: async (x) => ({ gaussians: (await dec.decode(x))[0].count }),
        dispose: () => dec.dispose(),
      };
    });
  }

  if (only.has('mesh')) {
    await decoderCase('meshDecoder', async () => {
      const cfg = { ...decCfg, representation_config: { use_color: true } };
      const w = randomWeights(slatMeshExpectedShapes(cfg));
      // Zero head, as the official constructor: same sdf everywhere, so both sides extract the same surface.
      for (const k of ['out_layer.weight', 'out_layer.bias']) {
        const e = w.get(k)!;
        w.set(k, { shape: e.shape, data: new Float32Array(e.data.length) });
      }
      const dec = await SLatMeshDecoder.load(new MapWeightStore(w, 'random weights'), cfg, {
        gpu,
        precision,
      });
      return {
        run: async (x) => {
          const t0 = performance.now();
          const f = await dec.decodeFeatures(x);
          const t1 = performance.now();
          const m = extractMesh(f.coords, f.feats, { resolution: f.resolution });
          return {
            decoderMs: t1 - t0,
            flexicubesCpuMs: performance.now() - t1,
            voxels256: f.coords.length / 4,
            vertices: m.vertices.length / 3,
            faces: m.faces.length / 3,
          };
        },
        dispose: () => dec.dispose(),
      };
    });
  }

  if (only.has('rf')) {
    await decoderCase('rfDecoder', async () => {
      const cfg = { ...decCfg, representation_config: { rank: 16, dim: 8 } };
      const dec = await SLatRadianceFieldDecoder.load(
        new MapWeightStore(randomWeights(slatRfExpectedShapes(cfg)), 'random weights'),
        cfg,
        { gpu, precision },
      );
      return {
        run: async (x) => ({ rows: (await dec.decode(x))[0].position.length / 3 }),
        dispose: () => dec.dispose(),
      };
    });
  }

  if (only.has('conv')) {
    // The SLAT flow's three kinds of 3x3x3 conv (0.62 TFLOP per forward in all): io blocks at the voxels
    // (128 -> 128), the first output block's conv1 on [h | skip] upsampled to the voxels (2048 -> 128, the largest),
    // and the downsampling block's conv2 at the tokens (1024 -> 1024). --small scales the widths by 1/4 (1/8 wide).
    const tokenCoords = parentCoords(coords);
    const shapes = [
      { name: 'io', cin: small ? 32 : 128, cout: small ? 32 : 128, at: coords },
      { name: 'out0.conv1', cin: small ? 256 : 2048, cout: small ? 32 : 128, at: coords },
      { name: 'down.conv2', cin: small ? 128 : 1024, cout: small ? 128 : 1024, at: tokenCoords },
    ];
    const conv: Record<string, unknown> = {};
    const dtype = precision;
    for (const sh of shapes) {
      const rows = sh.at.length / 4;
      const entry: Record<string, unknown> = { cin: sh.cin, cout: sh.cout, rows };
      const wData = randomWeights(new Map([['w', [sh.cout, 3, 3, 3, sh.cin]]])).get('w')!.data;
      const feats = Tensor.fromArray(
        new Float32Array(rows * sh.cin).map((_, i) => Math.cos(i * 0.11)),
        [rows, sh.cin],
        { gpu, dtype },
      );
      const w = prepareSparseConvWeight(Tensor.fromArray(wData, [sh.cout, 3, 3, 3, sh.cin], { gpu, dtype }));
      const b = Tensor.fromArray(new Float32Array(sh.cout).fill(0.01), [sh.cout], { gpu, dtype });
      const xs = SparseTensor.create(feats, sh.at);
      const flop = 2 * rows * 27 * sh.cin * sh.cout;
      for (const variant of ['fused', 'im2col'] as const) {
        const opts: SubmConvOptions = { variant };
        try {
          submConv3d(xs, w, b, opts).feats.dispose(); // neighbour tables built outside the timing
          await gpu.sync();
          const t = await timeGpu(gpu, () => submConv3d(xs, w, b, opts).feats.dispose(), { iterations: 10 });
          entry[variant] = { ms: t.medianMs, source: t.source, tflops: flop / (t.medianMs * 1e-3) / 1e12 };
          console.error(
            `subm conv ${sh.name} ${sh.cin}->${sh.cout} on ${rows} rows, ${dtype} ${variant}: ${t.medianMs.toFixed(3)} ms`,
          );
        } catch (e) {
          entry[variant] = { error: String(e) };
        }
      }
      conv[sh.name] = entry;
      figures.conv = conv;
      progress(`conv.${sh.name}`);
      xs.disposeCache();
      feats.dispose();
      w.matrix.dispose();
      b.dispose();
      gpu.trimPool();
    }
    figures.conv = conv;
  }
  figures.peakGpuBytes = gpu.peakBytes;
  return figures;
};

export default bench;
