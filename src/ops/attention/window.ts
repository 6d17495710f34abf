/**
 * Byte windows of a GPU tensor for storage bindings that start at any element: the binding offset is rounded
 * down to the adapter's offset alignment and the kernel is told how many elements lie between the binding start
 * and the first element it wants (`base`). This avoids the row-alignment constraints of `planRowChunks`, which
 * for odd row sizes (e.g. 517 f16 values) would force chunks of 128 rows.
 */

import { bytesPerElement, type DType } from '../../runtime/dtype.ts';

export interface ElementWindow {
  binding: { buffer: GPUBuffer; offset: number; size: number };
  /** Elements between the binding start and element `start` (for indices relative to `start`). */
  base: number;
  /** Element index at which the binding starts (subtract it from absolute element indices). */
  origin: number;
}

/** Bytes a window over elements [start, end) occupies, including the alignment slack in front. */
export function windowBytes(dtype: DType, start: number, end: number, alignment: number): number {
  const bpe = bytesPerElement(dtype);
  const offset = Math.floor((start * bpe) / alignment) * alignment;
  return Math.max(4, Math.ceil((end * bpe) / 4) * 4 - offset);
}

/** A binding covering elements [start, end) of `t`, starting at an aligned byte offset at or before `start`. */
export function elementWindow(
  t: { buffer: GPUBuffer; dtype: DType },
  start: number,
  end: number,
  alignment: number,
): ElementWindow {
  const bpe = bytesPerElement(t.dtype);
  const offset = Math.floor((start * bpe) / alignment) * alignment;
  const size = Math.min(windowBytes(t.dtype, start, end, alignment), t.buffer.size - offset);
  return { binding: { buffer: t.buffer, offset, size }, base: start - offset / bpe, origin: offset / bpe };
}
