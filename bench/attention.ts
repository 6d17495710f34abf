/**
 * `npm run bench -- attention [--lq N] [--lk N] [--batch N] [--heads N] [--dim N] [--iters N] [--warmup-ms N]`
 *
 * Fused attention throughput at the flow model's sizes: B=2, 16 heads, D=64, self 4096x4096 and cross 4096x1374
 * (image-condition tokens), each with f32 and f16 storage; the cross case carries the per-key mask bias as the
 * mask-weighted cross-attention does. FLOPs = 4 * B * H * Lq * Lk * D (QK^T and PV, 2 per MAC).
 * Validation comes first: small awkward sizes against the CPU twin, then sampled query rows of every timed case
 * (the twin over those rows only). `--lq/--lk` shrink the sizes (self is lq x lq, cross lq x lk) for lavapipe.
 */

import { attentionVarlenCpu } from '../src/ops/attention/attention.cpu.ts';
import {
  type AttentionOptions,
  attention,
  SGMAT_ATTENTION_TILE,
  SGMAT_ATTENTION_TILES,
  sgmatAttentionAvailable,
} from '../src/ops/attention/attention.ts';
import type { DType } from '../src/runtime/dtype.ts';
import type { GpuContext } from '../src/runtime/gpu.ts';
import { Tensor } from '../src/runtime/tensor.ts';
import { randomArray } from '../test/helpers/compare.ts';
import { type BenchFn, type Timing, tflops, timeGpu } from './harness.ts';

interface Sizes {
  batch: number;
  heads: number;
  dim: number;
  lq: number;
  lk: number;
  iters: number;
  warmupMs: number;
  /** 1: time every sgmat tile (SGMAT_ATTENTION_TILES) besides the tiled kernel; 0: the default kernels only. */
  sweep: number;
}

const DEFAULTS: Sizes = {
  batch: 2,
  heads: 16,
  dim: 64,
  lq: 4096,
  lk: 1374,
  iters: 20,
  warmupMs: 1000,
  sweep: 0,
};

/** Tolerances as in attention.test.ts: |out| <= 1; f32 accumulation order; f16 adds one output rounding. */
const TOL: Record<DType, number> = { f32: 2e-5, f16: 1e-3 };

function parseArgs(args: string[]): Sizes {
  const s = { ...DEFAULTS };
  const names: Record<string, keyof Sizes> = {
    '--lq': 'lq',
    '--lk': 'lk',
    '--batch': 'batch',
    '--heads': 'heads',
    '--dim': 'dim',
    '--iters': 'iters',
    '--warmup-ms': 'warmupMs',
    '--sweep': 'sweep',
  };
  for (let i = 0; i < args.length; i++) {
    const key = names[args[i]];
    if (!key) throw new Error(`bench attention: unknown argument ${args[i]}`);
    const v = Number(args[++i]);
    if (!Number.isInteger(v) || v < 0) throw new Error(`bench attention: ${args[i - 1]} needs an integer`);
    s[key] = v;
  }
  return s;
}

/** Mask-weight bias like §c.6: log(w + 1e-6), w = 1 for the first 5 keys, 0 for about 60% of the rest. */
function maskBias(n: number, seed: number): Float32Array {
  const r = randomArray(n, seed);
  return r.map((x, i) => Math.log((i % 1374 < 5 ? 1 : x > 0.2 ? (x - 0.2) / 0.8 : 0) + 1e-6));
}

interface CaseData {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  bias: Float32Array | null;
}

function makeCase(
  b: number,
  lq: number,
  lk: number,
  h: number,
  d: number,
  bias: boolean,
  seed: number,
): CaseData {
  return {
    q: randomArray(b * lq * h * d, seed, 3),
    k: randomArray(b * lk * h * d, seed + 1),
    v: randomArray(b * lk * h * d, seed + 2),
    bias: bias ? maskBias(b * lk, seed + 3) : null,
  };
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return Number.isNaN(m) ? Number.POSITIVE_INFINITY : m;
}

