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

import { encodePly, rowsToProperties } from '../src/io/ply-gaussians.ts';
import { gaussiansToSog } from '../src/io/sog.ts';
import { columnsToRows } from '../src/io/splat-rows.ts';
import { gaussiansToSpz } from '../src/io/spz.ts';
import type { SplatInput } from '../src/render/splat.cpu.ts';
import { meshToTexturedGlb } from '../src/representations/glb-export.ts';
import { meshToGlb } from '../src/representations/mesh.ts';
import { icosphere } from '../test/helpers/shapes.ts';
import { argValue, type BenchFn } from './harness.ts';

const SH_C0 = 0.28209479177387814;

const bench: BenchFn = async ({ gpu, args }) => {
  const n = Number(argValue(args, 'gaussians') ?? 100_000);
  const subdiv = Number(argValue(args, 'subdiv') ?? 6);
  const texture = Number(argValue(args, 'texture') ?? 1024);
  const views = Number(argValue(args, 'views') ?? 32);
  const viewSize = Number(argValue(args, 'view-size') ?? 512);
  const radius = 0.35;
  const golden = Math.PI * (3 - Math.sqrt(5));
  const splats: SplatInput = {
    positions: new Float32Array(n * 3),
    scales: new Float32Array(n * 3).fill(4e-3),
    rotations: new Float32Array(n * 4),
    opacities: new Float32Array(n).fill(0.9),
    colors: new Float32Array(n * 3),
  };
  const cols: Record<string, Float32Array> = {};
  for (const k of [
    'x',
    'y',
    'z',
    'f_dc_0',
    'f_dc_1',
    'f_dc_2',
    'opacity',
    'scale_0',
    'scale_1',
    'scale_2',
    'rot_0',
    'rot_1',
    'rot_2',
    'rot_3',
  ])
    cols[k] = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const z = 1 - (2 * (i + 0.5)) / n;
    const r = Math.sqrt(1 - z * z);
    const d = [Math.cos(i * golden) * r, Math.sin(i * golden) * r, z];
    const rgb = d.map((v) => 0.5 + 0.45 * v);
    splats.positions.set(
      d.map((v) => v * radius),
      i * 3,
    );
    splats.colors.set(rgb, i * 3);
    splats.rotations[i * 4] = 1;
    // The same Gaussians as PLY rows (Y-up as save_ply: (x, y, z) -> (x, -z, y)).
    [cols.x[i], cols.y[i], cols.z[i]] = [d[0] * radius, -d[2] * radius, d[1] * radius];
    for (let c = 0; c < 3; c++) cols[`f_dc_${c}`][i] = (rgb[c] - 0.5) / SH_C0;
    cols.opacity[i] = Math.log(0.9 / 0.1);
    for (let c = 0; c < 3; c++) cols[`scale_${c}`][i] = Math.log(4e-3);
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
