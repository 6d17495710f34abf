/**
 * Training-data writer: for each mesh, the 3-D-consistent occlusion renders and 3-level masks from TRELLIS cameras,
 * `transforms.json`, the normalised mesh, the 64^3 surface voxelisation (TRELLIS `voxelize.py` semantics) and a
 * metadata row, in TRELLIS' dataset layout (see docs/occlusion-data.md):
 *
 *   <out>/renders/<sha256>/NNN.png, NNN_mask.png, transforms.json, mesh.ply
 *   <out>/voxels/<sha256>.ply
 *   <out>/metadata.csv, <out>/metadata.json, <out>/dataset.json, <out>/manifest.jsonl
 *
 * Notes
 * - Objects are keyed by the SHA-256 of the mesh file, as TRELLIS keys its objects; the per-object seed is derived
 *   from (seed, sha256), so an object's files do not depend on the order, on the other objects or on `--workers`.
 * - Resumable: an object is first written to `<out>/.partial/<sha256>.<pid>.<rand>/`; its voxel file and then its
 *   renders folder are renamed into place and only then a line is appended to `manifest.jsonl`. A re-run skips the
 *   objects whose manifest line and files exist, and redoes the others (a crash leaves at most a `.partial` folder,
 *   removed on the next run). `dataset.json` pins the options: resuming with other options is refused.
 * - Workers: `workers > 1` forks child processes (src/data/dataset-worker.ts), each with its own WebGPU device (or
 *   the CPU twin with `cpu`). We chose processes over worker_threads because Dawn's Node addon is not known to be
 *   safe in worker threads, and a crash in one object then stays in its process. On one GPU, extra workers overlap
 *   the CPU phases (adjacency, projection, PNG encoding) of one object with the rendering of another.
 * - metadata.csv/json and manifest.jsonl are rewritten sorted by sha256 at the end, so a dataset built in one go,
 *   resumed, or with any number of workers has byte-identical files.
 * - A mesh that cannot be used (see mesh-io.ts) is reported and recorded with its error; the others go on. It is
 *   retried on the next run.
 */

import { type ChildProcess, fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, join, relative, resolve, sep } from 'node:path';
import { writeFileAtomic } from '../io/atomic-write.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { MESH_FACE_LIMIT, MeshInputError, readMesh, writePlyBinary } from './mesh-io.ts';
import {
  OCCLUDED_RATIO_RANGE,
  occlude3dToDir,
  TRELLIS_FOV_DEGREES,
  TRELLIS_RADIUS,
  TRELLIS_RESOLUTION,
} from './occlude3d.ts';
import { VOXEL_RESOLUTION, voxelizeMesh, voxelPly } from './voxelize.ts';

/** TRELLIS renders 150 views per object. */
export const DATASET_VIEWS = 150;
/** Mesh file extensions picked up from a folder. */
export const MESH_EXTENSIONS = ['.glb', '.gltf', '.obj', '.ply'];
/** Version of the layout written into dataset.json. */
export const DATASET_FORMAT = 1;

/** Thrown for unusable dataset arguments or an output folder that cannot be resumed. */
export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

export interface DatasetOptions {
  /** Cameras per object. */
  views?: number;
  /** Image side in pixels. */
  resolution?: number;
  /** Dataset seed (each object's seed is derived from it and the object's sha256). */
  seed?: number;
  /** Child processes rendering objects in parallel (1: in this process). */
  workers?: number;
  /** Render with the CPU twin instead of WebGPU. */
  cpu?: boolean;
  /** Voxel grid side. */
  voxelResolution?: number;
  /** Largest accepted triangle count per mesh. */
  maxFaces?: number;
  /** GPU context for in-process rendering (workers = 1); created and destroyed here when absent. */
  gpu?: GpuContext | null;
  /** Progress after each object. */
  onProgress?: (e: DatasetProgress) => void;
  /** Warnings (mesh fixes, failures, GPU fallback). */
  onWarning?: (line: string) => void;
}

