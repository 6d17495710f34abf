/**
 * Batched matrix multiply with a fused epilogue: `act(alpha * op(a) @ op(b) + bias)`, and the kernel ladder.
 *
 * Ladder (chosen from `gpu.features`, or forced with `variant`):
 * 1. `tiled` (matmul.tiled.wgsl): f32 workgroup tiles, register blocking (4x4 or 8x8 per thread). Runs everywhere.
 *    `tiled_vec` (matmul.tiled_vec.wgsl): the same with vec4 blocking, register prefetch and unrolled named
 *    accumulators (forced only until it is timed on a GPU, see below).
 *    `tiled_reg` (matmul.tiled_reg.wgsl + tiled_reg.ts): what `auto` picks on GPUs (non-CPU adapters) for f32 and
 *    for f16 operands without sgmat. 128x128x16 workgroup tile, 256 threads, 8x8 outputs per thread (4x4 / 64x64
 *    on CPU adapters and for outputs under 256 x 256), f32 tiles, register prefetch of the next k tile, all
 *    per-thread state as named scalars generated in TypeScript, transposes as template constants and vec4
 *    global loads per dispatch wherever offsets, strides and extents are multiples of 4 (the same test as sgmat's
 *    vec4 path). Modelled on the device probe's 41 TFLOP/s f32 kernel; lavapipe-validated, NOT yet timed on a GPU.
 *    CPU adapters keep `tiled` / `tiled_f16` under `auto` (one pipeline per dtype set: shorter LLVM compiles).
: the same blocking with f16 workgroup tiles for f16 operands (half the
 *    shared memory and bandwidth, so a deeper k tile), f32 accumulation. Needs shader-f16.
 * 3. `sgmat`: Dawn subgroup matrices (16x16x16, f16 in, f32 accumulate). Per dispatch, the vec4 fast path
 *    (matmul.sgmat_vec.wgsl, tile `SGMAT_DEFAULT_TILE`: 128x128x32, 4 subgroups of 64x64) wherever every
 *    stride, offset and vector extent is a multiple of 4, else matmul.sgmat.wgsl (scalar loads, 128x128x32, 8
 *    subgroups of 32x64). Needs f16 a and b and an adapter listing an f16->f32 16x16x16 configuration with a
 *    fixed subgroup size.
 * Every kernel bounds-checks its loads and stores, so M, N and K need not be multiples of any tile.
 *
 * Storage-binding limit: the work is split into (batch, M, N, K) chunks so that every binding stays under
 * `gpu.maxBinding`: batches first, then rows of a/out, then rows of b (N when transB) or K. A K split accumulates
 * partial sums in an f32 scratch buffer and runs the epilogue on the last chunk, so the output is still rounded once.
 * Bindings are windows starting at an aligned byte offset; the remainder goes to the kernel as an element offset.
 *
 * Notes / alternatives: the CPU twin accumulates in f64 (see matmul.cpu.ts). Broadcast batch dims that are not
 * "all or nothing" per operand (e.g. a [2, 1, M, K] with b [1, 3, K, N]) run one dispatch per batch item; the
 * common cases (same batch, or a 2-D weight shared by all batches) run all batches in one dispatch.
 * - Transposes and the activation were template constants at first; every combination was then its own pipeline
 *   and lavapipe (LLVM) spends 1-35 s compiling each, so the test file took 7 min on the loaded 2-core box. As
 *   uniforms (uniform branches, a few instructions per element) it takes ~80 s cold / ~13 s with Mesa's shader
 *   cache warm on the same box.
 * - lavapipe, 256^3 (`npm run bench -- matmul --size 256`): tiled f32 88-120 ms (0.0003-0.0004 TFLOP/s), f16 in
 *   tiled 57-90 ms, tiled_f16 64-74 ms; the box was shared with other jobs, so these only show that it runs.
 * - sgmat fast path (matmul.sgmat_vec.wgsl) vs the first sgmat kernel (matmul.sgmat.wgsl, now the fallback for
 *   shapes whose strides/extents are not multiples of 4): vec4<f16> global loads of whole contiguous rows, tiles
 *   staged in the operand's own layout (transposes = col_major loads), register prefetch of the next k tile,
 *   transposes as template constants. H100 80GB HBM3, Dawn (npm webgpu 0.6.2), robustness off, 4096^3 f16 in,
 *   f32 accumulate, f16 out, median of 20 GPU timestamps after 1 s warm-up (device call 2026-11-27 13:3x UTC,
 *   `npm run bench -- matmul --sweep`); every row validated first vs the f64 twin (rel err 1.6e-5, f16 output
 *   rounding) on 197x133x71, 261x283x45 and 260x388x200 with all four transpose combinations:
 *
 *   | kernel / tile (BMxBNxBK / subgroup WMxWN) | nn TFLOP/s | nt (transB) TFLOP/s |
 *   |---|---|---|
 *   | sgmat scalar loads (old default)           |  19.1 |  18.8 |
 *   | vec 128x128x32 / 32x64 (8 subgroups)        | 108.9 |  85.5 |
 *   | **vec 128x128x32 / 64x64 (4 subgroups)**    | **147.4** | **146.6** |  <- default
 *   | vec 128x256x32 / 64x64                      |  52.3 | 139.0 |
 *   | vec 256x128x32 / 64x64                      | 135.7 | 141.2 |
 *   | vec 128x128x64 / 32x64                      | 139.5 | 141.7 |
 *   | vec 64x128x32 / 32x64                       |  29.0 | 102.5 |
 *   | vec 128x128x32 / 64x32                      | 111.3 |  86.7 |
 *
 *   Robustness on (as browsers): vec 128x128x32/32x64 65.9 nn / 56.1 nt (the 64x64 default was not timed robust).
 *   The big drops of 128x256 and 64x128 in nn only (b [K, N] staged [k][n] with a 264- / 136-half row stride)
 *   look like workgroup-memory bank conflicts in the scalar f16 stores of the b tile; not investigated.
 *   Goal (issue): >= 175 TFLOP/s; torch fp16 on the same card 576-713.
 * - Tiled rungs on the H100 (same call): tiled f32 69.6 ms = 1.98 TFLOP/s, tiled f16-in 1.95, tiled_f16 1.95, and
 *   a first tiled_vec (vec4 register blocking, padded k-major tiles, register prefetch, but accumulators and
 *   prefetch registers in loop-indexed function-scope arrays) 1.92 f32 / 1.92 f16. All four land on ~70 ms
 *   whatever their blocking, so the cost is something they share and the sgmat kernels do not; the suspect is
 *   those arrays living in local memory on NVIDIA's compiler. tiled_vec has since been rewritten with named
 *   accumulators / registers generated in TypeScript (tiledVecBlocks), validated on lavapipe but NOT yet timed on
 *   the device; `auto` still picks tiled / tiled_f16 until it is. The probe's tiled f32 kernel reached 41 TFLOP/s
 *   on this card.
 *
 * @example
 * const y = matmul(x, w, { transB: true, bias, activation: 'gelu_tanh' }); // x [B, L, in], w [out, in]
 */

