/** Node implementation of {@link ModelFiles}: a directory on disk, files read by positional reads. */

import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FileByteSource } from './byte-source.node.ts';
import type { ByteSource } from './byte-source.ts';
import { joinRel, type ModelFileKind, type ModelFiles } from './model-files.ts';

/**
 * The files under `dir`.
 * @example
 * const model = await openModelDir(nodeModelFiles('models/Amodal3R'));
 */
export function nodeModelFiles(dir: string): ModelFiles {
  const root = resolve(dir);
  const abs = (rel: string) => {
    const r = joinRel(rel);
    return r ? join(root, ...r.split('/')) : root;
  };
  return {
    root,
    async kind(rel): Promise<ModelFileKind> {
      try {
        const st = await stat(abs(rel));
        return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : null;
      } catch {
        return null;
      }
    },
    readText: (rel) => readFile(abs(rel), 'utf8'),
    open: (rel): Promise<ByteSource> => FileByteSource.open(abs(rel)),
    sub: (rel) => nodeModelFiles(abs(rel)),
    display: abs,
  };
}
