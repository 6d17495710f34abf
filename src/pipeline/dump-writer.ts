/**
 * Node side of `--dump DIR`: collects the tensors `runPipeline` hands to its dump sink and writes one safetensors
 * file per group (`encode.safetensors`, `stage1.safetensors`, ...; names in dump.ts), and the reading side of
 * `--noise-ss` / `--noise-slat` / `--coords FILE[:NAME]`.
 *
 * The folder is written like the output folder: into a temporary sibling, renamed over DIR at the end, so DIR
 * never mixes files of two runs (a stale `mesh.safetensors` from an earlier run would otherwise be compared). A run
 * that fails still writes what it dumped up to the failure (that is where divergence hunting needs it); every
 * file's metadata then says `status: failed: <message>`.
 *
 * Notes: tensors are kept in memory until the end (the largest is the condition, V x 16.8 MB) instead of writing a
 * file per stage as it finishes: a file per stage would need the group order fixed in advance, and one rename at
 * the end keeps the folder consistent.
 */

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { openSafetensorsFile, writeSafetensors } from '../io/safetensors.node.ts';
import type { WritableTensor } from '../io/safetensors.ts';
import type { DumpDType, DumpSink, InjectedTensor } from './dump.ts';
import { InputError } from './encode.ts';

export interface DumpWriterOptions {
  /** Replace an existing folder. */
  force?: boolean;
  /** Extra metadata written into every file (run settings). */
  metadata?: Record<string, string>;
}

export const DUMP_WRITER_DEFAULTS: Required<Pick<DumpWriterOptions, 'force'>> = { force: false };

/**
 * Collects dumped tensors; `finish()` writes the folder.
 * @example
 * const w = DumpWriter.check('dump', { force: true });
 * await runPipeline({ ...opts, dump: w.sink });
 * await w.finish();
 */
export class DumpWriter {
  readonly dir: string;
  private readonly groups = new Map<string, Record<string, WritableTensor>>();
  private readonly metadata: Record<string, string>;

  private constructor(dir: string, metadata: Record<string, string>) {
    this.dir = dir;
    this.metadata = metadata;
  }

  /** Refuses an existing folder unless `force` (call before any work). */
  static check(dir: string, options: DumpWriterOptions = {}): DumpWriter {
    const o = { ...DUMP_WRITER_DEFAULTS, ...options };
    const final = resolve(dir);
    if (existsSync(final) && !o.force)
      throw new InputError(
        `--dump ${final} already exists; choose another folder or pass --force to replace it`,
      );
    return new DumpWriter(final, o.metadata ?? {});
  }

  /** The sink to pass to `runPipeline({ dump })`. */
  readonly sink: DumpSink = (name, data, shape, dtype) => {
    const slash = name.indexOf('/');
    if (slash <= 0) throw new Error(`dump: tensor name '${name}' must be <group>/<tensor>`);
    const group = name.slice(0, slash);
    const tensor = name.slice(slash + 1);
    let g = this.groups.get(group);
    if (!g) {
      g = {};
      this.groups.set(group, g);
    }
    g[tensor] = toWritable(data, shape, dtype);
  };

  /** Tensor names collected so far (`group/name`). */
  names(): string[] {
    return [...this.groups].flatMap(([g, t]) => Object.keys(t).map((n) => `${g}/${n}`));
  }

  /**
   * Writes every group into DIR (temporary sibling + rename). `failure` marks a dump of a failed run.
   * Returns the files written.
   */
  async finish(failure?: Error): Promise<string[]> {
    const meta = { ...this.metadata, status: failure ? `failed: ${failure.message}` : 'complete' };
    await mkdir(dirname(this.dir), { recursive: true });
    const tmp = join(
      dirname(this.dir),
      `.${basename(this.dir)}.partial-${process.pid}-${randomBytes(4).toString('hex')}`,
    );
    await mkdir(tmp);
    const files: string[] = [];
    try {
      for (const [group, tensors] of this.groups) {
        const file = `${group}.safetensors`;
        await writeSafetensors(join(tmp, file), tensors, meta);
        files.push(file);
      }
      let old: string | null = null;
      if (existsSync(this.dir)) {
        old = `${tmp}.old`;
        await rename(this.dir, old);
      }
      await rename(tmp, this.dir);
      if (old) await rm(old, { recursive: true, force: true });
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
    return files;
  }
}

function toWritable(
  data: Float32Array | Int32Array,
  shape: readonly number[],
  dtype: DumpDType,
): WritableTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (data.length !== n)
    throw new Error(`dump: shape [${shape.join(',')}] needs ${n} values, got ${data.length}`);
  if (dtype === 'i32') {
    if (!(data instanceof Int32Array)) throw new Error('dump: an i32 tensor must be an Int32Array');
    return { dtype: 'I32', shape: [...shape], data };
  }
  if (!(data instanceof Float32Array)) throw new Error('dump: an f32 tensor must be a Float32Array');
  return { dtype: 'F32', shape: [...shape], data };
}

/** `FILE[:NAME]` split (a Windows drive letter `C:\...` is not taken for a name). */
export function parseTensorRef(ref: string, defaultName: string): { file: string; name: string } {
  const i = ref.lastIndexOf(':');
  if (i > 1 && !/[\\/]/.test(ref.slice(i + 1)))
    return { file: ref.slice(0, i), name: ref.slice(i + 1) || defaultName };
  return { file: ref, name: defaultName };
}

type Reader = Awaited<ReturnType<typeof openSafetensorsFile>>;

async function readRef<T extends Float32Array | Int32Array>(
  ref: string,
  defaultName: string,
  flag: string,
  read: (r: Reader, name: string) => Promise<T>,
): Promise<InjectedTensor<T>> {
  const { file, name } = parseTensorRef(ref, defaultName);
  const source = `${file}:${name}`;
  if (!existsSync(file)) throw new InputError(`${flag} ${file}: no such file`);
  let reader: Reader;
  try {
    reader = await openSafetensorsFile(file);
  } catch (e) {
    throw new InputError(`${flag} ${file}: ${(e as Error).message}`);
  }
  try {
    if (!reader.has(name))
      throw new InputError(
        `${flag} ${file} has no tensor '${name}' (it holds: ${reader.names.join(', ') || 'nothing'}); pass FILE:NAME`,
      );
    return { data: await read(reader, name), shape: [...reader.info(name).shape], source };
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`${flag} ${source}: ${(e as Error).message}`);
  } finally {
    await reader.close();
  }
}

/**
 * Reads a float tensor from `FILE[:NAME]` (safetensors; any float dtype, as float32).
 * @example
 * const noise = await readInjectedFloat('official/stage1.safetensors', 'noise', '--noise-ss');
 */
export function readInjectedFloat(
  ref: string,
  defaultName: string,
  flag: string,
): Promise<InjectedTensor<Float32Array>> {
  return readRef(ref, defaultName, flag, (r, n) => r.readFloat32(n));
}

/**
 * Reads an integer tensor from `FILE[:NAME]` (safetensors; any integer dtype in the int32 range).
 * @example
 * const coords = await readInjectedInt('official/ss_decode.safetensors', 'coords', '--coords');
 */
export function readInjectedInt(
  ref: string,
  defaultName: string,
  flag: string,
): Promise<InjectedTensor<Int32Array>> {
  return readRef(ref, defaultName, flag, (r, n) => r.readInt32(n));
}
