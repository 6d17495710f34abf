/**
 * `amodal3r reconstruct`: images + 3-level masks -> gaussians.ply, mesh.glb, occupancy.ply, turntable frames/GIF
 * (src/pipeline/reconstruct.ts). Progress bars per stage on stderr, a timing summary (or one JSON object with
 * `--json`) on stdout; any failure is one message and exit status 1, with no partial files in --out.
 */

import type { Command } from 'commander';
import { readConditioning } from '../pipeline/conditioning-file.ts';
import { readInjectedFloat, readInjectedInt } from '../pipeline/dump-writer.ts';
import {
  type DeviceChoice,
  OUTPUT_FORMATS,
  type OutputFormat,
  type Precision,
  RECONSTRUCT_DEFAULTS,
  type ReconstructResult,
  reconstruct,
} from '../pipeline/reconstruct.ts';
import type { ViewOrder } from '../pipeline/sampler.ts';
import { SIMPLIFY_DEFAULTS } from '../representations/simplify.ts';
import { BAKE_DEFAULTS } from '../representations/texture-bake.ts';
import { createProgress, formatBytes } from './progress.ts';

export interface ReconstructCliOptions {
  image: string[];
  mask: string[];
  model: string;
  out: string;
  cond?: string;
  seed: string;
  ssSteps: string;
  ssCfg: string;
  slatSteps: string;
  slatCfg: string;
  formats: string;
  glbTexture: string;
  textureSize: string;
  bakeViews: string;
  simplify: string;
  device: string;
  precision: string;
  viewOrder: string;
  frames: string;
  frameSize: string;
  dilation?: string;
  padToSquare?: boolean;
  force?: boolean;
  json?: boolean;
  noiseSs?: string;
  noiseSlat?: string;
  coords?: string;
  dump?: string;
  dumpSteps?: boolean;
}

class CliError extends Error {}

function num(name: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new CliError(`--${name} must be a number, got "${v}"`);
  return n;
}

function oneOf<T extends string>(name: string, v: string, allowed: readonly T[]): T {
  if (!allowed.includes(v as T))
    throw new CliError(`--${name} must be one of ${allowed.join(', ')}, got "${v}"`);
  return v as T;
}

/** Parses `--formats ply,glb`. */
export function parseFormats(v: string): OutputFormat[] {
  const list = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 0) throw new CliError(`--formats needs at least one of ${OUTPUT_FORMATS.join(', ')}`);
  return list.map((f) => oneOf('formats', f, OUTPUT_FORMATS));
}

/** The human summary printed after a run. */
export function summary(r: ReconstructResult): string {
  const lines = [`device: ${r.device}`, `voxels: ${r.voxels}`];
  if (r.gaussians) lines.push(`gaussians: ${r.gaussians}`);
  if (r.mesh) lines.push(`mesh: ${r.mesh.vertices} vertices, ${r.mesh.triangles} triangles`);
  lines.push('timings:');
  for (const t of r.timings) {
    lines.push(
      `  ${t.stage.padEnd(17)} ${t.seconds.toFixed(2).padStart(8)} s${t.peakGpuBytes !== null ? `   peak GPU ${formatBytes(t.peakGpuBytes)}` : ''}`,
    );
  }
  lines.push(`  ${'total'.padEnd(17)} ${r.totalSeconds.toFixed(2).padStart(8)} s`);
  if (r.peakGpuBytes !== null) lines.push(`peak GPU memory: ${formatBytes(r.peakGpuBytes)}`);
  for (const s of r.skipped) lines.push(`skipped ${s.format}: ${s.reason}`);
  if (r.out) lines.push(`wrote ${r.files.length} file(s) to ${r.out}: ${r.files.join(', ')}`);
  if (r.dump)
    lines.push(`dumped ${r.dump.files.length} file(s) to ${r.dump.dir}: ${r.dump.files.join(', ')}`);
  return lines.join('\n');
}

