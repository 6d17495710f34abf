/**
 * `reconstruct`: the pipeline with files — image/mask paths in, an output folder out. The computation is
 * `runPipeline` (run.ts, browser-safe); this module adds output formats and atomic writing (Node).
 *
 * Outputs are written into a temporary sibling of `out` and renamed into place at the end; on any error the
 * temporary folder is removed, so `out` never holds a partial result. An existing `out` is refused unless
 * `force` (checked before any work). Formats that cannot be produced by this build are reported in `skipped` with
 * the reason, never faked.
 *
 * Files: `occupancy.ply` (stage-1 voxel centres, always), `gaussians.ply` (3DGS layout, format `ply`), `mesh.glb`
 * (simplified FlexiCubes surface with a texture baked from the Gaussians, or vertex colours with
 * `glb.texture: 'vertex'`; format `glb`), `gaussians.spz` / `gaussians.sog` (formats `spz`, `sog`, only when
 * asked), `frames/NNN.png` (format `png`) and `turntable.gif` (format `gif`) rendered by src/render from the
 * Gaussians. Writing measured 13 s for the tiny model with every format (lavapipe: SOG ~4 s, the textured GLB
 * with a 64^2 texture from 4 views; the default 1024^2 from 32 views of 512^2 takes about a minute there).
 */

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { occupancyPointProperties, writeGaussiansPly, writePly } from '../io/ply-gaussians.ts';
import { writeSog } from '../io/sog.ts';
import { writeSpz } from '../io/spz.ts';
import { writeFrames, writeGif } from '../render/turntable-files.ts';
import {
  type TexturedGlbOptions,
  type TexturedGlbStats,
  writeTexturedGlb,
} from '../representations/glb-export.ts';
import { writeMeshGlb } from '../representations/mesh.ts';
import { BAKE_DEFAULTS } from '../representations/texture-bake.ts';
import { DumpWriter } from './dump-writer.ts';
import { InputError } from './encode.ts';
import {
  acquireDevice,
  OCCUPANCY_RESOLUTION,
  RUN_PIPELINE_DEFAULTS,
  type RunPipelineOptions,
  runPipeline,
  type StageTiming,
} from './run.ts';

export {
  acquireDevice,
  type DeviceChoice,
  type Precision,
  type ProgressEvent,
  ReconstructError,
  type StageName,
  type StageTiming,
} from './run.ts';

export type OutputFormat = 'ply' | 'glb' | 'spz' | 'sog' | 'png' | 'gif';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['ply', 'glb', 'spz', 'sog', 'png', 'gif'];
/** Written unless `formats` says otherwise (SPZ and SOG only when asked). */
export const DEFAULT_FORMATS: readonly OutputFormat[] = ['ply', 'glb', 'png', 'gif'];

/** How `mesh.glb` is made: `baked` (simplified, UV-mapped, texture baked from the Gaussians) or `vertex`
 * (the decoder's full mesh with vertex colours; also the fallback when there are no Gaussians). */
export interface ReconstructGlbOptions extends Omit<TexturedGlbOptions, 'onProgress'> {
  texture?: 'baked' | 'vertex';
}

export interface ReconstructOptions extends Omit<RunPipelineOptions, 'outputs'> {
  /** Output folder; null/omitted = compute only (results in memory). */
  out?: string | null;
  /** Replace an existing `out`. */
  force?: boolean;
  formats?: readonly OutputFormat[];
  /** `mesh.glb` options (default: baked texture, src/representations/glb-export.ts defaults). */
  glb?: ReconstructGlbOptions;
  /** Intermediate-dump folder (dump-writer.ts); replaced only with `force`. */
  dumpDir?: string | null;
  /** Metadata written into every dump file (the run's settings). */
  dumpMetadata?: Record<string, string>;
}

export const RECONSTRUCT_DEFAULTS = {
  ...RUN_PIPELINE_DEFAULTS,
  formats: DEFAULT_FORMATS,
} as const;

export interface ReconstructResult {
  /** Final output folder (null when nothing was written). */
  out: string | null;
  /** Files written, relative to `out`. */
  files: string[];
  /** Dump folder and its files (null without `dumpDir`). */
  dump: { dir: string; files: string[] } | null;
  /** Requested outputs that could not be produced, with the reason. */
  skipped: { format: OutputFormat | 'gaussians' | 'mesh'; reason: string }[];
  /** Stage-1 occupied voxels [N, 4] (batch, x, y, z) on the 64^3 grid. */
  coords: Int32Array;
  voxels: number;
  /** Visible fraction per view. */
  visibleFractions: number[];
  timings: StageTiming[];
  totalSeconds: number;
  /** Peak GPU bytes over the run (null on the CPU). */
  peakGpuBytes: number | null;
  /** Gaussians written/decoded (0 without stage 2). */
  gaussians: number;
  /** Mesh size (null without a mesh). */
  mesh: { vertices: number; triangles: number } | null;
  /** Figures of the baked `mesh.glb` (null when it was not baked). */
  glb: TexturedGlbStats | null;
  device: string;
  warnings: string[];
}