import type { DType } from '../../runtime/dtype.ts';
import { bytesPerElement } from '../../runtime/dtype.ts';
import type { GpuContext, SubgroupMatrixConfig } from '../../runtime/gpu.ts';
import {
  broadcastShapes,
  broadcastStrides,
  contiguousStrides,
  numel,
  type Shape,
  ShapeError,
  shapeStr,
} from '../../runtime/shape.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { enablesFor, specialize, templateKey } from '../../runtime/wgsl.ts';
import { WGSL } from '../wgsl.generated.ts';
import { type MatmulActivation, matmulCpu } from './matmul.cpu.ts';
import { tiledRegShader } from './tiled_reg.ts';

export type { MatmulActivation } from './matmul.cpu.ts';

/** A rung of the kernel ladder. */
export type MatmulVariant = 'tiled' | 'tiled_vec' | 'tiled_f16' | 'tiled_reg' | 'sgmat';

/** All rungs, slowest first. */
export const MATMUL_VARIANTS: readonly MatmulVariant[] = [
  'tiled',
  'tiled_vec',
  'tiled_f16',
  'tiled_reg',
  'sgmat',
];

export interface MatmulOptions {
  /** a is [..., K, M] (use its transpose). */
  transA?: boolean;
  /** b is [..., N, K] (use its transpose), e.g. a PyTorch Linear weight [out, in]. */
  transB?: boolean;
  /** [N], added after scaling by alpha. */
  bias?: Tensor | null;
  /** Scales a @ b (before the bias). */
  alpha?: number;
  /** Applied after the bias. */
  activation?: MatmulActivation;
  /** Output dtype; defaults to the dtype of a. */
  dtype?: DType;
  /** Force a kernel rung (tests, benchmarks); 'auto' picks the fastest available. */
  variant?: MatmulVariant | 'auto';
  /**
   * sgmat rung only (benchmarks): the tile of the vec4 fast path, e.g. '128x128x32/32x64' (workgroup BMxBNxBK /
   * subgroup block WMxWN), or 'scalar' to force the scalar-load kernel. Default `SGMAT_DEFAULT_TILE`.
   */
  sgmatTile?: string;
  /**
   * tiled_reg rung only (tests): force the 8x8-per-thread (128x128) configuration, which GPUs use for outputs of
   * at least 256 x 256 and CPU adapters never pick on their own (compile time).
   */
  tiledRegBig?: boolean;
}

/**
 * Tiles of the sgmat vec4 fast path (matmul.sgmat_vec.wgsl): 'BMxBNxBK/WMxWN'. BM x BN per workgroup, BK deep,
 * one subgroup per WM x WN block. The benchmark's `--sweep` times all of them.
 */
export const SGMAT_TILES: readonly string[] = [
  '128x128x32/32x64',
  '128x128x32/64x64',
  '128x256x32/64x64',
  '256x128x32/64x64',
  '128x128x64/32x64',
  '64x128x32/32x64',
  '128x128x32/64x32',
];

/** The sgmat fast-path tile used unless `sgmatTile` says otherwise (see the notes block for the measured sweep). */
export const SGMAT_DEFAULT_TILE = '128x128x32/64x64';

interface SgmatTile {
  BM: number;
  BN: number;
  BK: number;
  WM: number;
  WN: number;
}

