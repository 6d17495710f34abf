/**
 * Node file implementation of `ByteSource`: positional reads through one `fs.promises` FileHandle, never reading
 * the whole file. (Alternatives: `fs.readFile` loads everything — 2+ GB checkpoints would sit in memory twice
 * once uploaded; mmap needs a native addon.)
 */

import { type FileHandle, open } from 'node:fs/promises';
import { ByteRangeError, type ByteSource, checkRange } from './byte-source.ts';

/** A ByteSource over a file on disk; call `close()` when done. */
export class FileByteSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  private handle: FileHandle | null;

  private constructor(path: string, handle: FileHandle, size: number) {
    this.name = path;
    this.handle = handle;
    this.size = size;
  }

  /**
   * Opens `path` for reading.
   * @example
   * const src = await FileByteSource.open('ckpts/ss_flow.safetensors');
   * try { const head = await src.read(0, 8); } finally { await src.close(); }
   */
  static async open(path: string): Promise<FileByteSource> {
    const handle = await open(path, 'r');
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new Error(`${path} is not a regular file`);
      return new FileByteSource(path, handle, st.size);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this.name, offset, length, this.size); // before allocating: a corrupt length must not allocate
    const out = new Uint8Array(length);
    await this.readInto(offset, out);
    return out;
  }

  async readInto(offset: number, out: Uint8Array): Promise<void> {
    const length = out.byteLength;
    checkRange(this.name, offset, length, this.size);
    if (!this.handle) throw new Error(`${this.name}: read after close()`);
    let done = 0;
    // A positional read may return fewer bytes than asked (large reads are capped near 2 GiB); loop until full.
    while (done < length) {
      const { bytesRead } = await this.handle.read(out, done, length - done, offset + done);
      if (bytesRead === 0) throw new ByteRangeError(this.name, offset, length, offset + done);
      done += bytesRead;
    }
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = null;
    await h?.close();
  }
}
