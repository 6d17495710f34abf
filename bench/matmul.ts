/**
 * Matmul benchmark: `npm run bench -- matmul [--size 4096] [--m M --n N --k K] [--iters 20] [--warmup-ms 1000]`.
 *
 * For each dtype (f32: f32 in/out; f16: f16 in, f32 accumulation, f16 out) and each kernel rung available on the
 * adapter, it first validates the rung on a small awkward shape (not a multiple of any tile, with bias and GELU)
 * against the f64 CPU twin, inside a validation error scope so a shader that fails to compile is reported rather
 * than timed, and only then times C = A @ B at the requested size with `timeGpu` (>= 1 s warm-up, median of GPU
 * timestamps). f32 skips `tiled_f16` (with f32 operands it keeps f32 tiles, i.e. the `tiled` kernel) and times
 * every other rung, `tiled_reg` included (its vec4-load kernels run at the timed sizes; the 260x388x200
 * validation shape takes them too, the odd ones its scalar-load kernels).
 * `--sweep` times every sgmat tile (SGMAT_TILES) and the scalar-load sgmat kernel; f16 rungs are timed with b
 * [K, N] ('nn') and b [N, K] ('nt', transB: the Linear-weight layout). TFLOP/s = 2 M N K / time. Returns `{ tflops: { f32, f16 }, variants: [...] }` with the best rung per dtype.
 */

import {
  type MatmulVariant,
  matmul,
  matmulVariants,
  SGMAT_DEFAULT_TILE,
  SGMAT_TILES,
} from '../src/ops/matmul/matmul.ts';
import type { DType } from '../src/runtime/dtype.ts';
import type { GpuContext } from '../src/runtime/gpu.ts';
import { Tensor } from '../src/runtime/tensor.ts';
import { type BenchFn, TIME_DEFAULTS, tflops, timeGpu } from './harness.ts';

/**
 * Validation shapes: odd sizes so every edge path of every rung runs (128-wide sgmat tiles included); one below
 * and one above 256 so both register-blocking configurations of the tiled rungs (4x4 and 8x8, picked by size on
 * GPUs) are checked, whichever the timed size uses.
 */
const VALIDATE = [
  { M: 197, N: 133, K: 71 },
  { M: 261, N: 283, K: 45 },
  // Multiples of 4 but of no tile: the sgmat vec4 fast path runs here (its edge paths included).
  { M: 260, N: 388, K: 200 },
];
/**
 * Relative L2 error limits against the f64 twin. f32 out: f32 accumulation of K <= 71 terms gives ~1e-7; 1e-5
 * leaves margin while any indexing bug gives O(1). f16 out: one rounding to f16 is 2^-11 relative at most
 * (~2.4e-4 RMS), so 2e-3.
 */
const MAX_REL_ERR: Record<DType, number> = { f32: 1e-5, f16: 2e-3 };

export interface VariantResult {
  variant: MatmulVariant;
  /** sgmat: the fast-path tile (or 'scalar'); '-' for the other rungs. */
  tile: string;
  /** Timed layout: 'nn' (b [K, N]) or 'nt' (b [N, K], a Linear weight). */
  layout: 'nn' | 'nt';
  dtype: DType;
  valid: boolean;
  relErr: number;
  error?: string;
  ms?: number;
  tflops?: number;
  source?: 'timestamp' | 'wall';
}

function argNum(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`bench matmul: --${name} needs a positive number`);
  return v;
}

function randomValues(n: number, seed: number): Float32Array {
  // xorshift32: fast enough for 16M values, uniform in [-1, 1).
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (s >>> 0) / 2147483648 - 1;
  }
  return out;
}

function relL2(got: Float32Array, want: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    const d = got[i] - want[i];
    num += d * d;
    den += want[i] * want[i];
  }
  return Number.isFinite(num) ? Math.sqrt(num / Math.max(den, 1e-30)) : Number.POSITIVE_INFINITY;
}

async function validate(
  gpu: GpuContext,
  variant: MatmulVariant,
  dtype: DType,
  sgmatTile?: string,
): Promise<{ relErr: number; error?: string }> {
  let relErr = 0;
  for (const [{ M, N, K }, transB, transA] of VALIDATE.flatMap((s) => [
    [s, false, false],
    [s, true, false],
    [s, false, true],
    [s, true, true],
  ]) as [{ M: number; N: number; K: number }, boolean, boolean][]) {
    const av = randomValues(M * K, 11);
    const bv = randomValues(N * K, 12);
    const biasV = randomValues(N, 13);
    const bShape = transB ? [N, K] : [K, N];
    const aShape = transA ? [K, M] : [M, K];
    const opts = { transA, transB, activation: 'gelu_tanh' as const, dtype };
    const want = matmul(Tensor.fromArray(av, aShape, { dtype }), Tensor.fromArray(bv, bShape, { dtype }), {
      ...opts,
      bias: Tensor.fromArray(biasV, [N]),
    }).data;
    gpu.device.pushErrorScope('validation');
    let got: Float32Array;
    try {
      const c = matmul(gpu.tensor(av, aShape, dtype), gpu.tensor(bv, bShape, dtype), {
        ...opts,
        bias: gpu.tensor(biasV, [N]),
        variant,
        sgmatTile,
      });
      got = await c.toArray();
      c.dispose();
    } catch (e) {
      await gpu.device.popErrorScope();
      return { relErr: Number.POSITIVE_INFINITY, error: (e as Error).message };
    }
    const err = await gpu.device.popErrorScope();
    if (err) return { relErr: Number.POSITIVE_INFINITY, error: err.message };
    relErr = Math.max(relErr, relL2(got, want));
  }
  return { relErr };
}

