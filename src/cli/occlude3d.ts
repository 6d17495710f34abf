/**
 * `amodal3r occlude3d`: 3-D-consistent synthetic occlusion of a mesh (see src/data/occlude3d.ts), rendered from
 * TRELLIS cameras into `<out>/NNN.png`, `<out>/NNN_mask.png` and `<out>/transforms.json`.
 */

import type { Command } from 'commander';
import { readMesh } from '../data/mesh-io.ts';
import { Occlusion3dError, occlude3dToDir, TRELLIS_RESOLUTION } from '../data/occlude3d.ts';
import { acquireCliGpu } from './gpu.ts';
import { intOption } from './int-option.ts';

export interface Occlude3dCliOptions {
  mesh: string;
  out: string;
  views?: string;
  seed?: string;
  resolution?: string;
  cpu?: boolean;
}

const intArg = (name: string, v: string | undefined, dflt: number, min: number): number =>
  intOption(name, v, dflt, min, Occlusion3dError);

/**
 * Runs the command; returns the summary lines (warnings go to `warn`).
 * @example
 * await runOcclude3d({ mesh: 'assets/meshes/chair.ply', out: 'occ3d', views: '4', seed: '1' });
 */
export async function runOcclude3d(
  opts: Occlude3dCliOptions,
  warn: (line: string) => void = (l) => process.stderr.write(`warning: ${l}\n`),
): Promise<string[]> {
  const views = intArg('views', opts.views, 4, 1);
  const seed = intArg('seed', opts.seed, 0, 0);
  const resolution = intArg('resolution', opts.resolution, TRELLIS_RESOLUTION, 8);
  const loaded = await readMesh(opts.mesh);
  for (const w of loaded.warnings) warn(w);
  let gpu = null;
  if (!opts.cpu) {
    const got = await acquireCliGpu();
    if (!got.gpu) warn(`${got.reason}; rendering on the CPU`);
    gpu = got.gpu;
  }
  try {
    const r = await occlude3dToDir(opts.out, loaded, { views, seed, resolution, gpu });
    const F = r.occluded.length;
    const k = r.transforms.occlusion.occluded_faces;
    return [
      `${opts.out}: ${views} view(s) at ${resolution}x${resolution} on ${r.backend}; ${k} of ${F} faces occluded (ratio ${r.ratio.toFixed(3)})`,
    ];
  } finally {
    gpu?.destroy();
  }
}

/**
 * Registers `occlude3d` on the program.
 * @example
 * registerOcclude3d(program);
 */
export function registerOcclude3d(program: Command): void {
  program
    .command('occlude3d')
    .description(
      '3-D-consistent occlusion of a mesh rendered from TRELLIS cameras: images, 3-level masks, transforms.json',
    )
    .requiredOption('--mesh <file>', 'mesh (.obj, .ply, .glb/.gltf with @gltf-transform/core)')
    .requiredOption('--out <dir>', 'output folder (NNN.png, NNN_mask.png, transforms.json)')
    .option('--views <n>', 'number of cameras', '4')
    .option('--seed <n>', 'random seed (same seed => identical files)', '0')
    .option('--resolution <px>', 'image side in pixels', String(TRELLIS_RESOLUTION))
    .option('--cpu', 'render on the CPU twin instead of WebGPU')
    .action(async (opts: Occlude3dCliOptions) => {
      for (const line of await runOcclude3d(opts)) process.stdout.write(`${line}\n`);
    });
}
