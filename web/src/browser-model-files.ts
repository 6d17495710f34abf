/**
 * {@link ModelFiles} for the browser: a folder picked with `<input webkitdirectory>` (a list of `File`s), a
 * folder opened with the File System Access API (`FileSystemDirectoryHandle`), or a URL serving the model
 * folder's layout over HTTP. Every variant reads weights by byte range (Blob slices, `getFile().slice`, HTTP
 * `Range` requests), so a checkpoint is streamed tensor by tensor and never held whole in memory.
 *
 * Notes:
 * - HTTP cannot list folders, so the URL variant answers `kind()` for a path without a file extension with
 *   'dir' (the model layout's folders have no dots) and checks files with a one-byte `Range` GET (some static
 *   hosts and CDNs answer HEAD differently from GET). A folder that is really missing then shows up as the files
 *   in it being missing, which the model validator reports file by file.
 * - Servers that ignore `Range` (status 200 instead of 206) still work: the whole body is fetched once and
 *   sliced, with a warning through `onWarning`, since a multi-GB checkpoint would then sit in memory.
 * - `countingModelFiles` wraps any variant to report bytes read (the weight-streaming progress bar).
 */

import { type ByteSource, blobSource, bytesSource, checkRange } from '../../src/io/byte-source.ts';
import { joinRel, type ModelFileKind, type ModelFiles } from '../../src/io/model-files.ts';

/** A picked file with its path inside the picked folder (`webkitRelativePath` minus the folder's own name). */
export interface RelFile {
  path: string;
  file: File;
}

/**
 * Paths of files from `<input webkitdirectory>`: drops the first segment (the picked folder's name), so paths
 * are relative to the model folder. Also accepts files whose path is already relative (drag and drop).
 * @example
 * const files = relFilesFromInput([...input.files]);
 */
export function relFilesFromInput(files: readonly File[]): { root: string; files: RelFile[] } {
  const withPath = files.map((f) => ({ file: f, full: f.webkitRelativePath || f.name }));
  const firsts = new Set(withPath.map((f) => f.full.split('/')[0]));
  const strip = firsts.size === 1 && withPath.every((f) => f.full.includes('/'));
  const root = strip ? [...firsts][0] : 'picked files';
  return {
    root,
    files: withPath.map((f) => ({
      path: joinRel(strip ? f.full.slice(f.full.indexOf('/') + 1) : f.full),
      file: f.file,
    })),
  };
}

/**
 * Model files over a picked file list.
 * @example
 * const { root, files } = relFilesFromInput([...input.files]);
 * const model = await openModelDir(fileListModelFiles(files, root));
 */
export function fileListModelFiles(files: readonly RelFile[], root: string): ModelFiles {
  const byPath = new Map<string, File>();
  for (const f of files) byPath.set(joinRel(f.path), f.file);
  const make = (prefix: string): ModelFiles => {
    const full = (rel: string) => joinRel(prefix, rel);
    const display = (rel: string) => [root, full(rel)].filter((s) => s !== '').join('/');
    const get = (rel: string): File => {
      const f = byPath.get(full(rel));
      if (!f) throw new Error(`${display(rel)}: no such file in the picked folder`);
      return f;
    };
    return {
      root: display(''),
      async kind(rel): Promise<ModelFileKind> {
        const p = full(rel);
        if (byPath.has(p)) return 'file';
        const dir = p === '' ? '' : `${p}/`;
        for (const k of byPath.keys()) if (k.startsWith(dir)) return 'dir';
        return null;
      },
      readText: async (rel) => get(rel).text(),
      open: async (rel) => blobSource(get(rel), display(rel)),
      sub: (rel) => make(full(rel)),
      display,
    };
  };
  return make('');
}

/** The parts of `FileSystemDirectoryHandle` used here (the DOM typings of TS 5.9 lack the async iterators). */
export interface DirHandle {
  readonly name: string;
  getDirectoryHandle(name: string): Promise<DirHandle>;
  getFileHandle(name: string): Promise<{ getFile(): Promise<File> }>;
}

/**
 * Model files over a folder opened with `window.showDirectoryPicker()` (Chromium browsers).
 * @example
 * const handle = await window.showDirectoryPicker();
 * const model = await openModelDir(directoryHandleModelFiles(handle));
 */
export function directoryHandleModelFiles(handle: DirHandle): ModelFiles {
  const root = handle.name;
  const resolveDir = async (parts: string[]): Promise<DirHandle> => {
    let h = handle;
    for (const p of parts) h = await h.getDirectoryHandle(p);
    return h;
  };
  const getFile = async (p: string): Promise<File> => {
    const parts = p.split('/');
    const name = parts.pop()!;
    const dir = await resolveDir(parts);
    return (await dir.getFileHandle(name)).getFile();
  };
  const make = (prefix: string): ModelFiles => {
    const full = (rel: string) => joinRel(prefix, rel);
    const display = (rel: string) => [root, full(rel)].filter((s) => s !== '').join('/');
    return {
      root: display(''),
      async kind(rel): Promise<ModelFileKind> {
        const p = full(rel);
        if (p === '') return 'dir';
        const parts = p.split('/');
        const name = parts.pop()!;
        let dir: DirHandle;
        try {
          dir = await resolveDir(parts);
        } catch {
          return null;
        }
        // TypeMismatchError tells a file from a folder; NotFoundError means neither.
        try {
          await dir.getFileHandle(name);
          return 'file';
        } catch {
          try {
            await dir.getDirectoryHandle(name);
            return 'dir';
          } catch {
            return null;
          }
        }
      },
      async readText(rel) {
        try {
          return await (await getFile(full(rel))).text();
        } catch (e) {
          throw new Error(`${display(rel)}: cannot read (${(e as Error).message})`);
        }
      },
      async open(rel) {
        let f: File;
        try {
          f = await getFile(full(rel));
        } catch (e) {
          throw new Error(`${display(rel)}: cannot open (${(e as Error).message})`);
        }
        return blobSource(f, display(rel));
      },
      sub: (rel) => make(full(rel)),
      display,
    };
  };
  return make('');
}