const bench: BenchFn = async ({ gpu, args, json }) => {
  const size = argNum(args, 'size', 4096);
  const M = argNum(args, 'm', size);
  const N = argNum(args, 'n', size);
  const K = argNum(args, 'k', size);
  const iterations = argNum(args, 'iters', TIME_DEFAULTS.iterations);
  const warmupMs = argNum(args, 'warmup-ms', TIME_DEFAULTS.warmupMs);
  const sweep = args.includes('--sweep');
  // With --json stdout carries only the JSON document, so the table goes to stderr.
  const log = (s: string) => (json ? console.error(s) : console.log(s));
  const shapes = VALIDATE.map((v) => `${v.M}x${v.N}x${v.K}`).join(', ');
  log(`# matmul M=${M} N=${N} K=${K}; validated first on ${shapes} (b and b^T) vs the f64 CPU twin`);
  const results: VariantResult[] = [];
  for (const dtype of ['f32', 'f16'] as const) {
    if (dtype === 'f16' && !gpu.features.f16) {
      log('# f16: adapter has no shader-f16, skipped');
      continue;
    }
    const variants = matmulVariants(gpu, dtype, dtype).filter((v) => dtype === 'f16' || v !== 'tiled_f16');
    const av = randomValues(M * K, 1);
    const bv = randomValues(K * N, 2);
    const a = gpu.tensor(av, [M, K], dtype);
    const b = gpu.tensor(bv, [K, N], dtype);
    // The same values as b^T's storage: [N, K] for the Linear-weight layout.
    const bt = gpu.tensor(bv, [N, K], dtype);
    // --sweep: every sgmat tile (and the scalar-load kernel); otherwise the default tile only.
    const jobs = variants.flatMap((variant): { variant: MatmulVariant; tile: string }[] =>
      variant !== 'sgmat'
        ? [{ variant, tile: '-' }]
        : (sweep ? [...SGMAT_TILES, 'scalar'] : [SGMAT_DEFAULT_TILE]).map((tile) => ({ variant, tile })),
    );
    for (const { variant, tile } of jobs) {
      const sgmatTile = tile === '-' ? undefined : tile;
      const v = await validate(gpu, variant, dtype, sgmatTile);
      const valid = !v.error && v.relErr <= MAX_REL_ERR[dtype];
      for (const layout of ['nn', 'nt'] as const) {
        const r: VariantResult = {
          variant,
          tile,
          layout,
          dtype,
          valid,
          relErr: v.relErr,
          ...(v.error ? { error: v.error.slice(0, 2000) } : {}),
        };
        results.push(r);
        if (!valid) {
          log(
            `# ${dtype} ${variant} ${tile}: validation FAILED (rel err ${v.relErr}${v.error ? `, ${v.error.slice(0, 400)}` : ''}); not timed`,
          );
          break;
        }
        // 'nt' (transB) for the f16 rungs (the Linear layout the models run) and for tiled_reg in f32 too (its
        // transposes are separate pipelines, so both layouts are worth a number).
        if (layout === 'nt' && dtype !== 'f16' && variant !== 'tiled_reg') break;
        const t = await timeGpu(
          gpu,
          () => {
            matmul(a, layout === 'nt' ? bt : b, { variant, sgmatTile, transB: layout === 'nt' }).dispose();
          },
          { iterations, warmupMs },
        );
        r.ms = t.medianMs;
        r.tflops = tflops(2 * M * N * K, t.medianMs);
        r.source = t.source;
        log(
          `# ${dtype} ${variant} ${tile} ${layout}: ${r.ms.toFixed(3)} ms, ${r.tflops.toFixed(2)} TFLOP/s, rel err ${v.relErr.toExponential(1)}`,
        );
      }
    }
    bt.dispose();
    a.dispose();
    b.dispose();
  }
  const best: Record<string, number | null> = { f32: null, f16: null };
  for (const r of results) {
    if (r.tflops !== undefined) best[r.dtype] = Math.max(best[r.dtype] ?? 0, r.tflops);
  }
  const rows = [
    ['dtype', 'variant', 'tile', 'layout', 'valid', 'rel err', 'ms', 'TFLOP/s', 'timer'],
    ...results.map((r) => [
      r.dtype,
      r.variant,
      r.tile,
      r.layout,
      r.valid ? 'yes' : 'NO',
      r.relErr.toExponential(1),
      r.ms !== undefined ? r.ms.toFixed(3) : '-',
      r.tflops !== undefined ? r.tflops.toFixed(r.tflops < 1 ? 4 : 2) : '-',
      r.source ?? '-',
    ]),
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  for (const row of rows) log(row.map((cell, c) => cell.padEnd(widths[c])).join('  '));
  return { size: { M, N, K }, tflops: best, variants: results };
};

export default bench;
