/**
 * `RowIndex`: an integer row index known on the CPU (Int32Array), uploaded to a GPU once and reused, with its
 * inverse (CSR: source rows grouped by target row) built lazily for the scatter ops.
 *
 * Row-index arguments of the layout ops accept a plain Int32Array (uploaded by the op for that call) or a RowIndex
 * (uploaded once, cached per GPU context: use it when the same index is applied many times, e.g. a sparse
 * downsample's parent map used by every sampling step). `gatherRows` also takes an f32 Tensor of integral values
 * (exact up to 2^24), so an index produced on the GPU needs no readback.
 *
 * @example
 * const idx = RowIndex.from(new Int32Array([2, 0, 2]));
 * const y = gatherRows(x, idx); // rows 2, 0, 2 of x
 * idx.dispose();
 */

import type { GpuContext } from '../../runtime/gpu.ts';

export interface RowInverse {
  /** Source rows sorted by target row (ascending source within a target). */
  order: Int32Array;
  /** order[offsets[n] .. offsets[n + 1]) are the sources of target row n; length rows + 1. */
  offsets: Int32Array;
}

export class RowIndex {
  readonly values: Int32Array;
  private readonly uploads = new Map<GpuContext, GPUBuffer>();
  private readonly inverses = new Map<number, RowInverse>();
  private readonly inverseUploads = new Map<string, { order: GPUBuffer; offsets: GPUBuffer }>();
  private readonly contexts = new Map<string, GpuContext>();

  private constructor(values: Int32Array) {
    this.values = values;
  }

  static from(values: Int32Array | readonly number[]): RowIndex {
    return new RowIndex(Int32Array.from(values));
  }

  get length(): number {
    return this.values.length;
  }

  /** Throws naming `op` unless every value lies in [0, rows). */
  assertRange(op: string, rows: number): void {
    for (let i = 0; i < this.values.length; i++) {
      const v = this.values[i];
      if (v < 0 || v >= rows) throw new RangeError(`${op}: index[${i}] = ${v} is outside [0, ${rows})`);
    }
  }

  /** The index as an i32 GPU buffer on `gpu` (uploaded on first use). */
  gpuBuffer(gpu: GpuContext): GPUBuffer {
    let b = this.uploads.get(gpu);
    if (!b) {
      b = upload(gpu, this.values);
      this.uploads.set(gpu, b);
    }
    return b;
  }

  /** The inverse map for `rows` target rows (counting sort: stable, so sources stay ascending). */
  inverse(rows: number): RowInverse {
    let inv = this.inverses.get(rows);
    if (!inv) {
      const offsets = new Int32Array(rows + 1);
      for (const v of this.values) offsets[v + 1]++;
      for (let n = 0; n < rows; n++) offsets[n + 1] += offsets[n];
      const fill = offsets.slice(0, rows);
      const order = new Int32Array(this.values.length);
      for (let m = 0; m < this.values.length; m++) order[fill[this.values[m]]++] = m;
      inv = { order, offsets };
      this.inverses.set(rows, inv);
    }
    return inv;
  }

  /** The inverse map uploaded to `gpu` (i32 buffers). */
  inverseBuffers(gpu: GpuContext, rows: number): { order: GPUBuffer; offsets: GPUBuffer } {
    const key = `${rows}@${this.contextId(gpu)}`;
    let b = this.inverseUploads.get(key);
    if (!b) {
      const inv = this.inverse(rows);
      b = { order: upload(gpu, inv.order), offsets: upload(gpu, inv.offsets) };
      this.inverseUploads.set(key, b);
    }
    return b;
  }

  private contextId(gpu: GpuContext): string {
    for (const [k, g] of this.contexts) if (g === gpu) return k;
    const k = String(this.contexts.size);
    this.contexts.set(k, gpu);
    return k;
  }

  /** Returns the uploaded buffers to their contexts' pools. */
  dispose(): void {
    for (const [gpu, b] of this.uploads) gpu.releaseBuffer(b);
    this.uploads.clear();
    for (const [key, b] of this.inverseUploads) {
      const gpu = this.contexts.get(key.split('@')[1])!;
      gpu.releaseBuffer(b.order);
      gpu.releaseBuffer(b.offsets);
    }
    this.inverseUploads.clear();
  }
}

function upload(gpu: GpuContext, values: Int32Array): GPUBuffer {
  // One spare element: an empty window at the very end (targets with no sources after the last source) still
  // gets a non-empty binding.
  const b = gpu.allocBuffer(values.byteLength + 4);
  if (values.length > 0) gpu.writeBuffer(b, 0, values);
  return b;
}