function parseSgmatTile(name: string): SgmatTile {
  const m = /^(\d+)x(\d+)x(\d+)\/(\d+)x(\d+)$/.exec(name);
  if (!m) throw new Error(`${OP}: bad sgmat tile '${name}' (expected BMxBNxBK/WMxWN)`);
  const [BM, BN, BK, WM, WN] = m.slice(1).map(Number);
  if (BM % WM || BN % WN || WM % 16 || WN % 16 || BK % 16) {
    throw new Error(`${OP}: sgmat tile '${name}': WM, WN, BK must be multiples of 16 dividing BM, BN`);
  }
  return { BM, BN, BK, WM, WN };
}

export const MATMUL_DEFAULTS = {
  transA: false,
  transB: false,
  alpha: 1,
  activation: 'none' as MatmulActivation,
  variant: 'auto' as MatmulVariant | 'auto',
  sgmatTile: '' as string,
  tiledRegBig: false,
};

function sgmatTileOf(o: typeof MATMUL_DEFAULTS): string {
  return o.sgmatTile || SGMAT_DEFAULT_TILE;
}

const OP = 'matmul';
const UNIFORM_WORDS = 24;
const SUBGROUP_MATRIX_ENABLE = 'chromium_experimental_subgroup_matrix';
const SGMAT_DIAGNOSTIC = 'diagnostic(off, chromium.subgroup_matrix_uniformity);';
/** The one subgroup-matrix shape the sgmat kernel is written for. */
const SGMAT_DIM = 16;
/** The sgmat kernel runs 8 subgroups per workgroup and loads its 128x32 + 32x128 tiles in equal shares. */
const SGMAT_SUBGROUPS = 8;
const SGMAT_TILE_ELEMS = 128 * 32;

/** Activation codes of matmul.common.wgsl's `activate`. */
const ACT_CODES: Record<MatmulActivation, number> = { none: 0, gelu_tanh: 1, gelu_erf: 2, silu: 3 };

/** The f16 -> f32 subgroup-matrix configuration the sgmat kernel uses, or null when the adapter lacks it. */
export function sgmatConfig(gpu: GpuContext): SubgroupMatrixConfig | null {
  // Subgroup matrices need shader-f16 for f16 components and the subgroups feature (the workgroup size must be a
  // multiple of the subgroup size, which only that feature reports).
  if (!gpu.features.f16 || !gpu.features.subgroups) return null;
  const info = gpu.adapterInfo as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const sg = info.subgroupMinSize;
  if (!sg || sg !== info.subgroupMaxSize || SGMAT_TILE_ELEMS % (sg * SGMAT_SUBGROUPS) !== 0) return null;
  return (
    gpu.features.subgroupMatrix.find(
      (c) =>
        c.componentType === 'f16' &&
        c.resultComponentType === 'f32' &&
        c.M === SGMAT_DIM &&
        c.N === SGMAT_DIM &&
        c.K === SGMAT_DIM,
    ) ?? null
  );
}

/** Rungs usable on `gpu` for inputs of these dtypes, slowest first. */
export function matmulVariants(gpu: GpuContext, aDtype: DType, bDtype: DType): MatmulVariant[] {
  const out: MatmulVariant[] = ['tiled', 'tiled_vec'];
  if (gpu.features.f16) out.push('tiled_f16');
  out.push('tiled_reg');
  if (aDtype === 'f16' && bDtype === 'f16' && sgmatConfig(gpu)) out.push('sgmat');
  return out;
}

interface Geometry {
  batchShape: number[];
  M: number;
  N: number;
  K: number;
  outShape: number[];
}

function geometry(a: Tensor, b: Tensor, transA: boolean, transB: boolean, bias: Tensor | null): Geometry {
  const desc = () =>
    `a ${shapeStr(a.shape)}${transA ? ' (transA)' : ''}, b ${shapeStr(b.shape)}${transB ? ' (transB)' : ''}`;
  if (a.rank < 2 || b.rank < 2) throw new ShapeError(OP, `operands need rank >= 2: ${desc()}`);
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const M = transA ? ac : ar;
  const K = transA ? ar : ac;
  const Kb = transB ? bc : br;
  const N = transB ? br : bc;
  if (K !== Kb) throw new ShapeError(OP, `inner dimensions differ (${K} vs ${Kb}): ${desc()}`);
  let batchShape: number[];
  try {
    batchShape = broadcastShapes(OP, a.shape.slice(0, -2), b.shape.slice(0, -2));
  } catch {
    throw new ShapeError(OP, `batch dimensions do not broadcast: ${desc()}`);
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== N)) {
    throw new ShapeError(OP, `bias ${shapeStr(bias.shape)} must be [${N}]: ${desc()}`);
  }
  return { batchShape, M, N, K, outShape: [...batchShape, M, N] };
}

