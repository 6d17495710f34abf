/**
 * Model download from the Hugging Face hub into the model-directory layout (model-dir.ts):
 * `Sm0kyWu/Amodal3R` (pipeline.json + the checkpoints it lists) into `<to>/`, and DINOv2
 * (`facebook/dinov2-with-registers-large`: config.json + model.safetensors) into `<to>/dinov2/`.
 *
 * - Listing and downloads go through @huggingface/hub (`listFiles`, `downloadFile`); `hubUrl` points them at a
 *   mirror or a local test server.
 * - Resumable: a file whose size already matches the listing is skipped; otherwise bytes go to `<file>.part`,
 *   appended from its current length with an HTTP range request on the next attempt, and the `.part` is renamed
 *   only after the whole file is there and verified.
 * - Verification: LFS files against the listing's sha256 (`lfs.oid`), small files against the git blob id
 *   (`oid` = sha1 of "blob <size>\0" + content). A mismatch deletes the `.part` and fails with the file named.
 * - Only the files the pipeline needs are fetched (pipeline.json is read first), not the whole repository.
 */

import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { downloadFile, type ListFileEntry, listFiles } from '@huggingface/hub';
import { DINOV2_SUBDIR, PIPELINE_FILE } from './model-dir.ts';

export const DEFAULT_REPO = 'Sm0kyWu/Amodal3R';
export const DEFAULT_DINOV2_REPO = 'facebook/dinov2-with-registers-large';
/** Files of the HF DINOv2 repo the loader reads. */
export const DINOV2_REPO_FILES = ['config.json', 'model.safetensors'] as const;

export interface DownloadOptions {
  /** Target model directory. */
  to: string;
  repo?: string;
  dinov2Repo?: string;
  revision?: string;
  /** Hub base URL (default https://huggingface.co). */
  hubUrl?: string;
  /** HF token for gated/private repos (default: HF_TOKEN from the environment). */
  accessToken?: string;
  fetch?: typeof fetch;
  /** Skip DINOv2 (e.g. when it is already converted from torch-hub). */
  skipDinov2?: boolean;
  /** Per-file progress: bytes of `file` done of `total`. */
  onProgress?: (e: { file: string; done: number; total: number }) => void;
  onLog?: (message: string) => void;
}

export interface DownloadedFile {
  repo: string;
  path: string;
  dest: string;
  bytes: number;
  /** 'skipped' = already complete; 'resumed' = continued from a .part. */
  status: 'downloaded' | 'resumed' | 'skipped';
  /** Which check passed: sha256 (LFS), git-sha1 (small files) or size only (no id in the listing). */
  verified: 'sha256' | 'git-sha1' | 'size';
}

export interface DownloadResult {
  dir: string;
  files: DownloadedFile[];
  /** Bytes transferred in this run. */
  bytes: number;
  seconds: number;
}

export class DownloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DownloadError';
  }
}

