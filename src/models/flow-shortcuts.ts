/**
 * Exact algebraic savings for the Amodal3R flow transformers (../shared/spec/PERFORMANCE.md §1-§2). Each is
 * algebra, not approximation: results equal the straightforward path up to float rounding (tests bound it).
 *
 * 1. Unconditional CFG pass: the negative condition is all zeros, so every key of a cross-attention is the key
 *    bias and every value the value bias: the attention output is b_v whatever the query or the mask weights, and
 *    each cross-attention adds the constant to_out(b_v). Precomputed once per block at load.
 * 2. Occlusion cross-attention: its context tokens are a scalar c_j repeated over all channels, so
 *    k_j = c_j r_k + b_k and v_j = c_j r_v + b_v with r = row sums of W. Per head, q.b_k is the same for every key
 *    and cancels in the softmax, leaving out = E[c] r_v + b_v with
 *    E[c] = sum_m n_m c_m e^{a c_m} / sum_m n_m e^{a c_m}, a = q.r_k / sqrt(d), over the distinct ratios c_m
 *    (at most 197 values n/196) with counts n_m. Cost O(queries x distinct values) instead of
 *    O(queries x 1369 x channels), and no to_kv GEMM over the 1369 occlusion tokens.
 *
 * Rounding: the official code runs these layers in the model dtype (fp16 GEMMs with f32 accumulation). The row
 * sums here use the model-dtype-rounded weights (what the fp16 GEMM multiplies by), and the small intermediate
 * products stay f32; differences to the full path are bounded in ss-flow.test.ts.
 */

import { add, linear, matmul } from '../nn/ops.ts';
import { softmax } from '../ops/softmax/softmax.ts';
import { type DType, roundF16 } from '../runtime/dtype.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { Tensor } from '../runtime/tensor.ts';

/** Per-block constants of the shortcuts. */
export interface BlockShortcuts {
  /** to_out(b_v) of the mask-weighted cross-attention: its output for the all-zero condition, [C]. */
  negCross: Tensor;
  /** The same for the occlusion cross-attention, [C]. */
  negOcc: Tensor;
  /** [H, C]: row h holds r_k / sqrt(d) on head h's channels, zero elsewhere (so linear(q) gives a per head). */
  occRk: Tensor;
  /** [C, H]: r_v on head h's channels in column h (so linear(E) gives E r_v per channel); bias b_v. */
  occRv: Tensor;
  occBv: Tensor;
}

/** Weights of one cross-attention as plain f32 arrays (PyTorch layout). */
export interface CrossAttnArrays {
  kvW: Float32Array; // [2C, ctx]
  kvB: Float32Array; // [2C]
  outW: Float32Array; // [C, C]
  outB: Float32Array; // [C]
}

function rounder(dtype: DType): (x: number) => number {
  return dtype === 'f16' ? roundF16 : Math.fround;
}

/** to_out(b_v) rounded as the model dtype would produce it (needs no key/value weight). */
function constantOutput(a: CrossAttnBiasArrays, C: number, dtype: DType): Float32Array {
  const r = rounder(dtype);
  const bv = new Float64Array(C);
  for (let c = 0; c < C; c++) bv[c] = r(a.kvB[C + c]);
  const out = new Float32Array(C);
  for (let o = 0; o < C; o++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += r(a.outW[o * C + c]) * bv[c];
    out[o] = r(s + r(a.outB[o]));
  }
  return out;
}

/** What the all-zero-condition constant needs of a cross-attention: everything but the key/value weight. */
export type CrossAttnBiasArrays = Omit<CrossAttnArrays, 'kvW'>;

/**
 * Precomputes one block's shortcut constants.
 * @param cross the mask-weighted cross-attention (its to_kv weight is not needed, so loaders skip reading it),
 * @param occ the occlusion cross-attention.
 */