/**
 * `act(alpha * op(a) @ op(b) + bias)` over broadcast batch dims; f32 accumulation, one rounding to the output dtype.
 *
 * @example
 * const c = matmul(a, b);                                 // a [B, M, K], b [K, N] -> [B, M, N]
 * const y = matmul(x, w, { transB: true, bias, activation: 'silu', dtype: 'f16' });
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  // Field by field, so an explicit `undefined` in options keeps the default.
  const o: typeof MATMUL_DEFAULTS = {
    transA: options.transA ?? MATMUL_DEFAULTS.transA,
    transB: options.transB ?? MATMUL_DEFAULTS.transB,
    alpha: options.alpha ?? MATMUL_DEFAULTS.alpha,
    activation: options.activation ?? MATMUL_DEFAULTS.activation,
    variant: options.variant ?? MATMUL_DEFAULTS.variant,
    sgmatTile: options.sgmatTile ?? MATMUL_DEFAULTS.sgmatTile,
    tiledRegBig: options.tiledRegBig ?? MATMUL_DEFAULTS.tiledRegBig,
  };
  const bias = options.bias ?? null;
  const devices = new Set([a.device, b.device, ...(bias ? [bias.device] : [])]);
  if (devices.size > 1 || (bias && bias.gpu !== a.gpu) || a.gpu !== b.gpu) {
    throw new ShapeError(
      OP,
      `operands are on different devices: a ${shapeStr(a.shape)} ${a.device}, b ${shapeStr(b.shape)} ${b.device}`,
    );
  }
  const g = geometry(a, b, o.transA, o.transB, bias);
  const dtype = options.dtype ?? a.dtype;
  if (!a.gpu) {
    const data = matmulCpu({
      a: a.data,
      aShape: a.shape,
      b: b.data,
      bShape: b.shape,
      batchShape: g.batchShape,
      M: g.M,
      N: g.N,
      K: g.K,
      transA: o.transA,
      transB: o.transB,
      alpha: o.alpha,
      bias: bias ? bias.data : null,
      activation: o.activation,
      outDtype: dtype,
    });
    return Tensor.fromArray(data, g.outShape, { dtype });
  }
  return matmulGpu(a, b, bias, g, o, dtype);
}

interface Kernel {
  pipeline: GPUComputePipeline;
  BM: number;
  BN: number;
}

function pickVariant(gpu: GpuContext, a: Tensor, b: Tensor, want: MatmulVariant | 'auto'): MatmulVariant {
  const avail = matmulVariants(gpu, a.dtype, b.dtype);
  if (want === 'auto') {
    if (avail.includes('sgmat')) return 'sgmat';
    // GPUs: the register-blocked rung (f16 operands are widened to f32 tiles). CPU adapters keep the older rungs,
    // whose single pipeline per dtype set (transposes as uniforms) keeps LLVM compile time down.
    if (!isCpuAdapter(gpu)) return 'tiled_reg';
    if ((a.dtype === 'f16' || b.dtype === 'f16') && avail.includes('tiled_f16')) return 'tiled_f16';
    return 'tiled';
  }
  if (!avail.includes(want)) {
    throw new Error(
      `${OP}: variant '${want}' is not available for a ${a.dtype} ${shapeStr(a.shape)}, b ${b.dtype} ${shapeStr(b.shape)} on this adapter (available: ${avail.join(', ')})`,
    );
  }
  return want;
}

/** Element types a matmul kernel is specialised for. */
export interface MatmulTypes {
  a: DType;
  b: DType;
  out: DType;
  bias: DType;
}

/** A specialised kernel: WGSL source, its pipeline-cache key and its output tile. */
export interface MatmulShader {
  key: string;
  code: string;
  BM: number;
  BN: number;
}

/**
 * The WGSL of one rung, specialised (exported so tests can check that every template placeholder is filled,
 * including for rungs the local adapter cannot compile).
 * `big` selects 8x8 register blocking (128x128 tiles) for the tiled rungs; `subgroupSize` is the fixed subgroup
 * size the sgmat rung is laid out for.
 *
 * @example
 * const { code } = matmulShader('sgmat', { a: 'f16', b: 'f16', out: 'f32', bias: 'f32' }, { big: true, subgroupSize: 32 });
 */
export function matmulShader(
  variant: MatmulVariant,
  t: MatmulTypes,
  tile: { big: boolean; subgroupSize: number },
): MatmulShader {
  const common = { TA: t.a, TB: t.b, TO: t.out, TBIAS: t.bias };
  const enables = enablesFor(t.a, t.b, t.out, t.bias);
  const source = (file: string) => `${WGSL['ops/matmul/matmul.common']}\n${WGSL[`ops/matmul/${file}`]}`;
  if (variant === 'sgmat') {
    const vars = { ...common, SG: tile.subgroupSize };
    // Tint checks that subgroup-matrix offsets are *workgroup* uniform (it has no subgroup uniformity), and
    // ours depend on the subgroup index, which is uniform only per subgroup: the check is switched off, as ONNX
    // Runtime and llama.cpp do. The directive must sit with the enables, before any declaration.
    const head = specialize('', {}, ['f16', SUBGROUP_MATRIX_ENABLE, ...enables]).trimEnd();
    const code = `${head}\n${SGMAT_DIAGNOSTIC}\n${specialize(source('matmul.sgmat'), vars)}`;
    return { key: templateKey('matmul.sgmat', vars), code, BM: 128, BN: 128 };
  }
  if (variant === 'tiled_reg') {
    return tiledRegShader(t, { transA: false, transB: false, vec: false, big: tile.big });
  }
  const TM = tile.big ? 8 : 4;
  if (variant === 'tiled_vec') {
    const vars = { ...common, TM, BK: 16 };
    const code = specialize(source('matmul.tiled_vec'), { ...vars, ...tiledVecBlocks(TM, 16) }, enables);
    return { key: templateKey('matmul.tiled_vec', vars), code, BM: 16 * TM, BN: 16 * TM };
  }
  const f16Tiles = variant === 'tiled_f16';
  const vars = {
    ...common,
    TM,
    TN: TM,
    BK: f16Tiles && tile.big ? 32 : 16,
    ...(f16Tiles ? { TSA: t.a, TSB: t.b } : {}),
  };
  const file = f16Tiles ? 'matmul.tiled_f16' : 'matmul.tiled';
  const code = specialize(source(file), vars, [...enables, ...(f16Tiles ? ['f16'] : [])]);
  return { key: templateKey(file, vars), code, BM: 16 * TM, BN: 16 * TM };
}