/** Output folder handling: a temporary sibling, renamed over `out` at the end. */
class OutputDir {
  readonly final: string;
  readonly tmp: string;
  readonly files: string[] = [];
  private constructor(final: string, tmp: string) {
    this.final = final;
    this.tmp = tmp;
  }

  /** Refuses an existing `out` unless `force` (checked before any work). */
  static check(out: string, force: boolean): string {
    const final = resolve(out);
    if (existsSync(final) && !force)
      throw new InputError(`${final} already exists; choose another --out or pass --force to replace it`);
    return final;
  }

  static async create(final: string): Promise<OutputDir> {
    await mkdir(dirname(final), { recursive: true });
    const tmp = join(
      dirname(final),
      `.${basename(final)}.partial-${process.pid}-${randomBytes(4).toString('hex')}`,
    );
    await mkdir(tmp);
    return new OutputDir(final, tmp);
  }

  path(rel: string): string {
    this.files.push(rel);
    return join(this.tmp, rel);
  }

  async commit(): Promise<void> {
    let old: string | null = null;
    if (existsSync(this.final)) {
      old = join(
        dirname(this.final),
        `.${basename(this.final)}.old-${process.pid}-${randomBytes(4).toString('hex')}`,
      );
      await rename(this.final, old);
    }
    await rename(this.tmp, this.final);
    if (old) await rm(old, { recursive: true, force: true });
  }

  async abort(): Promise<void> {
    await rm(this.tmp, { recursive: true, force: true });
  }
}

/**
 * Runs the whole pipeline and writes the requested formats.
 *
 * @example
 * const r = await reconstruct({ images: ['a.png'], masks: ['a_mask.png'], model: 'models/Amodal3R', out: 'out/a' });
 * console.log(r.files, r.voxels, r.timings);
 */