/**
 * Runs the command; returns the result (the action prints it).
 * @example
 * await runReconstruct({ image: ['a.png'], mask: ['a_mask.png'], model: 'm', out: 'o', ...defaults });
 */
export async function runReconstruct(opts: ReconstructCliOptions): Promise<ReconstructResult> {
  if (opts.dumpSteps && !opts.dump) throw new CliError('--dump-steps needs --dump DIR');
  // Injected tensors are read before any work, so a wrong file fails at once.
  const noiseSs = opts.noiseSs ? await readInjectedFloat(opts.noiseSs, 'noise', '--noise-ss') : undefined;
  const noiseSlat = opts.noiseSlat
    ? await readInjectedFloat(opts.noiseSlat, 'noise_feats', '--noise-slat')
    : undefined;
  const coords = opts.coords ? await readInjectedInt(opts.coords, 'coords', '--coords') : undefined;
  const progress = createProgress({ quiet: !!opts.json });
  const warnings: string[] = [];
  try {
    return await reconstruct({
      images: opts.image,
      masks: opts.mask,
      model: opts.model,
      out: opts.out,
      force: !!opts.force,
      seed: num('seed', opts.seed),
      ssSteps: num('ss-steps', opts.ssSteps),
      ssCfg: num('ss-cfg', opts.ssCfg),
      slatSteps: num('slat-steps', opts.slatSteps),
      slatCfg: num('slat-cfg', opts.slatCfg),
      formats: parseFormats(opts.formats),
      glb: {
        texture: oneOf('glb-texture', opts.glbTexture, ['baked', 'vertex'] as const),
        textureSize: num('texture-size', opts.textureSize),
        bake: { views: num('bake-views', opts.bakeViews) },
        simplify: { ratio: num('simplify', opts.simplify) },
      },
      device: oneOf<DeviceChoice>('device', opts.device, ['auto', 'webgpu', 'cpu']),
      precision: oneOf<Precision>('precision', opts.precision, ['auto', 'f16', 'f32']),
      viewOrder: oneOf<ViewOrder>('view-order', opts.viewOrder, ['visibility', 'given']),
      frames: num('frames', opts.frames),
      frameSize: num('frame-size', opts.frameSize),
      ...(opts.dilation !== undefined && { dilationKernel: num('dilation', opts.dilation) }),
      ...(opts.padToSquare && { padToSquare: true }),
      ...(opts.cond && { condition: await readConditioning(opts.cond) }),
      ...(noiseSs && { noiseSs }),
      ...(noiseSlat && { noiseSlat }),
      ...(coords && { coords }),
      ...(opts.dump && {
        dumpDir: opts.dump,
        dumpSteps: !!opts.dumpSteps,
        dumpMetadata: dumpMetadata(opts),
      }),
      onProgress: (e) => progress.update(e),
      onWarning: (m) => {
        warnings.push(m);
        if (!opts.json) process.stderr.write(`warning: ${m}\n`);
      },
    });
  } finally {
    progress.stop();
  }
}

/** The run's settings, recorded in every dump file (compare prints nothing from it; it is for people). */
function dumpMetadata(opts: ReconstructCliOptions): Record<string, string> {
  return {
    producer: 'amodal3r reconstruct',
    seed: opts.seed,
    ss_steps: opts.ssSteps,
    ss_cfg: opts.ssCfg,
    slat_steps: opts.slatSteps,
    slat_cfg: opts.slatCfg,
    precision: opts.precision,
    view_order: opts.viewOrder,
    images: opts.image.join(','),
    masks: opts.mask.join(','),
    noise_ss: opts.noiseSs ?? '',
    noise_slat: opts.noiseSlat ?? '',
    coords: opts.coords ?? '',
  };
}

const collect = (v: string, prev: string[]) => [...prev, v];

/**
 * Registers `reconstruct` on the program.
 * @example
 * registerReconstruct(program);
 */