/** Unrolled blocks of matmul.tiled_vec.wgsl: named accumulators / prefetch registers instead of arrays. */
function tiledVecBlocks(TM: number, BK: number): Record<string, string> {
  const RG = TM / 4;
  const loads = (16 * TM * BK) / 256;
  const decl: string[] = [];
  const pre0: string[] = [];
  const stage: string[] = [];
  const pre: string[] = [];
  const fma: string[] = [];
  const emit: string[] = [];
  for (let i = 0; i < TM; i++) {
    for (let j = 0; j < RG; j++) decl.push(`  var c${i}_${j} = vec4<f32>(0.0);`);
  }
  for (let i = 0; i < loads; i++) {
    const e = `li + ${256 * i}u`;
    decl.push(`  var pa${i}: f32;`, `  var pb${i}: f32;`);
    const ld = (k: string, ind: string) => [
      `${ind}pa${i} = f32(load_a(batch, m0 + a_row(${e}), ${k}a_col(${e})));`,
      `${ind}pb${i} = f32(load_b(batch, ${k}b_k(${e}), n0 + b_n(${e})));`,
    ];
    pre0.push(...ld('', '  '));
    pre.push(...ld('kn + ', '      '));
    stage.push(`    stage(${e}, pa${i}, pb${i});`);
  }
  for (let g = 0; g < RG; g++) {
    fma.push(
      `      let a${g} = As[k * LD4 + ${16 * g}u + ty];`,
      `      let b${g} = Bs[k * LD4 + ${16 * g}u + tx];`,
    );
  }
  const comp = ['x', 'y', 'z', 'w'];
  for (let g = 0; g < RG; g++) {
    for (let ii = 0; ii < 4; ii++) {
      const i = 4 * g + ii;
      for (let j = 0; j < RG; j++) {
        fma.push(`      c${i}_${j} = fma(vec4<f32>(a${g}.${comp[ii]}), b${j}, c${i}_${j});`);
        emit.push(`  emit4(batch, m0 + ${64 * g + ii}u + ty * 4u, n0 + ${64 * j}u + tx * 4u, c${i}_${j});`);
      }
    }
  }
  return {
    DECL: decl.join('\n'),
    PREFETCH0: pre0.join('\n'),
    STAGE: stage.join('\n'),
    PREFETCH: pre.join('\n'),
    FMA: fma.join('\n'),
    EMIT: emit.join('\n'),
  };
}

/**
 * The WGSL of the sgmat vec4 fast path for one tile and transpose combination (exported so tests can check the
 * specialisation, which lavapipe cannot compile). Operands are bound as vec4<f16> arrays.
 *
 * @example
 * const { code } = sgmatVecShader({ a: 'f16', b: 'f16', out: 'f16', bias: 'f32' }, '128x128x32/32x64', false, true, 32);
 */
