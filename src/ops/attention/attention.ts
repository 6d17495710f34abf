/**
 * Fused multi-head attention, flash style: softmax(q k^T * scale + keyBias) v, never materialising the score
 * matrix. Dense form `attention` (q [B, Lq, H, D], k/v [B, Lk, H, D], as Linear layers produce them) and
 * variable-length form `attentionVarlen` (packed rows with cu_seqlens-style starts, for sparse batches and
 * windowed attention). The dense form runs on the varlen kernel with uniform starts.
 *
 * Notes (alternatives; lavapipe figures are wall time on 2 shared CPU cores, so only relative):
 * - Kernel layout: one workgroup per (query tile, head), 4 threads per query row splitting the keys of each tile
 *   for QK^T and the output channels for PV. Workgroup memory holds Q, K, V tiles (f16 when q, k and v are all
 *   f16, halving the footprint so D = 128 fits 32 KiB with 32x32 tiles), a BQ x BK probability tile and the
 *   per-key bias (which also carries the end-of-sequence mask, so the score loop has no branches).
 * - Tile shapes are picked at run time from `maxComputeWorkgroupStorageSize`: 64 queries x 32 keys preferred
 *   (each staged K/V tile serves 64 queries: half the K/V traffic of 32-query tiles), then 32x32 and smaller when
 *   D is large or storage is f32 (lavapipe's 32 KiB: f16 D=64 gets 64x32, f32 D=64 32x32).
 * - The query-tile table lives in a small storage buffer cached per (starts, tile height), so a forward pass does
 *   not upload it again (an upload flushes the pending batch).
 * - Bindings: tensors are bound through byte windows starting at the tiles' first rows (window.ts); tiles are
 *   grouped greedily so no window exceeds `gpu.maxBinding`. Heads are interleaved within a row, so one sequence's
 *   keys must fit one binding (16 MiB for 4096 x 1024 f32: far under the 128 MiB default).
 * - Row max / row sum over the 4 threads of a row: subgroup shuffles where the adapter has subgroups (one
 *   workgroup barrier less per key tile), workgroup memory otherwise (`subgroups: false` forces it).
 * - Q and K tiles have rows padded by one vec4 and the P tile by one float (bank conflicts on real GPUs); the QK^T
 *   loop reads each q vec4 once for the thread's BK/4 keys.
 * - Cold shader compiles on lavapipe took 10-25 s CPU per variant for D = 32/40 with constant loop bounds (full
 *   unrolling), ~2 s for D = 128; on CPU adapters the outer loops take their bounds from the uniform buffer.
 * - sgmat kernel (attention.sgmat.wgsl): Q K^T and P V on Dawn subgroup matrices (16x16x16 f16 -> f32), S and
 *   P V round-trip through workgroup memory for the per-row online softmax (fragments cannot be scaled per row).
 *   Picked by 'auto' for f16 q/k/v/out, D % 16 == 0, 32-lane subgroups and a fitting tile. H100 80GB HBM3, Dawn
 *   (npm webgpu 0.6.2), robustness off, B=2 H=16 D=64, median of 20 GPU timestamps after 1 s warm-up (device
 *   call 2026-11-27 13:3x UTC, `npm run bench -- attention --sweep 1`); sampled rows vs the CPU twin, max |diff|
 *   3.1e-5 self / 1.2e-4 cross (f16 output), small awkward cases 2.4e-4 (P is rounded to f16 before P V):
 *
 *   | kernel [subgroups, keys/tile] | self 4096x4096 TFLOP/s | cross 4096x1374 (+bias) TFLOP/s |
 *   |---|---|---|
 *   | tiled f32                      | 11.3 | 11.2 |
 *   | tiled f16 (old default)        | 13.5 | 12.7 |
 *   | **sgmat [4, 64]** (64 queries) | **32.6** (4.22 ms) | **28.8** (1.60 ms) |  <- default
 *   | sgmat [4, 32]                  | 27.6 | 25.5 |
 *   | sgmat [2, 64] (32 queries)     | 11.7 | 11.1 |
 *
 *   [4, 128] does not fit 48 KiB. 32.6 is 22% of the f16 sgmat matmul (147; goal 50%). Left: the scalar
 *   softmax and the two f32 round trips per key tile, 5 workgroup barriers per tile, and only 4 subgroups per
 *   workgroup (more query rows per workgroup need S in f16 or a smaller f32 scratch).
 *
 * @example
 * const o = attention(q, k, v); // q [2, 4096, 16, 64], k/v [2, 1374, 16, 64] -> [2, 4096, 16, 64]
 */

