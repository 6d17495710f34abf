/**
 * `npm run bench -- outputs [--json] [--gaussians N] [--subdiv S] [--texture T] [--views K] [--view-size P]`:
 * the output writers on a synthetic object: N Gaussians on a sphere shell (radius 0.35, colour by direction,
 * scales 4e-3) and an icosphere mesh of 20 * 4^S triangles. Times (wall, this process) and sizes of
 * gaussians.ply / .spz / .sog encoding, and of each textured-GLB stage (simplify 0.95, xatlas, bake: K views of
 * P^2 rendered with our rasteriser + CPU projection of the T^2 texels, PNG + GLB encode), plus the
 * vertex-colour GLB. Defaults: 100k Gaussians, S = 6 (81,920 triangles, a decoded TRELLIS mesh has 10^5-10^6),
 * T = 1024, K = 32, P = 512.
 *
 * @example
 * npm run bench -- outputs --gaussians 20000 --subdiv 5 --texture 512 --views 8 --view-size 256
 */

import { encodePly, GAUSSIAN_PLY_PROPERTIES, rowsToProperties, zUpToYUp } from '../src/io/ply-gaussians.ts';
import { gaussiansToSog } from '../src/io/sog.ts';
import { columnsToRows } from '../src/io/splat-rows.ts';
import { gaussiansToSpz } from '../src/io/spz.ts';
import { SH_C0 } from '../src/render/splat.cpu.ts';
import { meshToTexturedGlb } from '../src/representations/glb-export.ts';
import { meshToGlb } from '../src/representations/mesh.ts';
import { icosphere } from '../test/helpers/shapes.ts';
import { sphereSplats } from '../test/helpers/splats.ts';
import { argValue, type BenchFn } from './harness.ts';

/** Scale and opacity of every synthetic Gaussian (header: scales 4e-3). */
const SPLAT_SCALE = 4e-3;
const SPLAT_OPACITY = 0.9;

const bench: BenchFn = async ({ gpu, args }) => {
  const n = Number(argValue(args, 'gaussians') ?? 100_000);
  const subdiv = Number(argValue(args, 'subdiv') ?? 6);
  const texture = Number(argValue(args, 'texture') ?? 1024);
  const views = Number(argValue(args, 'views') ?? 32);
  const viewSize = Number(argValue(args, 'view-size') ?? 512);
  const radius = 0.35;
  const splats = sphereSplats(n, radius, (d) => d.map((v) => 0.5 + 0.45 * v), {
    scale: SPLAT_SCALE,
    opacity: SPLAT_OPACITY,
  });
  // The same Gaussians as PLY rows (Y-up as save_ply, raw SH DC, logit opacity, log scales, w-first quaternions);
  // every column of the 3DGS layout, the normals staying zero as save_ply writes them.
  const cols: Record<string, Float32Array> = {};
  for (const k of GAUSSIAN_PLY_PROPERTIES) cols[k] = new Float32Array(n);
  const p = splats.positions;
  for (let i = 0; i < n; i++) {
    [cols.x[i], cols.y[i], cols.z[i]] = zUpToYUp(p[i * 3], p[i * 3 + 1], p[i * 3 + 2]);
    for (let c = 0; c < 3; c++) cols[`f_dc_${c}`][i] = (splats.colors[i * 3 + c] - 0.5) / SH_C0;
    cols.opacity[i] = Math.log(SPLAT_OPACITY / (1 - SPLAT_OPACITY));
    for (let c = 0; c < 3; c++) cols[`scale_${c}`][i] = Math.log(SPLAT_SCALE);
    cols.rot_0[i] = 1;
  }
  const rows = columnsToRows(n, cols);
  const out: Record<string, unknown> = { gaussians: n, subdiv, texture, views, viewSize };
  const time = async <T>(label: string, f: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const r = await f();
    const s = (performance.now() - t) / 1000;
    out[`${label}_s`] = Number(s.toFixed(3));
    return r;
  };
  const ply = await time('ply', async () => encodePly(rowsToProperties(rows)));
  const spz = await time('spz', () => gaussiansToSpz(rows));
  const sog = await time('sog', () => gaussiansToSog(rows));
  Object.assign(out, { ply_bytes: ply.byteLength, spz_bytes: spz.byteLength, sog_bytes: sog.byteLength });
  console.log(
    `gaussians ${n}: ply ${ply.byteLength} B ${out.ply_s} s | spz ${spz.byteLength} B ${out.spz_s} s | sog ${sog.byteLength} B ${out.sog_s} s`,
  );
  const mesh = icosphere(radius, subdiv);
  const vc = await time('glb_vertex_colour', () => meshToGlb(mesh));
  out.glb_vertex_colour_bytes = vc.byteLength;
  const { bytes, stats } = await time('glb_textured', () =>
    meshToTexturedGlb(mesh, splats, gpu, { textureSize: texture, bake: { views, viewSize } }),
  );
  Object.assign(out, { glb_textured_bytes: bytes.byteLength, ...stats });
  console.log(
    `mesh ${stats.facesIn} -> ${stats.facesOut} faces, texture ${texture}^2 from ${views} views of ${viewSize}^2: ` +
      `simplify ${stats.seconds.simplify.toFixed(2)} s, xatlas ${stats.seconds.atlas.toFixed(2)} s, ` +
      `bake ${stats.seconds.bake.toFixed(2)} s, encode ${stats.seconds.encode.toFixed(2)} s; ` +
      `seen ${(stats.seenFraction * 100).toFixed(1)}% of texels; ${bytes.byteLength} B`,
  );
  return out;
};

export default bench;