export const DATASET_DEFAULTS: Required<Omit<DatasetOptions, 'gpu' | 'onProgress' | 'onWarning'>> = {
  views: DATASET_VIEWS,
  resolution: TRELLIS_RESOLUTION,
  seed: 0,
  workers: 1,
  cpu: false,
  voxelResolution: VOXEL_RESOLUTION,
  maxFaces: MESH_FACE_LIMIT,
};

export interface DatasetProgress {
  done: number;
  total: number;
  skipped: number;
  failed: number;
}

/** Options that determine the files; stored in dataset.json and compared on resume. */
export interface DatasetParams {
  format: number;
  views: number;
  resolution: number;
  seed: number;
  voxel_resolution: number;
  fov_degrees: number;
  radius: number;
  occluded_ratio_range: [number, number];
}

/** One object's metadata row. */
export interface DatasetRecord {
  sha256: string;
  file_identifier: string;
  num_vertices: number;
  num_faces: number;
  degenerate_faces: number;
  seed: number;
  num_views: number;
  occluded_ratio: number;
  occluded_faces: number;
  rendered: boolean;
  voxelized: boolean;
  num_voxels: number;
}

/** A unit of work: one mesh file. */
export interface DatasetJob {
  path: string;
  sha256: string;
  fileIdentifier: string;
}

export interface DatasetSummary {
  total: number;
  written: number;
  skipped: number;
  failed: { file: string; error: string }[];
  records: DatasetRecord[];
}

/** The per-object seed: the first 32 bits of sha256("<seed>:<object sha256>"). */
export function objectSeed(seed: number, sha256: string): number {
  return createHash('sha256').update(`${seed}:${sha256}`).digest().readUInt32BE(0);
}

function params(o: typeof DATASET_DEFAULTS): DatasetParams {
  return {
    format: DATASET_FORMAT,
    views: o.views,
    resolution: o.resolution,
    seed: o.seed,
    voxel_resolution: o.voxelResolution,
    fov_degrees: TRELLIS_FOV_DEGREES,
    radius: TRELLIS_RADIUS,
    occluded_ratio_range: [OCCLUDED_RATIO_RANGE[0], OCCLUDED_RATIO_RANGE[1]],
  };
}

function checkInt(name: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max)
    throw new DatasetError(`dataset: ${name} must be an integer in [${min}, ${max}], got ${v}`);
}

/**
 * Expands folders (recursively, mesh extensions only, sorted) and files into jobs with their sha256; a file given
 * twice or two files with the same content give one job (with a warning).
 * @example
 * const jobs = await collectMeshes(['assets/meshes']);
 */
export async function collectMeshes(
  inputs: readonly string[],
  warn: (line: string) => void = () => {},
): Promise<DatasetJob[]> {
  const files: { path: string; id: string }[] = [];
  const walk = async (dir: string, root: string) => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory() && !e.name.startsWith('.')) await walk(p, root);
      else if (e.isFile() && MESH_EXTENSIONS.some((x) => e.name.toLowerCase().endsWith(x)))
        files.push({ path: p, id: relative(root, p).split(sep).join('/') });
    }
  };
  for (const input of inputs) {
    let st: Awaited<ReturnType<typeof stat>>;
    try {
      st = await stat(input);
    } catch {
      throw new DatasetError(`${input}: no such file or folder (give mesh files or folders with --meshes)`);
    }
    if (st.isDirectory()) await walk(input, input);
    else files.push({ path: input, id: basename(input) });
  }
  if (files.length === 0) {
    throw new DatasetError(
      `no mesh files (${MESH_EXTENSIONS.join(', ')}) found in ${inputs.join(', ') || '(nothing given)'}`,
    );
  }
  const jobs: DatasetJob[] = [];
  const seen = new Map<string, string>();
  for (const f of files) {
    const sha256 = createHash('sha256')
      .update(await readFile(f.path))
      .digest('hex');
    const prev = seen.get(sha256);
    if (prev !== undefined) {
      warn(`${f.path}: same content as ${prev}; written once`);
      continue;
    }
    seen.set(sha256, f.path);
    jobs.push({ path: f.path, sha256, fileIdentifier: f.id });
  }
  return jobs;
}