export function blockShortcuts(
  cross: CrossAttnBiasArrays,
  occ: CrossAttnArrays,
  C: number,
  heads: number,
  dtype: DType,
  gpu: GpuContext | null,
): BlockShortcuts {
  const r = rounder(dtype);
  const ctx = occ.kvW.length / (2 * C);
  const d = C / heads;
  const scale = 1 / Math.sqrt(d);
  const rk = new Float32Array(heads * C);
  const rv = new Float32Array(C * heads);
  for (let c = 0; c < C; c++) {
    let sk = 0;
    let sv = 0;
    for (let j = 0; j < ctx; j++) {
      sk += r(occ.kvW[c * ctx + j]);
      sv += r(occ.kvW[(C + c) * ctx + j]);
    }
    const h = Math.floor(c / d);
    rk[h * C + c] = sk * scale;
    rv[c * heads + h] = sv;
  }
  const bv = new Float32Array(C);
  for (let c = 0; c < C; c++) bv[c] = r(occ.kvB[C + c]);
  const t = (data: Float32Array, shape: number[], dt: DType = 'f32') =>
    Tensor.fromArray(data, shape, { gpu, dtype: dt });
  return {
    negCross: t(constantOutput(cross, C, dtype), [C], dtype),
    negOcc: t(constantOutput(occ, C, dtype), [C], dtype),
    occRk: t(rk, [heads, C]),
    occRv: t(rv, [C, heads]),
    occBv: t(bv, [C]),
  };
}

export function disposeBlockShortcuts(s: BlockShortcuts): void {
  for (const t of Object.values(s)) (t as Tensor).dispose();
}

/** Distinct occlusion ratios of a view and their counts, as tensors for the rank-1 attention. */
export interface OcclusionStats {
  /** [1, M] distinct values c_m (model-dtype rounded). */
  values: Tensor;
  /** [M, 1] the same as a column. */
  valuesCol: Tensor;
  /** [M] log n_m. */
  logCounts: Tensor;
}

/** Groups the per-patch occlusion ratios (`ratios`, one per patch) by value. */
export function occlusionStats(
  ratios: ArrayLike<number>,
  dtype: DType,
  gpu: GpuContext | null,
): OcclusionStats {
  const r = rounder(dtype);
  const counts = new Map<number, number>();
  for (let j = 0; j < ratios.length; j++) {
    const v = r(ratios[j]);
    counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  const vals = [...counts.keys()].sort((a, b) => a - b);
  const m = vals.length;
  const f = Float32Array.from(vals);
  return {
    values: Tensor.fromArray(f, [1, m], { gpu }),
    valuesCol: Tensor.fromArray(f, [m, 1], { gpu }),
    logCounts: Tensor.fromArray(
      vals.map((v) => Math.log(counts.get(v)!)),
      [m],
      { gpu },
    ),
  };
}

export function disposeOcclusionStats(s: OcclusionStats): void {
  s.values.dispose();
  s.valuesCol.dispose();
  s.logCounts.dispose();
}

/**
 * The occlusion cross-attention's per-head attention output (before to_out) from its queries `q` [B, L, C]:
 * E[c] r_v + b_v, [B, L, C] in `dtype`.
 */
export function occlusionAttentionRank1(
  q: Tensor,
  s: BlockShortcuts,
  stats: OcclusionStats,
  dtype: DType,
): Tensor {
  const [B, L] = q.shape;
  const heads = s.occRk.shape[0];
  const a = linear(q, s.occRk, null, { dtype: 'f32' }); // [B, L, H]
  const scores = matmul(a.reshape([B * L * heads, 1]), stats.values, { dtype: 'f32' }); // [BLH, M]
  a.dispose();
  const biased = add(scores, stats.logCounts);
  scores.dispose();
  const p = softmax(biased);
  biased.dispose();
  const e = matmul(p, stats.valuesCol, { dtype: 'f32' }); // [BLH, 1]
  p.dispose();
  const out = linear(e.reshape([B, L, heads]), s.occRv, s.occBv, { dtype });
  e.dispose();
  return out;
}
