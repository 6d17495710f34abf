/** Node-only safetensors helpers: open a file by path, write a file atomically. */

import { writeAll, writeFileAtomic } from './atomic-write.ts';
import { FileByteSource } from './byte-source.node.ts';
import { planSafetensors, SafetensorsReader, type WritableTensor } from './safetensors.ts';

/**
 * Opens a safetensors file for on-demand reads; close it with `reader.close()`.
 * @example
 * const r = await openSafetensorsFile('ckpts/ss_dec.safetensors');
 * try { console.log(r.names.length, r.metadata); } finally { await r.close(); }
 */
export async function openSafetensorsFile(path: string): Promise<SafetensorsReader> {
  const src = await FileByteSource.open(path);
  try {
    return await SafetensorsReader.open(src);
  } catch (e) {
    await src.close();
    throw e;
  }
}

/**
 * Writes `tensors` (and `metadata`) to `path` atomically (temp file + rename), byte-compatible with the
 * reference writer.
 * @example
 * await writeSafetensors('out.safetensors', { bias: { dtype: 'F16', shape: [3], data: new Float32Array([1, 2, 3]) } }, { format: 'pt' });
 */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, WritableTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  const plan = planSafetensors(tensors, metadata);
  await writeFileAtomic(path, async (fh) => {
    await writeAll(fh, plan.header);
    for (const t of plan.tensors) await writeAll(fh, t);
  });
}