export function sgmatVecShader(
  t: MatmulTypes,
  tileName: string,
  transA: boolean,
  transB: boolean,
  subgroupSize: number,
): MatmulShader {
  const { BM, BN, BK, WM, WN } = parseSgmatTile(tileName);
  const FM = WM / 16;
  const FN = WN / 16;
  const NSG = (BM / WM) * (BN / WN);
  const WG = NSG * subgroupSize;
  const aRows = transA ? BK : BM;
  const aCols = transA ? BM : BK;
  const bRows = transB ? BN : BK;
  const bCols = transB ? BK : BN;
  if (((aRows * aCols) / 4) % WG || ((bRows * bCols) / 4) % WG) {
    throw new Error(`${OP}: sgmat tile '${tileName}': the tiles do not split evenly over ${WG} threads`);
  }
  const acc: string[] = [];
  const mma: string[] = [];
  const emit: string[] = [];
  // Subgroup-matrix values are kept out of user functions (the extension is experimental): loads are inlined.
  // Staged tiles keep the operand's own layout; a transposed operand is read column-major.
  const L = 'subgroup_matrix_left<f16, 16, 16>';
  const R = 'subgroup_matrix_right<f16, 16, 16>';
  for (let i = 0; i < FM; i++) {
    const r = `sm + ${16 * i}u`;
    mma.push(
      transA
        ? `      let l${i} = subgroupMatrixLoad<${L}>(&As, ks * LDS_A + ${r}, true, LDS_A);`
        : `      let l${i} = subgroupMatrixLoad<${L}>(&As, (${r}) * LDS_A + ks, false, LDS_A);`,
    );
  }
  for (let j = 0; j < FN; j++) {
    const c = `sn + ${16 * j}u`;
    mma.push(
      transB
        ? `      let r${j} = subgroupMatrixLoad<${R}>(&Bs, (${c}) * LDS_B + ks, true, LDS_B);`
        : `      let r${j} = subgroupMatrixLoad<${R}>(&Bs, ks * LDS_B + ${c}, false, LDS_B);`,
    );
  }
  for (let i = 0; i < FM; i++) {
    for (let j = 0; j < FN; j++) {
      acc.push(`  var c${i}_${j} = subgroup_matrix_result<f32, 16, 16>();`);
      mma.push(`      c${i}_${j} = subgroupMatrixMultiplyAccumulate(l${i}, r${j}, c${i}_${j});`);
      emit.push(
        '  workgroupBarrier();',
        `  subgroupMatrixStore(&Cs, cs, c${i}_${j}, false, 16u);`,
        '  workgroupBarrier();',
        `  emit_block(s, lane, batch, m0 + sm + ${16 * i}u, n0 + sn + ${16 * j}u);`,
      );
    }
  }
  const vars = {
    TA: 'vec4<f16>',
    TB: 'vec4<f16>',
    TO: t.out,
    TBIAS: t.bias,
    BM,
    BN,
    BK,
    SG: subgroupSize,
    NSG,
    SGN: BN / WN,
    WM,
    WN,
    A_ROWS: aRows,
    A_COLS: aCols,
    B_ROWS: bRows,
    B_COLS: bCols,
    TRANS_A: transA,
    TRANS_B: transB,
  };
  const head = specialize('', {}, ['f16', SUBGROUP_MATRIX_ENABLE, ...enablesFor(t.out, t.bias)]).trimEnd();
  const source = `${WGSL['ops/matmul/matmul.common']}\n${WGSL['ops/matmul/matmul.sgmat_vec']}`;
  const code = `${head}\n${SGMAT_DIAGNOSTIC}\n${specialize(source, {
    ...vars,
    ACC_DECL: acc.join('\n'),
    MMA: mma.join('\n'),
    EMIT: emit.join('\n'),
  })}`;
  return { key: templateKey('matmul.sgmat_vec', vars), code, BM, BN };
}

/** 8x8 per thread (128x128 tiles) on GPUs once the output has enough tiles (see kernelFor). */
function bigTiles(gpu: GpuContext, g: Geometry): boolean {
  return g.M >= 256 && g.N >= 256 && !isCpuAdapter(gpu);
}

function kernelFor(gpu: GpuContext, variant: MatmulVariant, g: Geometry, types: MatmulTypes): Kernel {
  // 8x8 per thread (128x128 tiles) pays off once the output has enough tiles; small problems use 4x4 (64x64).
  // CPU adapters (lavapipe) always get 4x4 with BK = 16: LLVM took 13-38 s to compile an 8x8 kernel there and
  // ~30 s for a 4x4 one with BK = 32 (2-core box under load), against ~0.1-0.3 s for 4x4 with BK = 16.
  const big = bigTiles(gpu, g);
  const info = gpu.adapterInfo as GPUAdapterInfo & { subgroupMinSize?: number };
  const sh = matmulShader(variant, types, { big, subgroupSize: info.subgroupMinSize ?? 32 });
  return { pipeline: gpu.pipeline(sh.key, sh.code), BM: sh.BM, BN: sh.BN };
}

/** Software adapters (Mesa llvmpipe/lavapipe, SwiftShader) run shaders on the CPU and compile them with LLVM. */
export function isCpuAdapter(gpu: GpuContext): boolean {
  const i = gpu.adapterInfo;
  const text = `${i.architecture} ${i.device} ${i.description}`.toLowerCase();
  return i.architecture === 'software' || /llvmpipe|lavapipe|swiftshader/.test(text);
}

/** Element offsets of each flattened batch item in an operand with batch dims `opBatch` (matrix size `mat`). */
function batchOffsets(opBatch: Shape, batchShape: Shape, mat: number): number[] {
  const strides = broadcastStrides(opBatch, batchShape);
  const outStrides = contiguousStrides(batchShape);
  const n = numel(batchShape);
  const offs = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let off = 0;
    for (let d = 0; d < batchShape.length; d++) {
      const c = Math.floor(rem / outStrides[d]);
      rem -= c * outStrides[d];
      off += c * strides[d];
    }
    offs[i] = off * mat;
  }
  return offs;
}

/** Batch stride when an operand's offsets are `i * stride` for every batch item, else null. */
function linearStride(offs: readonly number[]): number | null {
  if (offs.length <= 1) return 0;
  const s = offs[1] - offs[0];
  for (let i = 0; i < offs.length; i++) if (offs[i] !== i * s) return null;
  return s;
}

interface Window {
  binding: { buffer: GPUBuffer; offset: number; size: number };
  /** Element offset of `first` inside the window. */
  off: number;
}

