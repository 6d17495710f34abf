/**
 * Self-attention over the voxels of a sparse tensor: full (every voxel of a batch item attends to every voxel of
 * that item; flash-attn varlen with cu_seqlens = the batch layout) or swin windows (`windowPartition`).
 * Scale 1/sqrt(D), as flash-attn's default.
 *
 * @example
 * const o = sparseSelfAttention(q, k, v, x, { kind: 'full' }); // q, k, v [N, H, D]
 */

import { attentionVarlen } from '../ops/attention/attention.ts';
import { RowIndex } from '../ops/layout/index.ts';
import { gatherRows } from '../ops/layout/rows.ts';
import { ShapeError, shapeStr } from '../runtime/shape.ts';
import type { Tensor } from '../runtime/tensor.ts';
import type { SparseTensor } from './sparse-tensor.ts';
import { windowPartition } from './window.ts';

export type SparseAttentionMode = { kind: 'full' } | { kind: 'swin'; window: number; shift: number };

interface WindowIndex {
  fwd: RowIndex;
  bwd: RowIndex;
  starts: number[];
  dispose(): void;
}

/**
 * Multi-head self-attention of q, k, v [N, H, D] laid out on `x`'s voxels.
 * @example
 * const o = sparseSelfAttention(q, k, v, x, { kind: 'swin', window: 8, shift: 4 });
 */
export function sparseSelfAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  x: SparseTensor,
  mode: SparseAttentionMode,
): Tensor {
  const op = 'sparseSelfAttention';
  for (const t of [q, k, v]) {
    if (t.rank !== 3 || t.shape[0] !== x.n) {
      throw new ShapeError(
        op,
        `q, k, v must be [${x.n}, H, D]; got ${shapeStr(q.shape)}, ${shapeStr(k.shape)}, ${shapeStr(v.shape)}`,
      );
    }
  }
  if (mode.kind === 'full')
    return attentionVarlen(q, k, v, { qStarts: x.batchStarts, kStarts: x.batchStarts });
  const w = x.cached(`window.index.${mode.window}.${mode.shift}`, (): WindowIndex => {
    const p = windowPartition(x, mode.window, mode.shift);
    const inv = new Int32Array(p.perm.length);
    p.perm.forEach((r, i) => {
      inv[r] = i;
    });
    const fwd = RowIndex.from(p.perm);
    const bwd = RowIndex.from(inv);
    return {
      fwd,
      bwd,
      starts: p.starts,
      dispose() {
        fwd.dispose();
        bwd.dispose();
      },
    };
  });
  const [n, h, d] = q.shape;
  const g = (t: Tensor) => gatherRows(t.reshape([n, h * d]), w.fwd).reshape([n, h, d]);
  const qs = g(q);
  const ks = g(k);
  const vs = g(v);
  const o = attentionVarlen(qs, ks, vs, { qStarts: w.starts, kStarts: w.starts });
  for (const t of [qs, ks, vs]) t.dispose();
  const out = gatherRows(o.reshape([n, h * d]), w.bwd).reshape([n, h, d]);
  o.dispose();
  return out;
}
