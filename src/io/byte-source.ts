/**
 * Random-access byte sources, so readers (safetensors, PLY) fetch only the ranges they need instead of the whole
 * file: a multi-GB checkpoint is read tensor by tensor.
 *
 * This module is browser-safe; the Node file implementation lives in `byte-source.node.ts` so bundles for the web
 * never pull in `node:fs`.
 */

/** A read-only, random-access sequence of bytes. */
export interface ByteSource {
  /** Total length in bytes. */
  readonly size: number;
  /** A name for error messages (a file path or a File's name). */
  readonly name: string;
  /**
   * Exactly `length` bytes starting at `offset`, in a fresh Uint8Array the caller may keep or modify. Rejects
   * when the range runs past `size` or the underlying storage ends early.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Optional: fills `target` with the `target.byteLength` bytes at `offset` (lets a caller reuse one buffer for
   * many reads instead of faulting in fresh memory each time). Same range checks as `read`.
   */
  readInto?(offset: number, target: Uint8Array): Promise<void>;
  /** Releases the underlying handle (files); a no-op for in-memory sources. */
  close?(): Promise<void>;
}

/** Thrown when a byte range lies outside the source (a truncated or corrupt file). */
export class ByteRangeError extends Error {
  constructor(source: string, offset: number, length: number, size: number) {
    super(
      `${source}: read of ${length} bytes at offset ${offset} runs past the end (${size} bytes); ` +
        'the file is truncated or corrupt — re-download it',
    );
    this.name = 'ByteRangeError';
  }
}

/** Throws a ByteRangeError unless [offset, offset + length) lies inside a source of `size` bytes. */
export function checkRange(name: string, offset: number, length: number, size: number): void {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > size
  ) {
    throw new ByteRangeError(name, offset, length, size);
  }
}

/**
 * A source over bytes already in memory (a fetched ArrayBuffer, a test fixture).
 * @example
 * const src = bytesSource(new Uint8Array(await (await fetch(url)).arrayBuffer()), 'model.safetensors');
 */
export function bytesSource(bytes: Uint8Array | ArrayBuffer, name = '<memory>'): ByteSource {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return {
    size: view.byteLength,
    name,
    async read(offset: number, length: number): Promise<Uint8Array> {
      checkRange(name, offset, length, view.byteLength);
      return view.slice(offset, offset + length);
    },
  };
}

/**
 * A source over a browser `Blob`/`File` (e.g. from `<input type=file>` or drag and drop); each read slices the
 * blob, so the browser never loads the whole file into memory.
 * @example
 * const src = blobSource(input.files[0]);
 * const reader = await SafetensorsReader.open(src);
 */
export function blobSource(blob: Blob, name?: string): ByteSource {
  const label = name ?? ((blob as { name?: unknown }).name as string | undefined) ?? '<blob>';
  return {
    size: blob.size,
    name: label,
    async read(offset: number, length: number): Promise<Uint8Array> {
      checkRange(label, offset, length, blob.size);
      const buf = await blob.slice(offset, offset + length).arrayBuffer();
      // A Blob backed by a file that shrank after it was picked yields fewer bytes.
      if (buf.byteLength !== length) throw new ByteRangeError(label, offset, length, offset + buf.byteLength);
      return new Uint8Array(buf);
    },
  };
}
