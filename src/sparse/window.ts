/**
 * Swin-style window partition of a sparse tensor (official `calc_window_partition` in
 * `modules/sparse/attention/windowed_attn.py`): shifted coords c' = c + shift, window id per axis c' // window,
 * windows ordered by (batch, wx, wy, wz) (the official linear key b * Wx Wy Wz + (wx Wy + wy) Wz + wz with
 * W = ceil((max c' + 1) / window) over all rows), empty windows dropped.
 *
 * The official code orders rows with a non-stable `argsort` of the window key; we sort stably. Attention inside a
 * window does not depend on the order of its rows (up to summation order), and the inverse permutation restores
 * the input order, so the results agree.
 *
 * @example
 * const { perm, starts } = windowPartition(x, 8, 4); // rows perm[starts[s]..starts[s+1]) form window s
 */

import { ShapeError } from '../runtime/shape.ts';
import type { SparseTensor } from './sparse-tensor.ts';

export interface WindowPartition {
  /** Row order grouped by window (stable within a window). */
  perm: Int32Array;
  /** Offsets of the windows in `perm` (length windows + 1), flash-attn cu_seqlens. */
  starts: number[];
}

/**
 * Partitions the voxels of `x` into windows of `window`^3 after shifting coordinates by `shift`.
 * @example
 * const p = windowPartition(x, 4, 0);
 */
export function windowPartition(x: SparseTensor, window: number, shift: number): WindowPartition {
  if (!Number.isInteger(window) || window < 1 || !Number.isInteger(shift) || shift < 0) {
    throw new ShapeError(
      'windowPartition',
      `window must be a positive integer and shift >= 0; got ${window}, ${shift}`,
    );
  }
  return x.cached(`window.${window}.${shift}`, () => {
    const n = x.n;
    const c = x.coords;
    const max = [0, 0, 0];
    for (let i = 0; i < n; i++)
      for (let a = 0; a < 3; a++) max[a] = Math.max(max[a], c[4 * i + 1 + a] + shift);
    const nw = max.map((m) => Math.ceil((m + 1) / window));
    const keys = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const w = [0, 1, 2].map((a) => Math.floor((c[4 * i + 1 + a] + shift) / window));
      keys[i] = ((c[4 * i] * nw[0] + w[0]) * nw[1] + w[1]) * nw[2] + w[2];
    }
    const order = Array.from({ length: n }, (_, i) => i);
    order.sort((a, b) => keys[a] - keys[b] || a - b);
    const perm = Int32Array.from(order);
    const starts = [0];
    for (let i = 1; i < n; i++) if (keys[perm[i]] !== keys[perm[i - 1]]) starts.push(i);
    if (n > 0) starts.push(n);
    return { perm, starts };
  });
}
