/**
 * `npm run bench -- occlude3d [--json] [--faces 10000,100000,1000000] [--max-faces N] [--views 4,150]
 * [--resolution 512] [--cpu] [--no-write]`: 3-D-consistent occlusion of procedural meshes (src/data/procedural.ts,
 * a bumpy torus) rendered from TRELLIS cameras, with the time of each phase: adjacency, patch growth, projection,
 * per-face shading, render (upload + rasterise + resolve + read back), pack (words -> RGBA + mask), and the PNG
 * encode/write (overlapped with rendering: `write` is summed over views, `total` is the wall time of the run).
 *
 * One timed run per (faces, views) after one untimed warm-up at the smallest size (pipeline creation); these are
 * seconds-long workloads, so the median of several runs is not needed to read them.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { occlude3d, occlude3dToDir } from '../src/data/occlude3d.ts';
import { bumpyTorus } from '../src/data/procedural.ts';
import { argValue, type BenchFn } from './harness.ts';

const DEFAULT_FACES = [10_000, 100_000, 1_000_000];
const DEFAULT_VIEWS = [4, 150];

function list(v: string | undefined, dflt: number[]): number[] {
  if (v === undefined) return dflt;
  return v.split(',').map((s) => {
    const n = Number(s.replace(/k$/i, '000').replace(/m$/i, '000000'));
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`bench occlude3d: bad number "${s}"`);
    return n;
  });
}

const bench: BenchFn = async ({ gpu, args }) => {
  const cpu = args.includes('--cpu');
  const write = !args.includes('--no-write');
  const maxFaces = Number(argValue(args, 'max-faces') ?? Number.POSITIVE_INFINITY);
  const faces = list(argValue(args, 'faces'), DEFAULT_FACES).filter((f) => f <= maxFaces);
  const views = list(argValue(args, 'views'), DEFAULT_VIEWS);
  const resolution = Number(argValue(args, 'resolution') ?? 512);
  const ctx = cpu ? null : gpu;
  const dir = await mkdtemp(join(tmpdir(), 'bench-occlude3d-'));
  const rows: Record<string, unknown>[] = [];
  try {
    // Warm-up: pipeline creation and sharp's first encode.
    await occlude3dToDir(join(dir, 'warm'), bumpyTorus(1000), { views: 2, resolution, gpu: ctx });
    for (const F of faces) {
      const t0 = performance.now();
      const mesh = bumpyTorus(F);
      const makeMs = performance.now() - t0;
      for (const V of views) {
        const timings: Record<string, number> = {};
        const out = join(dir, `${F}-${V}`);
        const s = performance.now();
        if (write) await occlude3dToDir(out, mesh, { views: V, resolution, gpu: ctx, timings });
        else await occlude3d(mesh, { views: V, resolution, gpu: ctx, timings, onView: () => {} });
        const totalMs = performance.now() - s;
        await rm(out, { recursive: true, force: true });
        const row = {
          faces: mesh.mesh.faces.length / 3,
          views: V,
          resolution,
          backend: ctx ? 'webgpu' : 'cpu',
          makeMeshMs: Math.round(makeMs),
          totalMs: Math.round(totalMs),
          perViewMs: Math.round((totalMs / V) * 10) / 10,
          phasesMs: Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v)])),
        };
        rows.push(row);
        console.error(
          `occlude3d ${row.faces} faces x ${V} views @${resolution} (${row.backend}): ${(totalMs / 1000).toFixed(2)} s` +
            ` [${Object.entries(row.phasesMs)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')}] ms`,
        );
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return { write, rows };
};

export default bench;