/** A binding covering elements [first, first + count) of `t`, starting at an aligned byte offset. */
function window(gpu: GpuContext, t: Tensor, first: number, count: number): Window {
  const bpe = bytesPerElement(t.dtype);
  if (count <= 0) return { binding: { buffer: t.buffer, offset: 0, size: 4 }, off: 0 };
  const align = gpu.offsetAlignment;
  const startByte = Math.floor((first * bpe) / align) * align;
  const endByte = Math.ceil(((first + count) * bpe) / 4) * 4;
  const size = Math.min(Math.max(4, endByte - startByte), t.buffer.size - startByte);
  return { binding: { buffer: t.buffer, offset: startByte, size }, off: first - startByte / bpe };
}

interface Plan {
  nb: number;
  mc: number;
  nc: number;
  kc: number;
}

function matmulGpu(
  a: Tensor,
  b: Tensor,
  bias: Tensor | null,
  g: Geometry,
  o: typeof MATMUL_DEFAULTS,
  dtype: DType,
): Tensor {
  const gpu = a.gpu as GpuContext;
  const dtypes = [a.dtype, b.dtype, dtype, ...(bias ? [bias.dtype] : [])];
  if (dtypes.includes('f16') && !gpu.features.f16) {
    throw new Error(`${OP}: f16 tensors need the shader-f16 feature, which this adapter lacks`);
  }
  const out = Tensor.empty(g.outShape, { dtype, gpu });
  const { M, N, K } = g;
  const B = numel(g.batchShape);
  if (out.size === 0) return out;
  const variant = pickVariant(gpu, a, b, o.variant);
  const biasDtype: DType = bias ? bias.dtype : 'f32';
  const types = { a: a.dtype, b: b.dtype, out: dtype, bias: biasDtype };
  let kernel: Kernel;
  if (variant === 'tiled_reg') {
    const sh = tiledRegShader(types, {
      transA: o.transA,
      transB: o.transB,
      vec: false,
      big: o.tiledRegBig || bigTiles(gpu, g),
    });
    kernel = { pipeline: gpu.pipeline(sh.key, sh.code), BM: sh.BM, BN: sh.BN };
  } else {
    kernel = kernelFor(gpu, variant, g, types);
  }
  // The sgmat vec4 fast path, used per dispatch wherever its alignment conditions hold (see vecOk below).
  const sgTile = sgmatTileOf(o);
  let vecKernel: Kernel | null = null;
  if (variant === 'sgmat' && sgTile !== 'scalar') {
    const info = gpu.adapterInfo as GPUAdapterInfo & { subgroupMinSize?: number };
    const sh = sgmatVecShader(types, sgTile, o.transA, o.transB, info.subgroupMinSize ?? 32);
    vecKernel = { pipeline: gpu.pipeline(sh.key, sh.code), BM: sh.BM, BN: sh.BN };
  }
  // tiled_reg's vec4-load variant: the same alignment conditions (vecOk below) and the same tile as its scalar
  // kernel; built on first use, so CPU adapters compile it only for shapes that take it.
  let regVec: Kernel | null = null;
  const regVecKernel = (): Kernel => {
    if (!regVec) {
      const sh = tiledRegShader(types, {
        transA: o.transA,
        transB: o.transB,
        vec: true,
        big: o.tiledRegBig || bigTiles(gpu, g),
      });
      regVec = { pipeline: gpu.pipeline(sh.key, sh.code), BM: sh.BM, BN: sh.BN };
    }
    return regVec;
  };
  const minBM = Math.min(kernel.BM, vecKernel ? vecKernel.BM : kernel.BM);
  const minBN = Math.min(kernel.BN, vecKernel ? vecKernel.BN : kernel.BN);

  const aOffs = batchOffsets(a.shape.slice(0, -2), g.batchShape, M * K);
  const bOffs = batchOffsets(b.shape.slice(0, -2), g.batchShape, K * N);
  const aLin = linearStride(aOffs);
  const bLin = linearStride(bOffs);
  const linear = aLin !== null && bLin !== null;
  const aBs = linear ? (aLin as number) : 0;
  const bBs = linear ? (bLin as number) : 0;
  const oBs = M * N;

  // Spans in elements covered by one chunk (first to last touched element).
  const spanA = (p: Plan) =>
    p.mc === 0 || p.kc === 0
      ? 0
      : (p.nb - 1) * aBs + (o.transA ? (p.kc - 1) * M + p.mc : (p.mc - 1) * K + p.kc);
  const spanB = (p: Plan) =>
    p.nc === 0 || p.kc === 0
      ? 0
      : (p.nb - 1) * bBs + (o.transB ? (p.nc - 1) * K + p.kc : (p.kc - 1) * N + p.nc);
  const spanO = (p: Plan) => (p.nb - 1) * oBs + (p.mc - 1) * N + p.nc;
  const slack = gpu.offsetAlignment + 4;
  const fits = (elems: number, bpe: number) => elems * bpe + slack <= gpu.maxBinding;
  const fitA = (p: Plan) => fits(spanA(p), bytesPerElement(a.dtype));
  const fitB = (p: Plan) => fits(spanB(p), bytesPerElement(b.dtype));
  const fitO = (p: Plan) =>
    fits(spanO(p), bytesPerElement(dtype)) && (p.kc >= K || fits(p.nb * p.mc * p.nc, 4));
  const fitBias = bias ? fits(N, bytesPerElement(bias.dtype)) : true;
  const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
  const plan: Plan = {
    nb: Math.min(linear ? B : 1, maxWg),
    mc: Math.min(M, maxWg * minBM),
    nc: Math.min(N, maxWg * minBN, fitBias ? N : Math.floor((gpu.maxBinding - slack) / 4)),
    kc: K,
  };
  const half = (x: number) => Math.ceil(x / 2);
  for (;;) {
    const okA = fitA(plan);
    const okB = fitB(plan);
    const okO = fitO(plan);
    if (okA && okB && okO) break;
    if (plan.nb > 1) plan.nb = half(plan.nb);
    else if (!okA && o.transA && plan.kc > 1) plan.kc = half(plan.kc);
    else if (!okA && plan.mc > 1) plan.mc = half(plan.mc);
    else if (!okA && plan.kc > 1) plan.kc = half(plan.kc);
    else if (!okB && o.transB && plan.nc > 1) plan.nc = half(plan.nc);
    else if (!okB && plan.kc > 1) plan.kc = half(plan.kc);
    else if (!okB && plan.nc > 1) plan.nc = half(plan.nc);
    else if (!okO && plan.mc > 1) plan.mc = half(plan.mc);
    else if (!okO && plan.nc > 1) plan.nc = half(plan.nc);
    else {
      throw new Error(
        `${OP}: cannot split a ${shapeStr(a.shape)}, b ${shapeStr(b.shape)} under the ${gpu.maxBinding}-byte binding limit`,
      );
    }
  }
  const kSplit = plan.kc < K;
  const accBuf = gpu.allocBuffer(kSplit ? plan.nb * plan.mc * plan.nc * 4 : 4);
  const dummyBias = bias ? null : gpu.allocBuffer(4);
  const words = new ArrayBuffer(UNIFORM_WORDS * 4);
  const u = new Uint32Array(words);
  const f = new Float32Array(words);
  const kSteps = K === 0 ? [0] : range(0, K, plan.kc);
  for (let b0 = 0; b0 < B; b0 += plan.nb) {
    const nb = Math.min(plan.nb, B - b0);
    for (let m0 = 0; m0 < M; m0 += plan.mc) {
      const mc = Math.min(plan.mc, M - m0);
      for (let n0 = 0; n0 < N; n0 += plan.nc) {
        const nc = Math.min(plan.nc, N - n0);
        const ow = window(gpu, out, b0 * oBs + m0 * N + n0, spanO({ nb, mc, nc, kc: 0 }));
        const bw = bias ? window(gpu, bias, n0, nc) : null;
        kSteps.forEach((k0, ki) => {
          const kc = Math.min(plan.kc, K - k0);
          const p: Plan = { nb, mc, nc, kc };
          const aw = window(gpu, a, aOffs[b0] + (o.transA ? k0 * M + m0 : m0 * K + k0), spanA(p));
          const bwin = window(gpu, b, bOffs[b0] + (o.transB ? n0 * K + k0 : k0 * N + n0), spanB(p));
          const mode = kSteps.length === 1 ? 0 : ki === 0 ? 1 : ki === kSteps.length - 1 ? 3 : 2;
          u.set([mc, nc, kc, mode, aw.off, bwin.off, ow.off, bw ? bw.off : 0]);
          u.set([aBs, bBs, oBs, mc * nc], 8);
          u.set([o.transA ? M : K, o.transB ? K : N, N, nc], 12);
          f[16] = o.alpha;
          u.set([bias ? 1 : 0, o.transA ? 1 : 0, o.transB ? 1 : 0, ACT_CODES[o.activation]], 17);
          // vec4 path: every offset, stride and vector extent a multiple of 4 elements.
          const vecOk =
            (vecKernel !== null || variant === 'tiled_reg') &&
            spanA(p) > 0 &&
            spanB(p) > 0 &&
            [aw.off, bwin.off, aBs, bBs, o.transA ? M : K, o.transB ? K : N].every((x) => x % 4 === 0) &&
            (o.transA ? mc : kc) % 4 === 0 &&
            (o.transB ? kc : nc) % 4 === 0;
          const kern = !vecOk ? kernel : variant === 'tiled_reg' ? regVecKernel() : (vecKernel as Kernel);
          gpu.dispatch(
            kern.pipeline,
            [
              aw.binding,
              bwin.binding,
              ow.binding,
              kSplit ? { buffer: accBuf, offset: 0, size: nb * mc * nc * 4 } : accBuf,
              bw ? bw.binding : (dummyBias as GPUBuffer),
              gpu.uniform(words),
            ],
            [Math.ceil(nc / kern.BN), Math.ceil(mc / kern.BM), nb],
          );
        });
      }
    }
  }
  // Safe to pool now: dispatches recorded before any later reuse run first (see GpuContext notes).
  gpu.releaseBuffer(accBuf);
  if (dummyBias) gpu.releaseBuffer(dummyBias);
  return out;
}

function range(start: number, end: number, step: number): number[] {
  const r: number[] = [];
  for (let x = start; x < end; x += step) r.push(x);
  return r;
}