import { splitWorkgroups } from '../../runtime/chunk.ts';
import type { DType } from '../../runtime/dtype.ts';
import type { GpuContext } from '../../runtime/gpu.ts';
import { ShapeError, shapeStr } from '../../runtime/shape.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { enablesFor, specialize, templateKey } from '../../runtime/wgsl.ts';
import { sgmatConfig } from '../matmul/matmul.ts';
import { WGSL } from '../wgsl.generated.ts';
import { attentionVarlenCpu } from './attention.cpu.ts';
import { elementWindow, windowBytes } from './window.ts';

export interface AttentionOptions {
  /** Score scale; default 1/sqrt(D). */
  scale?: number;
  /** Additive bias per key, [B, Lk], broadcast over heads and queries (e.g. log(w + 1e-6) mask weights). */
  keyBias?: Tensor;
  /** Output dtype; default q's. */
  dtype?: DType;
  /** Force a tile shape [queries, keys] (benchmarks); keys a multiple of 4. Default: picked from the limits. */
  tile?: readonly [number, number];
  /** Use subgroup shuffles for the per-row reductions when the adapter has subgroups (default true). */
  subgroups?: boolean;
  /**
   * Loop bounds from the uniform buffer instead of constants, which keeps shader compilers from fully unrolling
   * the inner loops. Default: true on CPU adapters (llvmpipe, SwiftShader), where compile time dominates; false on
   * GPUs.
   */
  runtimeBounds?: boolean;
  /**
   * Kernel: 'tiled' (attention.wgsl, runs everywhere) or 'sgmat' (attention.sgmat.wgsl: subgroup matrices; f16
   * q, k, v and output, D a multiple of 16, an adapter with f16->f32 16x16x16 subgroup matrices and 32-lane
   * subgroups). 'auto' (default) picks sgmat where it applies.
   */
  variant?: 'auto' | AttentionVariant;
  /** sgmat only (benchmarks): [subgroups per workgroup (16 queries each), keys per tile]; default `SGMAT_ATTENTION_TILE`. */
  sgmatTile?: readonly [number, number];
}

/** Attention kernels. */
export type AttentionVariant = 'tiled' | 'sgmat';

/** sgmat tiles the benchmark sweeps: [subgroups (16 query rows each), keys per tile]. */
export const SGMAT_ATTENTION_TILES: readonly (readonly [number, number])[] = [
  [4, 64],
  [4, 32],
  [2, 64],
];

/** The default sgmat tile (see the notes block for the measured sweep). */
export const SGMAT_ATTENTION_TILE: readonly [number, number] = [4, 64];

/** Workgroup memory (bytes) of the sgmat kernel; mirrors attention.sgmat.wgsl. */
export function sgmatAttentionSharedBytes(nsg: number, bk: number, headDim: number): number {
  const ldq = headDim + 8;
  const sld = Math.max(bk, headDim) + 4;
  const qkRows = Math.max(16 * nsg, bk);
  return 2 * qkRows * ldq + 2 * bk * ldq + 4 * nsg * 16 * sld + 2 * nsg * 16 * (bk + 8) + 4 * bk + 16;
}

/** Whether the sgmat kernel applies to these dtypes / head dim on `gpu` (tile feasibility aside). */
export function sgmatAttentionAvailable(gpu: GpuContext, dtypes: readonly DType[], headDim: number): boolean {
  if (!dtypes.every((d) => d === 'f16') || headDim % 16 !== 0 || !sgmatConfig(gpu)) return false;
  const info = gpu.adapterInfo as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  return info.subgroupMinSize === 32 && info.subgroupMaxSize === 32;
}

