/**
 * Splitting work so that no storage binding exceeds `GpuContext.maxBinding` (128 MiB on lavapipe and in
 * Chrome by default; tests force 1 MiB). Ops that bind large tensors walk these chunks and dispatch once per chunk
 * with byte-offset bindings; offsets are kept multiples of the adapter's `minStorageBufferOffsetAlignment`.
 */

export interface Chunk {
  /** First row of the chunk. */
  start: number;
  /** Number of rows in the chunk. */
  count: number;
}

/**
 * Splits `rows` rows into chunks so that `count * bytesPerRow[k] <= maxBinding` for every binding k and every
 * chunk start is a multiple of `rowAlign` rows (so byte offsets stay aligned).
 * Throws if a single aligned group of rows is already too large: the caller must split another axis.
 */
export function planRowChunks(
  op: string,
  rows: number,
  bytesPerRow: readonly number[],
  maxBinding: number,
  rowAlign = 1,
): Chunk[] {
  const widest = Math.max(...bytesPerRow, 1);
  let per = Math.floor(maxBinding / widest);
  per -= per % rowAlign;
  if (per <= 0) {
    throw new Error(
      `${op}: one group of ${rowAlign} row(s) needs ${widest * rowAlign} bytes, more than the ${maxBinding}-byte storage binding limit`,
    );
  }
  const out: Chunk[] = [];
  for (let s = 0; s < rows; s += per) out.push({ start: s, count: Math.min(per, rows - s) });
  if (out.length === 0) out.push({ start: 0, count: 0 });
  return out;
}

/** Smallest row count r such that r * bytesPerRow is a multiple of `alignment` bytes. */
export function alignedRows(bytesPerRow: number, alignment: number): number {
  const g = gcd(bytesPerRow, alignment);
  return alignment / g;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Splits a workgroup count into [x, y] under the per-dimension limit (kernels linearise with `x + y * nx`). */
export function splitWorkgroups(count: number, maxPerDim: number): [number, number] {
  if (count <= maxPerDim) return [count, 1];
  const y = Math.ceil(count / maxPerDim);
  return [Math.ceil(count / y), y];
}

/**
 * A storage binding over elements [start, start + count) of a GPU tensor (whole tensor by default).
 * Sizes are rounded up to 4 bytes (packed f16); pool buffers are at least 256 bytes, so the rounding stays inside.
 */
export function binding(
  t: { buffer: GPUBuffer; dtype: 'f32' | 'f16'; size: number },
  start = 0,
  count = t.size,
): { buffer: GPUBuffer; offset: number; size: number } {
  const bpe = t.dtype === 'f16' ? 2 : 4;
  const offset = start * bpe;
  const size = Math.min(Math.max(4, Math.ceil((count * bpe) / 4) * 4), t.buffer.size - offset);
  return { buffer: t.buffer, offset, size };
}