async function hashFile(path: string, algo: 'sha256' | 'sha1', prefix?: string): Promise<string> {
  const h = createHash(algo);
  if (prefix) h.update(prefix);
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Checks a complete file against the listing; returns the check used. Throws on a mismatch. */
async function verify(
  path: string,
  entry: ListFileEntry,
  label: string,
): Promise<DownloadedFile['verified']> {
  const size = (await stat(path)).size;
  if (size !== entry.size)
    throw new DownloadError(
      `${label}: got ${size} bytes, the hub lists ${entry.size}; run the download again`,
    );
  if (entry.lfs?.oid) {
    const got = await hashFile(path, 'sha256');
    if (got !== entry.lfs.oid)
      throw new DownloadError(
        `${label}: sha256 ${got} does not match the hub's ${entry.lfs.oid}; the download was corrupted, run it again`,
      );
    return 'sha256';
  }
  if (entry.oid && /^[0-9a-f]{40}$/.test(entry.oid)) {
    const got = await hashFile(path, 'sha1', `blob ${size}\0`);
    if (got !== entry.oid)
      throw new DownloadError(
        `${label}: git blob id ${got} does not match the hub's ${entry.oid}; run the download again`,
      );
    return 'git-sha1';
  }
  return 'size';
}

interface RepoCtx {
  repo: string;
  entries: Map<string, ListFileEntry>;
}

async function listRepo(repo: string, o: DownloadOptions): Promise<RepoCtx> {
  const entries = new Map<string, ListFileEntry>();
  try {
    for await (const e of listFiles({
      repo,
      recursive: true,
      revision: o.revision,
      hubUrl: o.hubUrl,
      fetch: o.fetch,
      ...(o.accessToken && { accessToken: o.accessToken }),
    })) {
      if (e.type === 'file') entries.set(e.path, e);
    }
  } catch (err) {
    throw new DownloadError(
      `cannot list ${repo} on ${o.hubUrl ?? 'huggingface.co'}: ${(err as Error).message}; check the network, the repo name and (for gated repos) HF_TOKEN`,
    );
  }
  return { repo, entries };
}

/** Downloads one listed file to `dest` (resuming a .part), verified. */
async function fetchOne(
  ctx: RepoCtx,
  path: string,
  dest: string,
  o: DownloadOptions,
): Promise<DownloadedFile> {
  const entry = ctx.entries.get(path);
  const label = `${ctx.repo}/${path}`;
  if (!entry)
    throw new DownloadError(`${label} is not in the repository listing; check --repo and the revision`);
  await mkdir(dirname(dest), { recursive: true });
  if (existsSync(dest) && (await stat(dest)).size === entry.size) {
    o.onProgress?.({ file: path, done: entry.size, total: entry.size });
    return { repo: ctx.repo, path, dest, bytes: 0, status: 'skipped', verified: 'size' };
  }
  const part = `${dest}.part`;
  let start = existsSync(part) ? (await stat(part)).size : 0;
  if (start > entry.size) {
    await rm(part, { force: true });
    start = 0;
  }
  const resumed = start > 0;
  if (start < entry.size) {
    let blob: Blob | null;
    try {
      blob = await downloadFile({
        repo: ctx.repo,
        path,
        revision: o.revision,
        hubUrl: o.hubUrl,
        fetch: o.fetch,
        ...(o.accessToken && { accessToken: o.accessToken }),
      });
    } catch (err) {
      throw new DownloadError(`${label}: ${(err as Error).message}; run the download again to resume`);
    }
    if (!blob) throw new DownloadError(`${label}: the hub says the file does not exist`);
    const fh = await open(part, 'a');
    let done = start;
    try {
      const stream = (start > 0 ? blob.slice(start) : blob).stream();
      for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
        await fh.write(chunk);
        done += chunk.byteLength;
        o.onProgress?.({ file: path, done, total: entry.size });
      }
      await fh.sync();
    } catch (err) {
      throw new DownloadError(
        `${label}: interrupted after ${done} of ${entry.size} bytes (${(err as Error).message}); run the download again to resume`,
      );
    } finally {
      await fh.close();
    }
  }
  let verified: DownloadedFile['verified'];
  try {
    verified = await verify(part, entry, label);
  } catch (err) {
    await rm(part, { force: true });
    throw err;
  }
  await rename(part, dest);
  return {
    repo: ctx.repo,
    path,
    dest,
    bytes: entry.size - start,
    status: resumed ? 'resumed' : 'downloaded',
    verified,
  };
}

/**
 * Downloads the model directory (resumable, verified).
 *
 * @example
 * const r = await downloadModel({ to: 'models/Amodal3R', onProgress: (e) => console.log(e.file, e.done, e.total) });
 * console.log(r.files.length, 'files', r.bytes, 'bytes');
 */
export async function downloadModel(options: DownloadOptions): Promise<DownloadResult> {
  const t0 = performance.now();
  const o: DownloadOptions = { ...options, accessToken: options.accessToken ?? process.env.HF_TOKEN };
  const dir = resolve(o.to);
  const log = o.onLog ?? (() => {});
  const repo = o.repo ?? DEFAULT_REPO;
  const files: DownloadedFile[] = [];
  const main = await listRepo(repo, o);
  log(`${repo}: ${main.entries.size} files listed`);
  files.push(await fetchOne(main, PIPELINE_FILE, join(dir, PIPELINE_FILE), o));
  let models: Record<string, unknown>;
  try {
    const json = JSON.parse(await readFile(join(dir, PIPELINE_FILE), 'utf8')) as {
      args?: { models?: unknown };
    };
    models = json.args?.models as Record<string, unknown>;
    if (!models || typeof models !== 'object') throw new Error('no args.models');
  } catch (e) {
    throw new DownloadError(`${repo}/${PIPELINE_FILE}: not a pipeline description (${(e as Error).message})`);
  }
  for (const [role, stem] of Object.entries(models)) {
    if (typeof stem !== 'string') continue;
    for (const ext of ['.json', '.safetensors']) {
      const path = `${stem}${ext}`;
      if (!main.entries.has(path)) {
        throw new DownloadError(
          `${repo}: pipeline.json lists ${role} = ${stem} but ${path} is not in the repository`,
        );
      }
      const f = await fetchOne(main, path, join(dir, path), o);
      log(`${f.status} ${path} (${f.verified})`);
      files.push(f);
    }
  }
  if (!o.skipDinov2) {
    const dinoRepo = o.dinov2Repo ?? DEFAULT_DINOV2_REPO;
    const dino = await listRepo(dinoRepo, o);
    for (const path of DINOV2_REPO_FILES) {
      const f = await fetchOne(dino, path, join(dir, DINOV2_SUBDIR, path), o);
      log(`${f.status} ${DINOV2_SUBDIR}/${path} (${f.verified})`);
      files.push(f);
    }
  }
  return {
    dir,
    files,
    bytes: files.reduce((a, f) => a + f.bytes, 0),
    seconds: (performance.now() - t0) / 1000,
  };
}