export async function reconstruct(options: ReconstructOptions): Promise<ReconstructResult> {
  const t0 = performance.now();
  const formats = options.formats ?? RECONSTRUCT_DEFAULTS.formats;
  for (const f of formats) {
    if (!OUTPUT_FORMATS.includes(f))
      throw new InputError(`unknown output format '${f}'; choose from ${OUTPUT_FORMATS.join(', ')}`);
  }
  const finalOut = options.out ? OutputDir.check(options.out, !!options.force) : null;
  const wantFrames = formats.includes('png') || formats.includes('gif');
  const bakeGlb = formats.includes('glb') && options.glb?.texture !== 'vertex';
  if (bakeGlb) {
    // Checked before any work: a bad value would otherwise fail only at the write stage.
    const size = options.glb?.textureSize ?? BAKE_DEFAULTS.textureSize;
    const views = options.glb?.bake?.views ?? BAKE_DEFAULTS.views;
    const ratio = options.glb?.simplify === false ? 0 : (options.glb?.simplify?.ratio ?? 0);
    if (!Number.isInteger(size) || size < 8 || size > 8192)
      throw new InputError(`GLB texture size must be an integer in [8, 8192], got ${size}`);
    if (!Number.isInteger(views) || views < 1)
      throw new InputError(`GLB bake views must be a positive integer, got ${views}`);
    if (!(ratio >= 0 && ratio < 1))
      throw new InputError(`GLB simplify ratio must be in [0, 1), got ${ratio}`);
  }
  const wantGaussians = bakeGlb || formats.some((f) => f === 'ply' || f === 'spz' || f === 'sog');
  const dumpWriter = options.dumpDir
    ? DumpWriter.check(options.dumpDir, { force: !!options.force, metadata: options.dumpMetadata })
    : null;
  let r: Awaited<ReturnType<typeof runPipeline>>;
  try {
    r = await runPipeline({
      ...options,
      ...(dumpWriter && { dump: dumpWriter.sink }),
      outputs: { gaussians: wantGaussians, mesh: formats.includes('glb'), frames: wantFrames },
    });
  } catch (e) {
    // A failed run's dump is kept (marked failed): it shows where the run went wrong.
    if (dumpWriter && dumpWriter.names().length > 0) await dumpWriter.finish(e as Error).catch(() => {});
    throw e;
  }
  const dump = dumpWriter ? { dir: dumpWriter.dir, files: await dumpWriter.finish() } : null;
  const skipped: ReconstructResult['skipped'] = [];
  for (const s of r.skipped) {
    if (s.output === 'gaussians') skipped.push({ format: 'gaussians', reason: s.reason });
    else if (s.output === 'mesh') skipped.push({ format: 'glb', reason: s.reason });
    else
      for (const f of ['png', 'gif'] as const)
        if (formats.includes(f)) skipped.push({ format: f, reason: s.reason });
  }
  const timings = [...r.timings];
  let glbStats: TexturedGlbStats | null = null;
  let outDir: OutputDir | null = null;
  if (finalOut) {
    const s = performance.now();
    const progress = (done: number, total: number) => options.onProgress?.({ stage: 'write', done, total });
    try {
      const dir = await OutputDir.create(finalOut);
      outDir = dir;
      const { gaussians, mesh, frames, coords, voxels } = r;
      const splatFiles = gaussians
        ? formats.filter((f) => f === 'ply' || f === 'spz' || f === 'sog').length
        : 0;
      // A baked GLB reports each rendered view as a unit of the write stage (it is the long part).
      const bakeViews = mesh && gaussians && bakeGlb ? (options.glb?.bake?.views ?? BAKE_DEFAULTS.views) : 0;
      const todo = 1 + splatFiles + (mesh ? 1 : 0) + bakeViews + (frames ? 1 : 0);
      let done = 0;
      progress(0, todo);
      await writePly(dir.path('occupancy.ply'), occupancyPointProperties(coords, OCCUPANCY_RESOLUTION), [
        `amodal3r stage-1 occupancy: ${voxels} voxel centres of a ${OCCUPANCY_RESOLUTION}^3 grid, Y-up`,
      ]);
      progress(++done, todo);
      if (gaussians && formats.includes('ply')) {
        await writeGaussiansPly(dir.path('gaussians.ply'), gaussians);
        progress(++done, todo);
      }
      if (gaussians && formats.includes('spz')) {
        await writeSpz(dir.path('gaussians.spz'), gaussians);
        progress(++done, todo);
      }
      if (gaussians && formats.includes('sog')) {
        await writeSog(dir.path('gaussians.sog'), gaussians);
        progress(++done, todo);
      }
      if (mesh && gaussians && bakeGlb) {
        // The run released its device; the bake renders the Gaussians again on one of its own (or the caller's).
        const dev =
          options.gpu !== undefined
            ? { gpu: options.gpu, owned: false }
            : await acquireDevice(options.device ?? RECONSTRUCT_DEFAULTS.device, (m) =>
                options.onWarning?.(m),
              );
        const before = done;
        try {
          glbStats = await writeTexturedGlb(dir.path('mesh.glb'), mesh, gaussians, dev.gpu, {
            ...options.glb,
            onProgress: (stage, d) => {
              if (stage === 'bake') progress(before + d, todo);
            },
          });
        } finally {
          if (dev.owned) dev.gpu?.destroy();
        }
        done = before + bakeViews;
        progress(++done, todo);
      } else if (mesh) {
        if (bakeGlb)
          options.onWarning?.('mesh.glb: no Gaussians to bake a texture from; wrote vertex colours');
        await writeMeshGlb(dir.path('mesh.glb'), mesh);
        progress(++done, todo);
      }
      if (frames) {
        if (formats.includes('png')) {
          const paths = await writeFrames(join(dir.tmp, 'frames'), frames);
          for (const p of paths) dir.files.push(relative(dir.tmp, p));
        }
        if (formats.includes('gif')) await writeGif(dir.path('turntable.gif'), frames, { fps: 30 });
        progress(++done, todo);
      }
      await dir.commit();
    } catch (e) {
      await outDir?.abort();
      throw e;
    }
    timings.push({
      stage: 'write',
      seconds: (performance.now() - s) / 1000,
      loadSeconds: 0,
      peakGpuBytes: null,
    });
  }
  return {
    out: finalOut,
    files: outDir?.files ?? [],
    dump,
    skipped,
    coords: r.coords,
    voxels: r.voxels,
    visibleFractions: r.visibleFractions,
    timings,
    totalSeconds: (performance.now() - t0) / 1000,
    peakGpuBytes: r.peakGpuBytes,
    gaussians: r.gaussians?.count ?? 0,
    mesh: r.mesh ? { vertices: r.mesh.vertices.length / 3, triangles: r.mesh.faces.length / 3 } : null,
    glb: glbStats,
    device: r.device,
    warnings: r.warnings,
  };
}
