/**
 * `amodal3r dataset`: a training dataset from meshes (see src/data/dataset.ts): per object the occlusion renders,
 * 3-level masks, transforms.json, normalised mesh and 64^3 voxels, plus metadata.csv/json; resumable, parallel.
 */

import type { Command } from 'commander';
import { DATASET_VIEWS, DatasetError, writeDataset } from '../data/dataset.ts';
import { TRELLIS_RESOLUTION } from '../data/occlude3d.ts';
import { intOption } from './int-option.ts';
import { createProgress } from './progress.ts';

export interface DatasetCliOptions {
  meshes: string[];
  out: string;
  views?: string;
  seed?: string;
  workers?: string;
  resolution?: string;
  maxFaces?: string;
  cpu?: boolean;
  quiet?: boolean;
}

const intArg = (name: string, v: string | undefined, dflt: number, min: number): number =>
  intOption(name, v, dflt, min, DatasetError);

/**
 * Runs the command; returns the summary lines and whether every object was written.
 * @example
 * await runDataset({ meshes: ['assets/meshes'], out: 'ds', views: '4', workers: '2' });
 */
export async function runDataset(
  opts: DatasetCliOptions,
  warn: (line: string) => void = (l) => process.stderr.write(`warning: ${l}\n`),
): Promise<{ lines: string[]; ok: boolean }> {
  const views = intArg('views', opts.views, DATASET_VIEWS, 1);
  const seed = intArg('seed', opts.seed, 0, 0);
  const workers = intArg('workers', opts.workers, 1, 1);
  const resolution = intArg('resolution', opts.resolution, TRELLIS_RESOLUTION, 8);
  const maxFaces = opts.maxFaces === undefined ? undefined : intArg('max-faces', opts.maxFaces, 0, 1);
  const progress = createProgress({ quiet: opts.quiet });
  let s: Awaited<ReturnType<typeof writeDataset>>;
  try {
    s = await writeDataset(opts.meshes, opts.out, {
      views,
      seed,
      workers,
      resolution,
      cpu: opts.cpu,
      ...(maxFaces ? { maxFaces } : {}),
      onWarning: warn,
      onProgress: (e) => progress.update({ stage: 'objects', done: e.done, total: e.total }),
    });
  } finally {
    progress.stop();
  }
  const lines = [
    `${opts.out}: ${s.total} object(s): ${s.written} written, ${s.skipped} already done, ${s.failed.length} failed`,
  ];
  for (const f of s.failed) lines.push(`failed: ${f.file}: ${f.error}`);
  return { lines, ok: s.failed.length === 0 };
}

/**
 * Registers `dataset` on the program.
 * @example
 * registerDataset(program);
 */
export function registerDataset(program: Command): void {
  program
    .command('dataset')
    .description(
      'training data from meshes: occlusion renders + 3-level masks, transforms.json, 64^3 voxels, metadata (resumable)',
    )
    .requiredOption(
      '--meshes <paths...>',
      'mesh files and/or folders (.glb, .gltf, .obj, .ply; folders recursively)',
    )
    .requiredOption('--out <dir>', 'dataset folder (renders/<sha256>/, voxels/<sha256>.ply, metadata.csv)')
    .option('--views <n>', 'cameras per object', String(DATASET_VIEWS))
    .option('--seed <n>', 'dataset seed (same seed => identical files)', '0')
    .option('--workers <n>', 'objects rendered in parallel (child processes)', '1')
    .option('--resolution <px>', 'image side in pixels', String(TRELLIS_RESOLUTION))
    .option('--max-faces <n>', 'refuse meshes with more triangles than this')
    .option('--cpu', 'render on the CPU twin instead of WebGPU')
    .option('--quiet', 'no progress display')
    .action(async (opts: DatasetCliOptions) => {
      const r = await runDataset(opts);
      for (const line of r.lines) process.stdout.write(`${line}\n`);
      if (!r.ok) process.exitCode = 1;
    });
}
