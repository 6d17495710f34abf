/**
 * Sparse resampling by 2 (official `SparseDownsample`, `SparseUpsample`, `SparseSubdivide`).
 *
 * Downsample quirk (verified with torch 1.13, and it is `scatter_reduce`'s documented semantics): the official
 * module averages with `torch.scatter_reduce(zeros, ..., reduce='mean')` whose `include_self` defaults to True,
 * so the zero it starts from is counted: parent = sum(children) / (count + 1), not the plain mean the comments
 * suggest (a parent with one child gets half of it). We reproduce that: sum in ascending child order (as torch's
 * CPU loop), then divide by count + 1.
 *
 * Parent order: unique parent coordinates sorted by ((b X + x) Y + y) Z + z (torch.unique, ascending), i.e.
 * lexicographic (b, x, y, z). The child -> parent map, the parent coordinates and the parents' own cache are kept
 * in the child tensor's cache, so a sampling loop downsamples the same voxels with tables built once, and the
 * parents' neighbour maps are shared across steps.
 *
 * @example
 * const down = sparseDownsample(x);        // [N', C], coords // 2
 * const up = sparseUpsample(down, x);      // [N, C], x's coords and order
 */

import { div } from '../ops/elementwise/binary.ts';
import { RowIndex } from '../ops/layout/index.ts';
import { gatherRows, scatterAddRows } from '../ops/layout/rows.ts';
import { ShapeError } from '../runtime/shape.ts';
import { Tensor } from '../runtime/tensor.ts';
import { batchStartsOf, coordKey, SparseTensor } from './sparse-tensor.ts';

interface DownMap {
  coords: Int32Array;
  /** child row -> parent row */
  parent: RowIndex;
  /** count + 1 per parent (the official include_self mean divisor), as f32 [N', 1] uploads per device */
  divisor: Float32Array;
  divisorTensors: Map<string, Tensor>;
  cache: Map<string, unknown>;
  dispose(): void;
}

/** Parent coordinates and the child -> parent map of a downsample by `factor` (CPU, hash map + sort). */
export function downsampleMap(
  coords: Int32Array,
  factor = 2,
): { coords: Int32Array; parent: Int32Array; counts: Int32Array } {
  const n = coords.length / 4;
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    keys[i] = coordKey(
      coords[4 * i],
      Math.floor(coords[4 * i + 1] / factor),
      Math.floor(coords[4 * i + 2] / factor),
      Math.floor(coords[4 * i + 3] / factor),
    );
  }
  const uniq = Float64Array.from(new Set(keys)).sort();
  const rowOf = new Map<number, number>();
  for (let r = 0; r < uniq.length; r++) rowOf.set(uniq[r], r);
  const parent = new Int32Array(n);
  const counts = new Int32Array(uniq.length);
  for (let i = 0; i < n; i++) {
    const r = rowOf.get(keys[i]) as number;
    parent[i] = r;
    counts[r]++;
  }
  const out = new Int32Array(uniq.length * 4);
  for (let i = 0; i < n; i++) {
    const r = parent[i];
    out[4 * r] = coords[4 * i];
    out[4 * r + 1] = Math.floor(coords[4 * i + 1] / factor);
    out[4 * r + 2] = Math.floor(coords[4 * i + 2] / factor);
    out[4 * r + 3] = Math.floor(coords[4 * i + 3] / factor);
  }
  return { coords: out, parent, counts };
}

function downMap(x: SparseTensor, factor: number): DownMap {
  return x.cached(`down${factor}`, () => {
    const m = downsampleMap(x.coords, factor);
    const divisor = new Float32Array(m.counts.length);
    for (let r = 0; r < divisor.length; r++) divisor[r] = m.counts[r] + 1;
    const parent = RowIndex.from(m.parent);
    const divisorTensors = new Map<string, Tensor>();
    const cache = new Map<string, unknown>();
    return {
      coords: m.coords,
      parent,
      divisor,
      divisorTensors,
      cache,
      dispose() {
        parent.dispose();
        for (const t of divisorTensors.values()) t.dispose();
      },
    };
  });
}

/**
 * Downsamples by `factor` (official `SparseDownsample`): parent = sum(children) / (children + 1).
 * @example
 * const d = sparseDownsample(x); // coords // 2, rows in lexicographic order
 */
export function sparseDownsample(x: SparseTensor, factor = 2): SparseTensor {
  if (!Number.isInteger(factor) || factor < 1)
    throw new ShapeError('sparseDownsample', `factor must be a positive integer, got ${factor}`);
  const m = downMap(x, factor);
  const np = m.divisor.length;
  const sum = scatterAddRows(x.feats, m.parent, np);
  const key = `${x.feats.gpu ? 'gpu' : 'cpu'}:${x.feats.dtype}`;
  let d = m.divisorTensors.get(key);
  if (!d) {
    d = Tensor.fromArray(m.divisor, [np, 1], { gpu: x.feats.gpu, dtype: x.feats.dtype });
    m.divisorTensors.set(key, d);
  }
  const feats = div(sum, d);
  sum.dispose();
  return SparseTensor.create(feats, m.coords, m.cache);
}

/**
 * Upsamples `x` (the result of `sparseDownsample(target)`) back onto `target`'s voxels: each child gets its
 * parent's features (official `SparseUpsample`, nearest neighbour).
 * @example
 * const up = sparseUpsample(sparseDownsample(x), x);
 */
export function sparseUpsample(x: SparseTensor, target: SparseTensor, factor = 2): SparseTensor {
  const m = downMap(target, factor);
  if (m.divisor.length !== x.n) {
    throw new ShapeError(
      'sparseUpsample',
      `x has ${x.n} rows but downsampling the target's ${target.n} voxels by ${factor} gives ${m.divisor.length}`,
    );
  }
  return target.withFeats(gatherRows(x.feats, m.parent));
}

/** The 8 child offsets in the official order (torch.nonzero of a 2x2x2 cube: z fastest). */
export const SUBDIVIDE_OFFSETS: readonly (readonly [number, number, number])[] = [
  [0, 0, 0],
  [0, 0, 1],
  [0, 1, 0],
  [0, 1, 1],
  [1, 0, 0],
  [1, 0, 1],
  [1, 1, 0],
  [1, 1, 1],
];

/**
 * Splits every voxel into its 8 children at 2c + (i, j, k), children of a voxel consecutive in
 * `SUBDIVIDE_OFFSETS` order, features copied (official `SparseSubdivide`).
 * @example
 * const s = sparseSubdivide(x); // [8N, C]
 */
export function sparseSubdivide(x: SparseTensor): SparseTensor {
  const sub = x.cached('subdivide', () => {
    const n = x.n;
    const coords = new Int32Array(n * 32);
    const src = new Int32Array(n * 8);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 8; c++) {
        const r = i * 8 + c;
        const o = SUBDIVIDE_OFFSETS[c];
        coords[4 * r] = x.coords[4 * i];
        coords[4 * r + 1] = 2 * x.coords[4 * i + 1] + o[0];
        coords[4 * r + 2] = 2 * x.coords[4 * i + 2] + o[1];
        coords[4 * r + 3] = 2 * x.coords[4 * i + 3] + o[2];
        src[r] = i;
      }
    }
    batchStartsOf(coords, 'sparseSubdivide');
    const index = RowIndex.from(src);
    return {
      coords,
      index,
      cache: new Map<string, unknown>(),
      dispose() {
        index.dispose();
      },
    };
  });
  return SparseTensor.create(gatherRows(x.feats, sub.index), sub.coords, sub.cache);
}