export interface AttentionVarlenOptions extends Omit<AttentionOptions, 'keyBias'> {
  /** Query row offsets, length S + 1: sequence s owns rows qStarts[s]..qStarts[s+1] (flash-attn cu_seqlens_q). */
  qStarts: Int32Array | readonly number[];
  /** Key row offsets, length S + 1. */
  kStarts: Int32Array | readonly number[];
  /** Additive bias per key row, [Tk]. */
  keyBias?: Tensor;
}

/** Tile shapes tried in order; the first whose workgroup memory fits the adapter is used. */
export const ATTENTION_TILES: readonly (readonly [number, number])[] = [
  [64, 32],
  [32, 32],
  [32, 16],
  [16, 16],
  [16, 8],
  [8, 8],
  [4, 4],
];

/** Workgroup memory (bytes) of a tile shape; mirrors the `var<workgroup>` declarations of attention.wgsl. */
export function attentionSharedBytes(bq: number, bk: number, headDim: number, storage: DType): number {
  const es = storage === 'f16' ? 2 : 4;
  const dg = Math.ceil(headDim / 4);
  // sq, sk (rows padded by one vec4), sv; sp (rows padded by one), sb, sred; stile.
  return es * 4 * ((dg + 1) * (bq + bk) + dg * bk) + 4 * (bq * (bk + 1) + bk + 4 * bq) + 16;
}

const U32_LIMIT = 2 ** 32;

/** Software adapters (shader compile on the CPU is slow for fully unrolled loops). */
function isCpuAdapter(gpu: GpuContext): boolean {
  const i = gpu.adapterInfo;
  return /llvmpipe|lavapipe|swiftshader/i.test(`${i.vendor} ${i.device} ${i.description}`);
}

/**
 * Multi-head attention on [B, L, H, D] tensors.
 *
 * @example
 * const q = gpu.tensor(qv, [2, 4096, 16, 64], 'f16');
 * const kv = ...; // k, v [2, 1374, 16, 64]
 * const bias = gpu.tensor(logw, [2, 1374]); // log(w + 1e-6)
 * const o = attention(q, k, v, { keyBias: bias }); // [2, 4096, 16, 64] f16
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const op = 'attention';
  const shapes = `q ${shapeStr(q.shape)}, k ${shapeStr(k.shape)}, v ${shapeStr(v.shape)}`;
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) {
    throw new ShapeError(op, `expects q, k, v of rank 4 [B, L, H, D]; got ${shapes}`);
  }
  const [B, Lq, H, D] = q.shape;
  const Lk = k.shape[1];
  if (k.shape[0] !== B || k.shape[2] !== H || k.shape[3] !== D || v.shape.some((d, i) => d !== k.shape[i])) {
    throw new ShapeError(op, `k and v must be [${B}, Lk, ${H}, ${D}] and equal; got ${shapes}`);
  }
  if (
    options.keyBias &&
    (options.keyBias.rank !== 2 || options.keyBias.shape[0] !== B || options.keyBias.shape[1] !== Lk)
  ) {
    throw new ShapeError(
      op,
      `keyBias must be [${B}, ${Lk}]; got ${shapeStr(options.keyBias.shape)} with ${shapes}`,
    );
  }
  const qStarts = Array.from({ length: B + 1 }, (_, b) => b * Lq);
  const kStarts = Array.from({ length: B + 1 }, (_, b) => b * Lk);
  const out = attentionVarlen(
    q.reshape([B * Lq, H, D]),
    k.reshape([B * Lk, H, D]),
    v.reshape([B * Lk, H, D]),
    {
      ...options,
      keyBias: options.keyBias?.reshape([B * Lk]),
      qStarts,
      kStarts,
    },
  );
  return out.reshape([B, Lq, H, D]);
}

function checkStarts(
  op: string,
  name: string,
  starts: ArrayLike<number>,
  rows: number,
  shapes: string,
): void {
  if (starts.length < 1 || starts[0] !== 0 || starts[starts.length - 1] !== rows) {
    throw new ShapeError(
      op,
      `${name} must start at 0 and end at ${rows}; got [${Array.from(starts).join(', ')}] with ${shapes}`,
    );
  }
  for (let i = 1; i < starts.length; i++) {
    if (!Number.isInteger(starts[i]) || starts[i] < starts[i - 1]) {
      throw new ShapeError(
        op,
        `${name} must be non-decreasing integers; ${name}[${i}] = ${starts[i]} after ${starts[i - 1]}`,
      );
    }
  }
}

/**
 * Variable-length multi-head attention on packed rows: q [Tq, H, D], k/v [Tk, H, D]; sequence s attends from
 * query rows qStarts[s]..qStarts[s+1] to key rows kStarts[s]..kStarts[s+1]. Sequences with no keys give zeros.
 *
 * @example
 * // two windows: 3 queries over 5 keys, then 1 query over 2 keys
 * const o = attentionVarlen(q, k, v, { qStarts: [0, 3, 4], kStarts: [0, 5, 7] }); // q [4, H, D], k/v [7, H, D]
 */