/**
 * Runs the GPU kernel on `data` and checks the given query rows of every batch item against the CPU twin
 * (which only computes those rows). Throws on a mismatch; returns the max |diff|.
 */
async function validate(
  gpu: GpuContext,
  dtype: DType,
  shape: { b: number; lq: number; lk: number; h: number; d: number },
  data: CaseData,
  rows: number[],
  kernel: Pick<AttentionOptions, 'variant' | 'sgmatTile'> = {},
): Promise<number> {
  const { b, lq, lk, h, d } = shape;
  const round = (x: Float32Array) => Tensor.fromArray(x, [x.length], { dtype }).data;
  const q = gpu.tensor(data.q, [b, lq, h, d], dtype);
  const k = gpu.tensor(data.k, [b, lk, h, d], dtype);
  const v = gpu.tensor(data.v, [b, lk, h, d], dtype);
  const bias = data.bias ? gpu.tensor(data.bias, [b, lk]) : undefined;
  const out = attention(q, k, v, { keyBias: bias, ...kernel });
  const got = await out.toArray();
  for (const t of [q, k, v, out, ...(bias ? [bias] : [])]) t.dispose();
  const row = h * d;
  const sel = [...new Set(rows.filter((r) => r >= 0 && r < lq))];
  const qs = new Float32Array(b * sel.length * row);
  const gs = new Float32Array(b * sel.length * row);
  for (let bi = 0; bi < b; bi++) {
    sel.forEach((r, j) => {
      const src = (bi * lq + r) * row;
      const dst = (bi * sel.length + j) * row;
      qs.set(data.q.subarray(src, src + row), dst);
      gs.set(got.subarray(src, src + row), dst);
    });
  }
  const expected = attentionVarlenCpu({
    q: round(qs),
    k: round(data.k),
    v: round(data.v),
    heads: h,
    headDim: d,
    qStarts: Array.from({ length: b + 1 }, (_, i) => i * sel.length),
    kStarts: Array.from({ length: b + 1 }, (_, i) => i * lk),
    scale: 1 / Math.sqrt(d),
    keyBias: data.bias,
    outDtype: dtype,
  });
  const diff = maxDiff(gs, expected);
  if (!(diff <= TOL[dtype])) {
    throw new Error(
      `bench attention: ${dtype} ${JSON.stringify(kernel)} B=${b} Lq=${lq} Lk=${lk} H=${h} D=${d} differs from the CPU twin by ${diff} (tol ${TOL[dtype]})`,
    );
  }
  return diff;
}

