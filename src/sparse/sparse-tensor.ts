/**
 * `SparseTensor`: features [N, C] on the runtime (CPU or GPU) plus integer coordinates (batch, x, y, z) on the CPU.
 *
 * Coordinates never leave the CPU: every structural computation (neighbour maps, downsample parents, window
 * partitions) is done there once per coordinate set with hash maps, and the resulting integer tables are
 * uploaded once and kept in `cache`. Tensors made with `withFeats` share coords and cache, so a sampling loop
 * that runs the same network on the same voxels 24 times builds each table once.
 *
 * Row order: rows are grouped by batch item (item b owns rows batchStarts[b]..batchStarts[b+1]), as the official
 * `SparseTensor.layout`. Within an item the order is whatever produced the tensor (lexicographic for stage-1
 * output and after a downsample).
 *
 * @example
 * const x = SparseTensor.create(Tensor.fromArray(feats, [n, 8], { gpu }), coords); // coords: Int32Array n*4
 * const y = x.withFeats(linear(x.feats, w, b)); // same voxels, new features
 */

import { ShapeError, shapeStr } from '../runtime/shape.ts';
import type { Tensor } from '../runtime/tensor.ts';

/** Something a cache entry may own (GPU index tensors, RowIndex uploads). */
export interface Disposable {
  dispose(): void;
}

function isDisposable(v: unknown): v is Disposable {
  return typeof v === 'object' && v !== null && typeof (v as Disposable).dispose === 'function';
}

/** Largest coordinate the official code supports ("Coords should be in [0, 1023]"); keys below rely on it. */
export const SPARSE_COORD_LIMIT = 1024;

/** Row-offset table of a batch-grouped coordinate list; throws when rows of an item are not contiguous. */
export function batchStartsOf(coords: Int32Array, op = 'SparseTensor'): number[] {
  if (coords.length % 4 !== 0)
    throw new ShapeError(op, `coords length ${coords.length} is not a multiple of 4`);
  const n = coords.length / 4;
  const starts = [0];
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const b = coords[4 * i];
    if (b < prev) {
      throw new ShapeError(
        op,
        `rows must be grouped by batch in ascending order; row ${i} has batch ${b} after ${prev}`,
      );
    }
    for (let a = 1; a < 4; a++) {
      const c = coords[4 * i + a];
      if (c < 0 || c >= SPARSE_COORD_LIMIT) {
        throw new RangeError(`${op}: coordinate ${c} of row ${i} is outside [0, ${SPARSE_COORD_LIMIT})`);
      }
    }
    while (starts.length <= b) starts.push(i);
    prev = b;
  }
  starts.push(n);
  return starts;
}

export class SparseTensor {
  readonly feats: Tensor;
  readonly coords: Int32Array;
  readonly batchStarts: number[];
  /** Neighbour maps, parent maps, index uploads: shared by every tensor with these coords. */
  readonly cache: Map<string, unknown>;

  private constructor(feats: Tensor, coords: Int32Array, batchStarts: number[], cache: Map<string, unknown>) {
    this.feats = feats;
    this.coords = coords;
    this.batchStarts = batchStarts;
    this.cache = cache;
  }

  /**
   * Wraps features [N, C] and coordinates (N x (batch, x, y, z), rows grouped by batch).
   * @example
   * const s = SparseTensor.create(Tensor.fromArray([1, 2], [2, 1]), new Int32Array([0, 0, 0, 0, 0, 0, 0, 1]));
   */
  static create(feats: Tensor, coords: Int32Array, cache?: Map<string, unknown>): SparseTensor {
    if (feats.rank !== 2 || feats.shape[0] * 4 !== coords.length) {
      throw new ShapeError(
        'SparseTensor.create',
        `feats must be [N, C] with N = coords.length / 4 = ${coords.length / 4}; got ${shapeStr(feats.shape)}`,
      );
    }
    return new SparseTensor(feats, coords, batchStartsOf(coords, 'SparseTensor.create'), cache ?? new Map());
  }

  /** Same coordinates and cache, new features (same row count). */
  withFeats(f: Tensor): SparseTensor {
    if (f.rank !== 2 || f.shape[0] !== this.n) {
      throw new ShapeError('SparseTensor.withFeats', `expected [${this.n}, C], got ${shapeStr(f.shape)}`);
    }
    return new SparseTensor(f, this.coords, this.batchStarts, this.cache);
  }

  get n(): number {
    return this.coords.length / 4;
  }

  get channels(): number {
    return this.feats.shape[1];
  }

  get batchSize(): number {
    return this.batchStarts.length - 1;
  }

  /** Typed cache lookup; `make` runs once per coordinate set. */
  cached<T>(key: string, make: () => T): T {
    if (this.cache.has(key)) return this.cache.get(key) as T;
    const v = make();
    this.cache.set(key, v);
    return v;
  }

  /** Releases every GPU upload held in the cache (recursively into nested caches) and empties it. */
  disposeCache(): void {
    disposeCacheMap(this.cache);
  }
}

/**
 * Disposes every cache entry: disposable values, nested Maps, and the nested `cache` Map of entries that carry
 * one (e.g. a downsample entry holding the parents' cache).
 */
export function disposeCacheMap(cache: Map<string, unknown>): void {
  for (const v of cache.values()) {
    if (v instanceof Map) disposeCacheMap(v as Map<string, unknown>);
    else if (typeof v === 'object' && v !== null) {
      if (isDisposable(v)) v.dispose();
      const inner = (v as { cache?: unknown }).cache;
      if (inner instanceof Map) disposeCacheMap(inner as Map<string, unknown>);
    }
  }
  cache.clear();
}

/** Packs (b, x, y, z) into one exact double (coords < 1024, batch < 2^22). */
export function coordKey(b: number, x: number, y: number, z: number): number {
  return ((b * SPARSE_COORD_LIMIT + x) * SPARSE_COORD_LIMIT + y) * SPARSE_COORD_LIMIT + z;
}