export function attentionVarlen(q: Tensor, k: Tensor, v: Tensor, options: AttentionVarlenOptions): Tensor {
  const op = 'attentionVarlen';
  const shapes = `q ${shapeStr(q.shape)}, k ${shapeStr(k.shape)}, v ${shapeStr(v.shape)}`;
  if (q.rank !== 3 || k.rank !== 3 || v.rank !== 3) {
    throw new ShapeError(op, `expects q, k, v of rank 3 [T, H, D]; got ${shapes}`);
  }
  const [Tq, H, D] = q.shape;
  const Tk = k.shape[0];
  if (k.shape[1] !== H || k.shape[2] !== D || v.shape.some((d, i) => d !== k.shape[i])) {
    throw new ShapeError(op, `k and v must be [Tk, ${H}, ${D}] and equal; got ${shapes}`);
  }
  if (D === 0 || H === 0) throw new ShapeError(op, `needs H >= 1 and D >= 1; got ${shapes}`);
  const { qStarts, kStarts } = options;
  if (qStarts.length !== kStarts.length) {
    throw new ShapeError(
      op,
      `qStarts (${qStarts.length}) and kStarts (${kStarts.length}) must have the same length`,
    );
  }
  checkStarts(op, 'qStarts', qStarts, Tq, shapes);
  checkStarts(op, 'kStarts', kStarts, Tk, shapes);
  const bias = options.keyBias;
  if (bias && (bias.rank !== 1 || bias.shape[0] !== Tk)) {
    throw new ShapeError(op, `keyBias must be [${Tk}]; got ${shapeStr(bias.shape)} with ${shapes}`);
  }
  for (const t of [k, v, ...(bias ? [bias] : [])]) {
    if (t.device !== q.device) throw new ShapeError(op, `tensors are on different devices (${shapes})`);
  }
  const scale = options.scale ?? 1 / Math.sqrt(D);
  const dtype = options.dtype ?? q.dtype;
  if (!q.gpu) {
    const data = attentionVarlenCpu({
      q: q.data,
      k: k.data,
      v: v.data,
      heads: H,
      headDim: D,
      qStarts,
      kStarts,
      scale,
      keyBias: bias ? bias.data : null,
      outDtype: dtype,
    });
    return Tensor.fromArray(data, q.shape, { dtype });
  }
  return attentionGpu(q.gpu, q, k, v, bias ?? null, qStarts, kStarts, scale, dtype, options, shapes);
}

/** Query tiles (q_begin, q_end, k_begin, k_end) of every sequence, BQ query rows each. */
function buildTiles(qStarts: ArrayLike<number>, kStarts: ArrayLike<number>, bq: number): Uint32Array {
  const rows: number[] = [];
  for (let s = 0; s + 1 < qStarts.length; s++) {
    for (let i = qStarts[s]; i < qStarts[s + 1]; i += bq) {
      rows.push(i, Math.min(i + bq, qStarts[s + 1]), kStarts[s], kStarts[s + 1]);
    }
  }
  return Uint32Array.from(rows);
}

const TILE_CACHE_ENTRIES = 64;
const tileCaches = new WeakMap<GpuContext, Map<string, GPUBuffer>>();