const bench: BenchFn = async ({ gpu, args }) => {
  const s = parseArgs(args);
  const dtypes: DType[] = gpu.features.f16 ? ['f32', 'f16'] : ['f32'];
  const say = (line: string) => console.error(line);

  // Kernels timed per dtype: f32 the tiled kernel; f16 the tiled kernel and sgmat (every tile with --sweep 1).
  type Kernel = Pick<AttentionOptions, 'variant' | 'sgmatTile'>;
  const kernels = (dtype: DType): Kernel[] => {
    const ks: Kernel[] = [{ variant: 'tiled' }];
    if (sgmatAttentionAvailable(gpu, [dtype], s.dim)) {
      for (const t of s.sweep ? SGMAT_ATTENTION_TILES : [SGMAT_ATTENTION_TILE]) {
        ks.push({ variant: 'sgmat', sgmatTile: t });
      }
    }
    return ks;
  };
  const kname = (kn: Kernel) => (kn.variant === 'sgmat' ? `sgmat${(kn.sgmatTile ?? []).join('x')}` : 'tiled');
  const bad = new Set<string>();
  const errors: Record<string, string> = {};

  // 1. Small awkward sizes, every row checked.
  for (const dtype of dtypes) {
    for (const kn of kernels(dtype)) {
      for (const [lq, lk, withBias] of [
        [37, 45, false],
        [67, 131, true],
      ] as const) {
        const shape = { b: 2, lq, lk, h: 3, d: s.dim };
        const data = makeCase(2, lq, lk, 3, s.dim, withBias, lq + lk);
        const id = `${dtype} ${kname(kn)}`;
        if (bad.has(id)) continue;
        gpu.device.pushErrorScope('validation');
        try {
          const diff = await validate(
            gpu,
            dtype,
            shape,
            data,
            Array.from({ length: lq }, (_, i) => i),
            kn,
          );
          say(`validated ${id} ${lq}x${lk} bias=${withBias}: max |diff| ${diff.toExponential(2)}`);
        } catch (e) {
          bad.add(id);
          errors[id] = (e as Error).message.slice(0, 2000);
        }
        const err = await gpu.device.popErrorScope();
        if (err) {
          bad.add(id);
          errors[id] = err.message.slice(0, 2000);
        }
        if (bad.has(id)) say(`validation FAILED ${id}: ${errors[id].slice(0, 400)}`);
      }
    }
  }

  // 2. The timed cases, validated on sampled rows first.
  const tfl: Record<string, number> = {};
  const ms: Record<string, number> = {};
  const timings: Record<string, Timing> = {};
  const maxDiffs: Record<string, number> = {};
  const { batch: b, heads: h, dim: d } = s;
  for (const [name, lk, withBias] of [
    ['self', s.lq, false],
    ['cross', s.lk, true],
  ] as const) {
    const shape = { b, lq: s.lq, lk, h, d };
    const data = makeCase(b, s.lq, lk, h, d, withBias, 7);
    for (const dtype of dtypes) {
      for (const kn of kernels(dtype)) {
        const id = `${dtype} ${kname(kn)}`;
        if (bad.has(id)) continue;
        // The default kernel keeps the historical key (self_f16); others get the kernel name appended.
        const isDefault =
          kn.variant === (dtype === 'f16' && kernels(dtype).length > 1 ? 'sgmat' : 'tiled') &&
          (kn.variant === 'tiled' || String(kn.sgmatTile) === String(SGMAT_ATTENTION_TILE));
        const key = isDefault ? `${name}_${dtype}` : `${name}_${dtype}_${kname(kn)}`;
        let diff: number;
        try {
          diff = await validate(gpu, dtype, shape, data, [0, 1, 31, 32, Math.floor(s.lq / 2), s.lq - 1], kn);
        } catch (e) {
          errors[`${key}`] = (e as Error).message.slice(0, 2000);
          say(`validation FAILED ${key}: ${errors[key].slice(0, 400)}`);
          continue;
        }
        const q = gpu.tensor(data.q, [b, s.lq, h, d], dtype);
        const k = gpu.tensor(data.k, [b, lk, h, d], dtype);
        const v = gpu.tensor(data.v, [b, lk, h, d], dtype);
        const bias = data.bias ? gpu.tensor(data.bias, [b, lk]) : undefined;
        await gpu.sync();
        const timing = await timeGpu(
          gpu,
          () => {
            attention(q, k, v, { keyBias: bias, ...kn }).dispose();
          },
          { iterations: s.iters, warmupMs: s.warmupMs },
        );
        for (const t of [q, k, v, ...(bias ? [bias] : [])]) t.dispose();
        const flop = 4 * b * h * s.lq * lk * d;
        tfl[key] = tflops(flop, timing.medianMs);
        ms[key] = timing.medianMs;
        timings[key] = timing;
        maxDiffs[key] = diff;
        say(
          `${key}: B=${b} H=${h} D=${d} ${s.lq}x${lk}: ${timing.medianMs.toFixed(3)} ms (${timing.source}), ` +
            `${tfl[key].toFixed(4)} TFLOP/s; sampled rows max |diff| ${diff.toExponential(2)}`,
        );
      }
    }
  }
  if (Object.keys(errors).length) process.exitCode = 1;
  return { sizes: s, tflops: tfl, ms, timings, maxDiffs, errors };
};

export default bench;
