/**
 * Atomic file writes: write a temporary file in the target's directory, flush it, then rename it over the target.
 * A crash or error mid-write leaves either the old file or none, never a truncated one (rename is atomic within
 * one filesystem, hence the same directory). The temporary file is removed on error.
 */

import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Content for `writeFileAtomic`: bytes, text (UTF-8), or a function that writes through the handle. */
export type AtomicContent = Uint8Array | string | ((handle: FileHandle) => Promise<void>);

/** Writes all of `bytes` at the handle's current position (FileHandle.write may write less than asked). */
export async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done);
    if (bytesWritten <= 0) throw new Error('write made no progress (disk full?)');
    done += bytesWritten;
  }
}

/**
 * Writes `content` to `path` atomically (temp file in the same directory + rename).
 * @example
 * await writeFileAtomic('out/mesh.ply', bytes);
 * await writeFileAtomic('out/big.bin', async (fh) => { for (const part of parts) await writeAll(fh, part); });
 */
export async function writeFileAtomic(path: string, content: AtomicContent): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | null = await open(tmp, 'wx');
  try {
    if (typeof content === 'function') await content(handle);
    else await writeAll(handle, typeof content === 'string' ? new TextEncoder().encode(content) : content);
    await handle.sync();
    await handle.close();
    handle = null;
    await rename(tmp, path);
  } catch (e) {
    await handle?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
}