/** The tile table on the GPU, cached per context and (starts, tile height). */
function tileBuffer(gpu: GpuContext, key: string, tiles: Uint32Array): GPUBuffer {
  let cache = tileCaches.get(gpu);
  if (!cache) {
    cache = new Map();
    tileCaches.set(gpu, cache);
  }
  const hit = cache.get(key);
  if (hit) {
    // Refresh its place in the LRU order.
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  if (cache.size >= TILE_CACHE_ENTRIES) {
    const [oldKey, old] = cache.entries().next().value as [string, GPUBuffer];
    cache.delete(oldKey);
    gpu.flush(); // recorded dispatches may still use it
    old.destroy();
  }
  const buf = gpu.device.createBuffer({
    size: Math.max(16, tiles.byteLength),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
  });
  gpu.writeBuffer(buf, 0, tiles);
  cache.set(key, buf);
  return buf;
}

function attentionGpu(
  gpu: GpuContext,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  bias: Tensor | null,
  qStarts: ArrayLike<number>,
  kStarts: ArrayLike<number>,
  scale: number,
  dtype: DType,
  options: Pick<AttentionOptions, 'tile' | 'subgroups' | 'runtimeBounds' | 'variant' | 'sgmatTile'>,
  shapes: string,
): Tensor {
  const op = 'attention';
  const [Tq, , D] = q.shape;
  const usesF16 = [q, k, v, ...(bias ? [bias] : [])].some((t) => t.dtype === 'f16') || dtype === 'f16';
  if (usesF16 && !gpu.features.f16) {
    throw new Error(`${op}: f16 tensors need the shader-f16 feature, which this adapter lacks (${shapes})`);
  }
  if (q.size >= U32_LIMIT || k.size >= U32_LIMIT) {
    throw new ShapeError(op, `tensors of 2^32 or more elements are not supported (${shapes})`);
  }
  const out = Tensor.empty(q.shape, { dtype, gpu });
  if (Tq === 0) return out;
  const smem = gpu.limits.maxComputeWorkgroupStorageSize;
  const want = options.variant ?? 'auto';
  const sgOk = sgmatAttentionAvailable(gpu, [q.dtype, k.dtype, v.dtype, dtype], D);
  if (want === 'sgmat' && !sgOk) {
    throw new Error(
      `${op}: variant 'sgmat' needs f16 q, k, v and output, D % 16 == 0 and f16 subgroup matrices with 32-lane subgroups (${shapes}, out ${dtype})`,
    );
  }
  if (want !== 'tiled' && sgOk) {
    const [nsg, bk] = options.sgmatTile ?? SGMAT_ATTENTION_TILE;
    if (sgmatAttentionSharedBytes(nsg, bk, D) <= smem && bk % 16 === 0 && nsg >= 1) {
      const sh = sgmatAttentionShader(nsg, bk, D, dtype, bias ? bias.dtype : null);
      const pipeline = gpu.pipeline(sh.key, sh.code);
      dispatchTiles(gpu, pipeline, 16 * nsg, bk, q, k, v, out, bias, qStarts, kStarts, scale, dtype, shapes);
      return out;
    }
    if (want === 'sgmat') {
      throw new ShapeError(
        op,
        `sgmat tile [${nsg}, ${bk}] does not fit ${smem} bytes of workgroup memory (${shapes})`,
      );
    }
  }
  const storage: DType = q.dtype === 'f16' && k.dtype === 'f16' && v.dtype === 'f16' ? 'f16' : 'f32';
  const tile =
    options.tile ?? ATTENTION_TILES.find(([bq, bk]) => attentionSharedBytes(bq, bk, D, storage) <= smem);
  if (
    !tile ||
    tile[0] < 1 ||
    tile[1] % 4 !== 0 ||
    attentionSharedBytes(tile[0], tile[1], D, storage) > smem
  ) {
    throw new ShapeError(
      op,
      `head dim ${D} needs more workgroup memory than the adapter's ${smem} bytes (${shapes})`,
    );
  }
  const [BQ, BK] = tile;
  // Row reductions by subgroup shuffle need subgroups of at least the 4 threads of a row.
  const info = gpu.adapterInfo as GPUAdapterInfo & { subgroupMinSize?: number };
  const useSubgroups =
    (options.subgroups ?? true) && gpu.features.subgroups && (info.subgroupMinSize ?? 0) >= 4;
  const vars = {
    BQ,
    BK,
    D,
    TQ: q.dtype,
    TK: k.dtype,
    TV: v.dtype,
    TO: dtype,
    TS: storage,
    BIAS_DECL: bias ? `@group(0) @binding(6) var<storage, read> kb: array<${bias.dtype}>;` : '',
    BIAS_EXPR: bias ? 'f32(kb[kg - p.b_base])' : '0.0',
    SG: useSubgroups,
    RUNTIME_BOUNDS: options.runtimeBounds ?? isCpuAdapter(gpu),
  };
  const code = specialize(
    WGSL['ops/attention/attention'],
    {
      ...vars,
      ROW_REDUCE: WGSL[`ops/attention/attention.rowreduce.${useSubgroups ? 'subgroup' : 'shared'}`],
    },
    [
      ...enablesFor(q.dtype, k.dtype, v.dtype, dtype, ...(bias ? [bias.dtype] : [])),
      ...(useSubgroups ? ['subgroups'] : []),
    ],
  );
  const pipeline = gpu.pipeline(templateKey('attention', vars), code);
  dispatchTiles(gpu, pipeline, BQ, BK, q, k, v, out, bias, qStarts, kStarts, scale, dtype, shapes);
  return out;
}

/**
 * WGSL of the sgmat attention kernel (exported so tests can check the specialisation; CPU adapters cannot
 * compile it).
 *
 * @example
 * const { code } = sgmatAttentionShader(4, 64, 64, 'f16', 'f32');
 */
export function sgmatAttentionShader(
  nsg: number,
  bk: number,
  D: number,
  outDtype: DType,
  biasDtype: DType | null,
): { key: string; code: string } {
  const vars = {
    NSG: nsg,
    BK: bk,
    D,
    SLD: Math.max(bk, D) + 4,
    QK_ROWS: Math.max(16 * nsg, bk),
    TO: outDtype,
    BIAS_DECL: biasDtype ? `@group(0) @binding(6) var<storage, read> kb: array<${biasDtype}>;` : '',
    BIAS_EXPR: biasDtype ? 'f32(kb[kg - p.b_base])' : '0.0',
  };
  const head = specialize('', {}, [
    'f16',
    'subgroups',
    'chromium_experimental_subgroup_matrix',
    ...enablesFor(outDtype, ...(biasDtype ? [biasDtype] : [])),
  ]).trimEnd();
  const body = specialize(WGSL['ops/attention/attention.sgmat'], { ...vars, ...sgmatBlocks(nsg, bk, D) });
  return {
    key: templateKey('attention.sgmat', vars),
    code: `${head}\ndiagnostic(off, chromium.subgroup_matrix_uniformity);\n${body}`,
  };
}

/** Generated blocks of attention.sgmat.wgsl: Q fragments, S = Q K^T and P V (16x16 matrices, unrolled). */
function sgmatBlocks(nsg: number, bk: number, D: number): Record<string, string> {
  const L = 'subgroup_matrix_left<f16, 16, 16>';
  const R = 'subgroup_matrix_right<f16, 16, 16>';
  const acc = 'subgroup_matrix_result<f32, 16, 16>';
  const qLoad: string[] = [];
  for (let d = 0; d < D / 16; d++) {
    qLoad.push(`  let qf${d} = subgroupMatrixLoad<${L}>(&sqk, 16u * s * LDQ + ${16 * d}u, false, LDQ);`);
  }
  const qk: string[] = [];
  for (let j = 0; j < bk / 16; j++) {
    qk.push('    {', `      var acc = ${acc}();`);
    for (let d = 0; d < D / 16; d++) {
      qk.push(
        `      acc = subgroupMatrixMultiplyAccumulate(qf${d}, subgroupMatrixLoad<${R}>(&sqk, ${16 * j}u * LDQ + ${16 * d}u, true, LDQ), acc);`,
      );
    }
    qk.push(`      subgroupMatrixStore(&ss, sbase + ${16 * j}u, acc, false, SLD);`, '    }');
  }
  const pv: string[] = [];
  for (let c = 0; c < bk / 16; c++) {
    pv.push(`    let pf${c} = subgroupMatrixLoad<${L}>(&sp, pbase + ${16 * c}u, false, LDP);`);
  }
  for (let dj = 0; dj < D / 16; dj++) {
    pv.push('    {', `      var acc = ${acc}();`);
    for (let c = 0; c < bk / 16; c++) {
      pv.push(
        `      acc = subgroupMatrixMultiplyAccumulate(pf${c}, subgroupMatrixLoad<${R}>(&sv, ${16 * c}u * LDQ + ${16 * dj}u, false, LDQ), acc);`,
      );
    }
    pv.push(`      subgroupMatrixStore(&ss, sbase + ${16 * dj}u, acc, false, SLD);`, '    }');
  }
  void nsg;
  return { Q_LOAD: qLoad.join('\n'), QK: qk.join('\n'), PV: pv.join('\n') };
}

/** Dispatches `pipeline` over query tiles of `BQ` rows (shared by both kernels: same bindings and Params). */
function dispatchTiles(
  gpu: GpuContext,
  pipeline: GPUComputePipeline,
  BQ: number,
  BK: number,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  out: Tensor,
  bias: Tensor | null,
  qStarts: ArrayLike<number>,
  kStarts: ArrayLike<number>,
  scale: number,
  dtype: DType,
  shapes: string,
): void {
  const op = 'attention';
  const [, H, D] = q.shape;
  const Tk = k.shape[0];
  const tiles = buildTiles(qStarts, kStarts, BQ);
  const nTiles = tiles.length / 4;
  const startsKey = `${BQ}|${Array.from(qStarts).join(',')}|${Array.from(kStarts).join(',')}`;
  const table = tileBuffer(gpu, startsKey, tiles);

  const row = H * D;
  const align = gpu.offsetAlignment;
  const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
  const fits = (qa: number, qb: number, ka: number, kb: number): boolean =>
    windowBytes(q.dtype, qa * row, qb * row, align) <= gpu.maxBinding &&
    windowBytes(dtype, qa * row, qb * row, align) <= gpu.maxBinding &&
    windowBytes(k.dtype, ka * row, kb * row, align) <= gpu.maxBinding &&
    windowBytes(v.dtype, ka * row, kb * row, align) <= gpu.maxBinding &&
    (!bias || windowBytes(bias.dtype, ka, kb, align) <= gpu.maxBinding);
  const params = new ArrayBuffer(48);
  const pu = new Uint32Array(params);
  const pf = new Float32Array(params);

  let first = 0;
  while (first < nTiles) {
    const t = (i: number) => tiles.subarray(4 * i, 4 * i + 4);
    const [qa, , ka] = t(first);
    if (!fits(qa, t(first)[1], ka, t(first)[3])) {
      throw new ShapeError(
        op,
        `one sequence's keys (rows ${ka}..${t(first)[3]}) exceed the ${gpu.maxBinding}-byte storage binding limit (${shapes})`,
      );
    }
    let last = first + 1;
    while (last < nTiles && fits(qa, t(last)[1], ka, Math.max(t(last)[3], t(last - 1)[3]))) last++;
    const qb = t(last - 1)[1];
    let kb = ka;
    for (let i = first; i < last; i++) kb = Math.max(kb, t(i)[3]);
    const qw = elementWindow(q, qa * row, qb * row, align);
    const ow = elementWindow(out, qa * row, qb * row, align);
    // A group whose sequences have no keys never reads k/v/bias: bind their first row (any valid window).
    const k0 = kb > ka ? ka : 0;
    const k1 = kb > ka ? kb : Math.min(1, Tk);
    const kw = elementWindow(k, k0 * row, k1 * row, align);
    const vw = elementWindow(v, k0 * row, k1 * row, align);
    const n = last - first;
    const [nx, ny] = splitWorkgroups(n, maxWg);
    pu.set([H, first, n, nx, qw.origin, kw.origin, vw.origin, ow.origin, 0, 0, Math.ceil(D / 4), BK]);
    const bindings = [qw.binding, kw.binding, vw.binding, ow.binding, { buffer: table }];
    if (bias) {
      const bw = elementWindow(bias, k0, k1, align);
      pu[8] = bw.origin;
      pf[9] = scale;
      gpu.dispatch(pipeline, [...bindings, gpu.uniform(params), bw.binding], [nx, ny, H]);
    } else {
      pf[9] = scale;
      gpu.dispatch(pipeline, [...bindings, gpu.uniform(params)], [nx, ny, H]);
    }
    first = last;
  }
}