export function registerReconstruct(program: Command): void {
  const d = RECONSTRUCT_DEFAULTS;
  program
    .command('reconstruct')
    .description('reconstruct a complete 3D object from occluded image(s) and 3-level mask(s)')
    .option('--image <file>', 'input image (repeat for more views)', collect, [])
    .option(
      '--mask <file>',
      '3-level mask of the image before it: white background, gray visible, black occluder (repeat)',
      collect,
      [],
    )
    .requiredOption('--model <dir>', 'model directory (amodal3r download / make-test-model)')
    .requiredOption('--out <dir>', 'output folder (must not exist unless --force)')
    .option(
      '--cond <file>',
      'precomputed condition from `amodal3r encode` (skips DINOv2; --image/--mask not needed)',
    )
    .option('--seed <n>', 'random seed (official example: 1)', String(d.seed))
    .option('--ss-steps <n>', 'stage-1 sampling steps', String(d.ssSteps))
    .option('--ss-cfg <s>', 'stage-1 guidance strength', String(d.ssCfg))
    .option('--slat-steps <n>', 'stage-2 sampling steps', String(d.slatSteps))
    .option('--slat-cfg <s>', 'stage-2 guidance strength', String(d.slatCfg))
    .option(
      '--formats <list>',
      'outputs: ply (gaussians.ply), glb (mesh.glb), spz (gaussians.spz), sog (gaussians.sog), png (frames/), gif (turntable.gif)',
      d.formats.join(','),
    )
    .option('--device <d>', 'auto | webgpu | cpu', d.device)
    .option('--precision <p>', 'auto (per model config) | f16 | f32', d.precision)
    .option(
      '--view-order <o>',
      'visibility (paper: most visible view first) | given (official code)',
      d.viewOrder,
    )
    .option('--frames <n>', 'turntable frames for png/gif', String(d.frames))
    .option('--frame-size <px>', 'turntable frame size', String(d.frameSize))
    .option(
      '--glb-texture <t>',
      'mesh.glb: baked (texture from the Gaussians) | vertex (vertex colours)',
      'baked',
    )
    .option('--texture-size <px>', 'mesh.glb texture size', String(BAKE_DEFAULTS.textureSize))
    .option('--bake-views <n>', 'views rendered to bake the texture', String(BAKE_DEFAULTS.views))
    .option(
      '--simplify <ratio>',
      'fraction of mesh triangles removed for the GLB (official 0.95)',
      String(SIMPLIFY_DEFAULTS.ratio),
    )
    .option('--dilation <k>', 'occluded-region dilation kernel (official 3; 0 = off)')
    .option(
      '--pad-to-square',
      'pad non-square inputs to a square instead of squashing them (leaves the official preprocessing)',
    )
    .option(
      '--noise-ss <file[:name]>',
      'stage-1 initial latent from a safetensors file (default name noise) instead of the seeded one',
    )
    .option(
      '--noise-slat <file[:name]>',
      'stage-2 initial features [N,8] (default name noise_feats) instead of the seeded ones',
    )
    .option(
      '--coords <file[:name]>',
      'occupied voxels int32 [N,4] (default name coords) instead of stage 1 (which is then skipped)',
    )
    .option('--dump <dir>', 'write the intermediate tensors as safetensors (docs/reproducibility.md)')
    .option('--dump-steps', 'with --dump: also the latent after every sampler step')
    .option('--force', 'replace an existing --out (and --dump)')
    .option('--json', 'print one JSON object (no progress bars)')
    .action(async (opts: ReconstructCliOptions) => {
      if (!opts.cond && opts.image.length === 0)
        throw new CliError('pass at least one --image with its --mask (or --cond from `amodal3r encode`)');
      const r = await runReconstruct(opts);
      if (opts.json) {
        const { coords: _coords, ...rest } = r;
        process.stdout.write(`${JSON.stringify(rest, null, 2)}\n`);
      } else process.stdout.write(`${summary(r)}\n`);
    });
}
