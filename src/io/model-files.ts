/**
 * A read-only view of a folder of model files (a Hugging Face repo layout), so model loading works the same over
 * a directory on disk (Node, `model-files.node.ts`), files picked in a browser, a URL or bytes in memory.
 *
 * Paths are relative, `/`-separated (`Amodal3R_ckpts/ss_dec.json`); `''` is the root. Browser-safe.
 */

import { type ByteSource, bytesSource } from './byte-source.ts';

/** What a relative path names. */
export type ModelFileKind = 'file' | 'dir' | null;

/** A folder of model files. */
export interface ModelFiles {
  /** The folder's name for messages (an absolute path, a URL, a picked folder's name). */
  readonly root: string;
  /** 'file', 'dir' or null when nothing is there. */
  kind(rel: string): Promise<ModelFileKind>;
  /** The whole file as UTF-8 text. */
  readText(rel: string): Promise<string>;
  /** A random-access source over the file (close it when done). */
  open(rel: string): Promise<ByteSource>;
  /** The same files seen from a subfolder. */
  sub(rel: string): ModelFiles;
  /** `rel` as a path for messages (root joined with rel). */
  display(rel: string): string;
}

/** Joins `/`-separated path parts, dropping empty ones and `.`; refuses `..` (model files never leave the root). */
export function joinRel(...parts: string[]): string {
  const out: string[] = [];
  for (const part of parts) {
    for (const seg of part.split('/')) {
      if (seg === '' || seg === '.') continue;
      if (seg === '..') throw new Error(`model file path '${parts.join('/')}' leaves the model folder`);
      out.push(seg);
    }
  }
  return out.join('/');
}

/**
 * Model files held in memory (tests, files fetched or picked in a browser): `files` maps relative paths to bytes.
 * @example
 * const files = memoryModelFiles(new Map([['pipeline.json', new TextEncoder().encode('{...}')]]), 'picked folder');
 * const model = await openModelDir(files);
 */
export function memoryModelFiles(files: ReadonlyMap<string, Uint8Array>, root = '<memory>'): ModelFiles {
  const norm = new Map<string, Uint8Array>();
  for (const [k, v] of files) norm.set(joinRel(k), v);
  const make = (prefix: string): ModelFiles => {
    const full = (rel: string) => joinRel(prefix, rel);
    return {
      root: prefix ? `${root}/${prefix}` : root,
      async kind(rel) {
        const p = full(rel);
        if (norm.has(p)) return 'file';
        const dir = p === '' ? '' : `${p}/`;
        for (const k of norm.keys()) if (k.startsWith(dir)) return 'dir';
        return null;
      },
      async readText(rel) {
        const b = norm.get(full(rel));
        if (!b) throw new Error(`${root}/${full(rel)}: no such file`);
        return new TextDecoder().decode(b);
      },
      async open(rel) {
        const b = norm.get(full(rel));
        if (!b) throw new Error(`${root}/${full(rel)}: no such file`);
        return bytesSource(b, `${root}/${full(rel)}`);
      },
      sub: (rel) => make(full(rel)),
      display: (rel) => `${root}/${full(rel)}`,
    };
  };
  return make('');
}

/**
 * A path on disk (Node only; the Node implementation is loaded on demand so browser bundles never include it)
 * or files already wrapped.
 */
export async function resolveModelFiles(dirOrFiles: string | ModelFiles): Promise<ModelFiles> {
  if (typeof dirOrFiles !== 'string') return dirOrFiles;
  const { nodeModelFiles } = await import('./model-files.node.ts');
  return nodeModelFiles(dirOrFiles);
}