/**
 * Builds one object into `<out>/.partial/...`, then renames its voxel file and renders folder into place. Returns
 * its record (the caller appends it to the manifest).
 * @example
 * const rec = await buildObject(job, 'dataset', params, { gpu: null });
 */
export async function buildObject(
  job: DatasetJob,
  out: string,
  p: DatasetParams,
  o: { gpu: GpuContext | null; maxFaces: number; warn?: (line: string) => void },
): Promise<DatasetRecord> {
  const loaded = await readMesh(job.path, { maxFaces: o.maxFaces });
  for (const w of loaded.warnings) o.warn?.(w);
  const seed = objectSeed(p.seed, job.sha256);
  const tmp = join(out, '.partial', `${job.sha256}.${process.pid}.${randomBytes(4).toString('hex')}`);
  await mkdir(tmp, { recursive: true });
  try {
    const r = await occlude3dToDir(tmp, loaded, {
      views: p.views,
      resolution: p.resolution,
      seed,
      fovDegrees: p.fov_degrees,
      radius: p.radius,
      ratioRange: p.occluded_ratio_range,
      gpu: o.gpu,
    });
    await writeFileAtomic(join(tmp, 'mesh.ply'), writePlyBinary(loaded.mesh));
    const grid = voxelizeMesh(loaded.mesh, { resolution: p.voxel_resolution });
    const voxTmp = join(tmp, 'voxels.ply');
    await writeFileAtomic(voxTmp, voxelPly(grid));
    const renders = join(out, 'renders', job.sha256);
    // A folder left by a crash after its rename but before its manifest line: redo it.
    await rm(renders, { recursive: true, force: true });
    await rename(voxTmp, join(out, 'voxels', `${job.sha256}.ply`));
    await rename(tmp, renders);
    return {
      sha256: job.sha256,
      file_identifier: job.fileIdentifier,
      num_vertices: loaded.mesh.positions.length / 3,
      num_faces: loaded.mesh.faces.length / 3,
      degenerate_faces: loaded.degenerateFaces,
      seed,
      num_views: p.views,
      occluded_ratio: r.ratio,
      occluded_faces: r.transforms.occlusion.occluded_faces,
      rendered: true,
      voxelized: true,
      num_voxels: grid.count,
    };
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

const CSV_COLUMNS: (keyof DatasetRecord)[] = [
  'sha256',
  'file_identifier',
  'num_vertices',
  'num_faces',
  'degenerate_faces',
  'seed',
  'num_views',
  'occluded_ratio',
  'occluded_faces',
  'rendered',
  'voxelized',
  'num_voxels',
];

function csvField(v: unknown): string {
  const s = typeof v === 'boolean' ? (v ? 'True' : 'False') : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** metadata.csv text (pandas-readable; booleans as pandas writes them). */
export function metadataCsv(records: readonly DatasetRecord[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of records) lines.push(CSV_COLUMNS.map((c) => csvField(r[c])).join(','));
  return `${lines.join('\n')}\n`;
}

async function readManifest(out: string): Promise<Map<string, DatasetRecord>> {
  const path = join(out, 'manifest.jsonl');
  const done = new Map<string, DatasetRecord>();
  if (!existsSync(path)) return done;
  for (const line of (await readFile(path, 'utf8')).split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as DatasetRecord;
      if (typeof r.sha256 === 'string') done.set(r.sha256, r);
    } catch {
      // A line torn by a crash: that object is redone.
    }
  }
  return done;
}

async function lockOutput(out: string): Promise<() => Promise<void>> {
  const path = join(out, '.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx');
      await fh.write(`${process.pid}\n`);
      await fh.close();
      return () => rm(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      let alive = false;
      if (Number.isInteger(pid) && pid > 0) {
        try {
          process.kill(pid, 0);
          alive = true;
        } catch {
          alive = false;
        }
      }
      if (alive)
        throw new DatasetError(
          `${out}: another dataset run (pid ${pid}) is writing here; wait for it to end`,
        );
      await rm(path, { force: true });
    }
  }
  throw new DatasetError(`${out}: cannot take the lock ${path}`);
}

/** Runs jobs either in this process or over forked workers; calls `finish` per object. */
type Runner = {
  run(job: DatasetJob): Promise<DatasetRecord>;
  close(): Promise<void>;
};

interface WorkerReply {
  type: 'done' | 'error' | 'warning' | 'ready';
  record?: DatasetRecord;
  message?: string;
  input?: boolean;
}

/** Message sent to a worker. */
export interface WorkerRequest {
  type: 'init' | 'job' | 'exit';
  out?: string;
  params?: DatasetParams;
  cpu?: boolean;
  maxFaces?: number;
  job?: DatasetJob;
}

function forkWorker(warn: (line: string) => void): {
  child: ChildProcess;
  send(m: WorkerRequest): void;
  next(): Promise<WorkerReply>;
} {
  const tsx = import.meta.resolve('tsx');
  const child = fork(new URL('./dataset-worker.ts', import.meta.url), [], {
    execArgv: ['--import', tsx],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const queue: WorkerReply[] = [];
  let waiter: ((m: WorkerReply) => void) | null = null;
  let exited: Error | null = null;
  const deliver = (m: WorkerReply) => {
    if (waiter) {
      const w = waiter;
      waiter = null;
      w(m);
    } else queue.push(m);
  };
  child.on('message', (m: WorkerReply) => {
    if (m.type === 'warning') warn(m.message ?? '');
    else deliver(m);
  });
  child.on('exit', (code, signal) => {
    exited = new Error(`dataset worker exited (${signal ?? `code ${code}`})`);
    deliver({ type: 'error', message: exited.message });
  });
  return {
    child,
    send: (m) => {
      if (exited) throw exited;
      child.send(m);
    },
    next: () => {
      const m = queue.shift();
      if (m) return Promise.resolve(m);
      return new Promise((res) => {
        waiter = res;
      });
    },
  };
}

async function workerRunner(
  n: number,
  out: string,
  p: DatasetParams,
  cpu: boolean,
  maxFaces: number,
  warn: (line: string) => void,
): Promise<Runner> {
  const workers = Array.from({ length: n }, () => forkWorker(warn));
  for (const w of workers) w.send({ type: 'init', out, params: p, cpu, maxFaces });
  for (const w of workers) {
    const m = await w.next();
    if (m.type !== 'ready') throw new DatasetError(`dataset worker failed to start: ${m.message}`);
  }
  const idle = [...workers];
  const waiting: ((w: (typeof workers)[number]) => void)[] = [];
  const release = (w: (typeof workers)[number]) => {
    const next = waiting.shift();
    if (next) next(w);
    else idle.push(w);
  };
  return {
    run: async (job) => {
      const w = idle.pop() ?? (await new Promise<(typeof workers)[number]>((res) => waiting.push(res)));
      try {
        w.send({ type: 'job', job });
        const m = await w.next();
        if (m.type === 'done' && m.record) return m.record;
        throw m.input ? new MeshInputError(m.message ?? '') : new Error(m.message);
      } finally {
        release(w);
      }
    },
    close: async () => {
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((res) => {
              if (w.child.exitCode !== null || w.child.signalCode !== null) return res();
              w.child.once('exit', () => res());
              try {
                w.send({ type: 'exit' });
              } catch {
                res();
              }
            }),
        ),
      );
    },
  };
}

/**
 * Writes (or resumes) a dataset: renders, masks, cameras, normalised mesh, voxels and metadata for every mesh.
 * @example
 * const s = await writeDataset(['assets/meshes'], 'dataset', { views: 150, workers: 2, onProgress: console.log });
 */
export async function writeDataset(
  inputs: readonly string[],
  outDir: string,
  options: DatasetOptions = {},
): Promise<DatasetSummary> {
  const o = { ...DATASET_DEFAULTS, ...options };
  checkInt('views', o.views, 1, 10000);
  checkInt('resolution', o.resolution, 8, 4096);
  checkInt('seed', o.seed, 0, 0xffffffff);
  checkInt('workers', o.workers, 1, 256);
  checkInt('voxelResolution', o.voxelResolution, 1, 1024);
  const warn = o.onWarning ?? (() => {});
  const out = resolve(outDir);
  const p = params(o);
  const jobs = await collectMeshes(inputs, warn);
  await mkdir(join(out, 'renders'), { recursive: true });
  await mkdir(join(out, 'voxels'), { recursive: true });
  const unlock = await lockOutput(out);
  let runner: Runner | null = null;
  let ownGpu: GpuContext | null = null;
  try {
    const pinned = join(out, 'dataset.json');
    if (existsSync(pinned)) {
      const prev = (JSON.parse(await readFile(pinned, 'utf8')) as { params: DatasetParams }).params;
      if (JSON.stringify(prev) !== JSON.stringify(p)) {
        throw new DatasetError(
          `${outDir} was written with ${JSON.stringify(prev)}; this run asks ${JSON.stringify(p)}. Use the same options to resume, or another --out`,
        );
      }
    } else {
      await writeFileAtomic(pinned, `${JSON.stringify({ params: p }, null, 2)}\n`);
    }
    await rm(join(out, '.partial'), { recursive: true, force: true });
    const done = await readManifest(out);
    const todo: DatasetJob[] = [];
    const records = new Map<string, DatasetRecord>();
    for (const j of jobs) {
      const r = done.get(j.sha256);
      if (
        r &&
        existsSync(join(out, 'renders', j.sha256, 'transforms.json')) &&
        existsSync(join(out, 'voxels', `${j.sha256}.ply`))
      ) {
        records.set(j.sha256, { ...r, file_identifier: j.fileIdentifier });
      } else todo.push(j);
    }
    const skipped = jobs.length - todo.length;
    const failed: { file: string; error: string }[] = [];
    let finished = skipped;
    const report = () =>
      o.onProgress?.({ done: finished, total: jobs.length, skipped, failed: failed.length });
    report();
    if (todo.length > 0) {
      if (o.workers > 1 && todo.length > 1) {
        runner = await workerRunner(Math.min(o.workers, todo.length), out, p, o.cpu, o.maxFaces, warn);
      } else {
        let gpu: GpuContext | null = null;
        if (!o.cpu) {
          if (options.gpu !== undefined) gpu = options.gpu;
          else {
            const { GpuContext: Ctx } = await import('../runtime/gpu.ts');
            ownGpu = await Ctx.create();
            gpu = ownGpu;
            if (!gpu) warn('no WebGPU adapter; rendering on the CPU twin');
          }
        }
        runner = {
          run: (job) => buildObject(job, out, p, { gpu, maxFaces: o.maxFaces, warn }),
          close: async () => {},
        };
      }
      const active = runner;
      let next = 0;
      const lane = async () => {
        while (next < todo.length) {
          const job = todo[next++]!;
          try {
            const rec = await active.run(job);
            await appendFile(join(out, 'manifest.jsonl'), `${JSON.stringify(rec)}\n`);
            records.set(rec.sha256, rec);
          } catch (e) {
            const msg = (e as Error).message;
            failed.push({ file: job.path, error: msg });
            // Mesh input errors already name the file.
            warn(e instanceof MeshInputError ? msg : `${job.path}: failed: ${msg}`);
          }
          finished++;
          report();
        }
      };
      const lanes = o.workers > 1 ? Math.min(o.workers, todo.length) : 1;
      await Promise.all(Array.from({ length: lanes }, lane));
    }
    const sorted = [...records.values()].sort((a, b) => (a.sha256 < b.sha256 ? -1 : 1));
    await writeFileAtomic(join(out, 'manifest.jsonl'), sorted.map((r) => `${JSON.stringify(r)}\n`).join(''));
    await writeFileAtomic(join(out, 'metadata.csv'), metadataCsv(sorted));
    await writeFileAtomic(
      join(out, 'metadata.json'),
      `${JSON.stringify({ params: p, objects: sorted }, null, 2)}\n`,
    );
    await rm(join(out, '.partial'), { recursive: true, force: true });
    return { total: jobs.length, written: sorted.length - skipped, skipped, failed, records: sorted };
  } finally {
    await runner?.close();
    ownGpu?.destroy();
    await unlock();
  }
}