/** Options for {@link urlModelFiles}. */
export interface UrlModelFilesOptions {
  /** The fetch to use (tests pass one; default the global). */
  fetch?: typeof fetch;
  /** Called once per file served without Range support. */
  onWarning?: (message: string) => void;
}

/** Thrown for HTTP failures; the message names the URL and the status. */
export class HttpFileError extends Error {
  readonly status: number;
  constructor(url: string, status: number, what: string) {
    super(`${url}: ${what} (HTTP ${status})`);
    this.name = 'HttpFileError';
    this.status = status;
  }
}

/** Matches `bytes <start>-<end>/<size>` of a Content-Range header. */
const CONTENT_RANGE = /^bytes\s+\d+-\d+\/(\d+)$/i;

/**
 * Model files served over HTTP(S) from `baseUrl` (the model folder's layout under it). CORS must allow `Range`
 * for another origin.
 * @example
 * const model = await openModelDir(urlModelFiles('https://example.org/models/amodal3r-tiny/'));
 */
export function urlModelFiles(baseUrl: string, options: UrlModelFilesOptions = {}): ModelFiles {
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const url = (p: string) => new URL(p.split('/').map(encodeURIComponent).join('/'), base).href;
  const make = (prefix: string): ModelFiles => {
    const full = (rel: string) => joinRel(prefix, rel);
    const display = (rel: string) => url(full(rel));
    return {
      root: display(''),
      async kind(rel): Promise<ModelFileKind> {
        const p = full(rel);
        const last = p.split('/').pop() ?? '';
        if (!last.includes('.')) return 'dir';
        let res: Response;
        try {
          res = await doFetch(url(p), { headers: { Range: 'bytes=0-0' } });
        } catch {
          return null;
        }
        await res.body?.cancel();
        return res.ok ? 'file' : null;
      },
      async readText(rel) {
        const u = display(rel);
        const res = await doFetch(u);
        if (!res.ok) throw new HttpFileError(u, res.status, 'cannot download');
        return res.text();
      },
      async open(rel) {
        const u = display(rel);
        const probe = await doFetch(u, { headers: { Range: 'bytes=0-0' } });
        if (probe.status === 200) {
          options.onWarning?.(
            `${u}: the server ignores Range requests, so the whole file is downloaded into memory`,
          );
          return bytesSource(new Uint8Array(await probe.arrayBuffer()), u);
        }
        if (probe.status !== 206) {
          await probe.body?.cancel();
          throw new HttpFileError(u, probe.status, 'cannot open');
        }
        await probe.arrayBuffer();
        const m = CONTENT_RANGE.exec(probe.headers.get('content-range') ?? '');
        if (!m)
          throw new HttpFileError(u, probe.status, 'partial answer without a usable Content-Range header');
        const size = Number(m[1]);
        const src: ByteSource = {
          size,
          name: u,
          async read(offset: number, length: number): Promise<Uint8Array> {
            checkRange(u, offset, length, size);
            if (length === 0) return new Uint8Array(0);
            const res = await doFetch(u, { headers: { Range: `bytes=${offset}-${offset + length - 1}` } });
            if (res.status !== 206)
              throw new HttpFileError(u, res.status, `range ${offset}+${length} failed`);
            const buf = new Uint8Array(await res.arrayBuffer());
            if (buf.byteLength !== length)
              throw new HttpFileError(
                u,
                res.status,
                `range ${offset}+${length} returned ${buf.byteLength} bytes`,
              );
            return buf;
          },
        };
        return src;
      },
      sub: (rel) => make(full(rel)),
      display,
    };
  };
  return make('');
}

/** Bytes read through a {@link countingModelFiles} wrapper. */
export interface ReadCounter {
  /** Bytes read so far from `.safetensors` files. */
  read: number;
  /** Total size of the distinct `.safetensors` files opened so far. */
  total: number;
}

/**
 * Wraps model files to count weight bytes read (for the streaming progress bar); `onRead` fires after each read.
 * @example
 * const counter = { read: 0, total: 0 };
 * const files = countingModelFiles(urlModelFiles(url), counter, () => post(counter));
 */
export function countingModelFiles(inner: ModelFiles, counter: ReadCounter, onRead: () => void): ModelFiles {
  const seen = new Set<string>();
  const wrap = (files: ModelFiles): ModelFiles => ({
    root: files.root,
    kind: (rel) => files.kind(rel),
    readText: (rel) => files.readText(rel),
    async open(rel) {
      const src = await files.open(rel);
      if (!rel.endsWith('.safetensors')) return src;
      const key = files.display(rel);
      if (!seen.has(key)) {
        seen.add(key);
        counter.total += src.size;
      }
      return {
        size: src.size,
        name: src.name,
        async read(offset, length) {
          const b = await src.read(offset, length);
          counter.read += b.byteLength;
          onRead();
          return b;
        },
        close: src.close ? () => src.close!() : undefined,
      };
    },
    sub: (rel) => wrap(files.sub(rel)),
    display: (rel) => files.display(rel),
  });
  return wrap(inner);
}
