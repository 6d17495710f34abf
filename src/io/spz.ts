/**
 * SPZ (Niantic's compressed Gaussian splat format) through the official library, `@adobe/spz` (the nianticlabs/spz
 * C++ code compiled to WebAssembly; works in Node and browsers, no native build).
 *
 * What is stored: the rows of our `gaussians.ply` (the official `save_ply`, Y-up), packed with
 * `from: UNSPECIFIED`, i.e. without an axis conversion, as the official `ply_to_spz` tool and PlayCanvas'
 * splat-transform do, so a PLY -> SPZ conversion by either tool gives the same axes as ours. The header's
 * antialiased flag is set by default: TRELLIS/Amodal3R Gaussians are rendered with the Mip-Splatting 2-D filter.
 *
 * Quantisation (format version 4, from the spec and `splat-types.cc`): positions 24-bit fixed point with 12
 * fractional bits (step 1/4096); log-scales 8 bits, `(s + 10) * 16` (step 1/16); opacity as `sigmoid` in 8 bits;
 * SH DC colour as `dc * 0.15 + 0.5` in 8 bits (so |dc| beyond 0.5 / 0.15 = 3.33 is clipped); rotations as the
 * smallest three quaternion components in 10 bits plus the index of the largest.
 *
 * Alternatives: spz-js (a JS port that pulls in the whole playcanvas engine) and writing the container by hand
 * (the issue asks for maintained libraries). `@adobe/spz` is also what splat-transform uses to write SPZ.
 */

import type { GaussianCloud, SpzModule } from '@adobe/spz';
import * as spzPackage from '@adobe/spz';
import { writeFileAtomic } from './atomic-write.ts';
import { PlyError, type PlyRows } from './ply-gaussians.ts';
import { columnsToRows, type SplatSource, splatColumns } from './splat-rows.ts';

/** Options of `gaussiansToSpz` / `writeSpz`. */
export interface SpzOptions {
  /** SPZ format version: 4 (ZSTD streams, current) or 3 (gzip, read by older viewers). */
  version?: 3 | 4;
  /** Header flag telling viewers the splats expect the Mip-Splatting 2-D filter (TRELLIS renders with it). */
  antialiased?: boolean;
}

export const SPZ_DEFAULTS: Required<SpzOptions> = { version: 4, antialiased: true };

/** File magic of format version 4 ("NGSP") and of the gzip container of versions 1-3. */
const NGSP_MAGIC = [0x4e, 0x47, 0x53, 0x50];
const GZIP_MAGIC = [0x1f, 0x8b];

let modulePromise: Promise<SpzModule> | null = null;

/** Loads the wasm module once; its stdout/stderr chatter ("[SPZ] loadSpzPacked ...") is dropped. */
function spzModule(): Promise<SpzModule> {
  // The package ships ESM (`export default`) without "type": "module": Node (>= 20.19, syntax detection)
  // loads it as ESM, where `.default` is the factory, but TypeScript types it as CommonJS, where `.default` is
  // the whole module. The cast states the runtime reading.
  const factory = spzPackage.default as unknown as (typeof spzPackage)['default']['default'];
  const promise = modulePromise ?? factory({ print: () => {}, printErr: () => {} });
  modulePromise = promise;
  return promise;
}

/**
 * Encodes Gaussians as SPZ bytes (no file system; the browser app uses this directly).
 * @example
 * const bytes = await gaussiansToSpz(gaussians);            // version 4, antialiased
 * const legacy = await gaussiansToSpz(gaussians, { version: 3 });
 */
export async function gaussiansToSpz(source: SplatSource, options: SpzOptions = {}): Promise<Uint8Array> {
  const o = { ...SPZ_DEFAULTS, ...options };
  if (o.version !== 3 && o.version !== 4) throw new PlyError(`SPZ: version must be 3 or 4, got ${o.version}`);
  const { count, columns: c } = splatColumns(source, 'SPZ');
  const positions = new Float32Array(count * 3);
  const scales = new Float32Array(count * 3);
  const colors = new Float32Array(count * 3);
  const rotations = new Float32Array(count * 4);
  for (let i = 0; i < count; i++) {
    positions.set([c.x[i], c.y[i], c.z[i]], i * 3);
    scales.set([c.scale_0[i], c.scale_1[i], c.scale_2[i]], i * 3);
    colors.set([c.f_dc_0[i], c.f_dc_1[i], c.f_dc_2[i]], i * 3);
    // SPZ quaternions are (x, y, z, w); the PLY's rot_0 is w.
    rotations.set([c.rot_1[i], c.rot_2[i], c.rot_3[i], c.rot_0[i]], i * 4);
  }
  const spz = await spzModule();
  const cloud: GaussianCloud = {
    numPoints: count,
    shDegree: 0,
    antialiased: o.antialiased,
    extensions: [],
    positions,
    scales,
    rotations,
    alphas: c.opacity,
    colors,
    sh: new Float32Array(0),
  };
  const bytes = spz.saveSpzToBuffer(cloud, {
    version: o.version,
    from: spz.CoordinateSystem.UNSPECIFIED,
    sh1Bits: 5, // the library's defaults; unused at SH degree 0
    shRestBits: 4,
  });
  const magic = o.version === 4 ? NGSP_MAGIC : GZIP_MAGIC;
  if (!magic.every((b, i) => bytes[i] === b)) {
    throw new Error(
      `SPZ: the library did not produce a version ${o.version} file (first bytes ${bytes.slice(0, 4)})`,
    );
  }
  // Copy out of the wasm heap view before anything else can reuse it.
  return bytes.slice();
}

/**
 * Writes Gaussians as an .spz file atomically (temp file + rename). Returns the byte size.
 * @example
 * await writeSpz('out/gaussians.spz', gaussians);
 */
export async function writeSpz(path: string, source: SplatSource, options: SpzOptions = {}): Promise<number> {
  const bytes = await gaussiansToSpz(source, options);
  await writeFileAtomic(path, bytes);
  return bytes.byteLength;
}

/** What `readSpz` returns: the PLY rows plus the header flag. */
export interface SpzContents extends PlyRows {
  count: number;
  antialiased: boolean;
}

/**
 * Decodes SPZ bytes (any version the official library reads) into rows in the 3DGS PLY layout (normals zero),
 * without axis conversion. SH degrees above 0 are refused: nothing here produces them.
 * @example
 * const { count, rows } = await readSpz(await readFile('out/gaussians.spz'));
 */
export async function readSpz(bytes: Uint8Array, name = 'SPZ data'): Promise<SpzContents> {
  const isV4 = NGSP_MAGIC.every((b, i) => bytes[i] === b);
  const isGzip = GZIP_MAGIC.every((b, i) => bytes[i] === b);
  if (!isV4 && !isGzip) {
    throw new PlyError(
      `${name}: not an SPZ file (expected "NGSP" or a gzip header, got bytes ${bytes.slice(0, 4)})`,
    );
  }
  const spz = await spzModule();
  const cloud = spz.loadSpzFromBuffer(bytes, { to: spz.CoordinateSystem.UNSPECIFIED });
  // The library reports corrupt input on stderr and returns an empty cloud instead of throwing.
  if (!cloud || cloud.numPoints <= 0 || cloud.positions.length !== cloud.numPoints * 3) {
    throw new PlyError(`${name}: the SPZ library could not decode it (truncated or corrupt?)`);
  }
  if (cloud.shDegree !== 0)
    throw new PlyError(`${name}: SH degree ${cloud.shDegree} is not supported (only 0)`);
  const n = cloud.numPoints;
  const col = (src: Float32Array, stride: number, k: number): Float32Array => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = src[i * stride + k];
    return out;
  };
  const rows = columnsToRows(n, {
    x: col(cloud.positions, 3, 0),
    y: col(cloud.positions, 3, 1),
    z: col(cloud.positions, 3, 2),
    f_dc_0: col(cloud.colors, 3, 0),
    f_dc_1: col(cloud.colors, 3, 1),
    f_dc_2: col(cloud.colors, 3, 2),
    opacity: cloud.alphas,
    scale_0: col(cloud.scales, 3, 0),
    scale_1: col(cloud.scales, 3, 1),
    scale_2: col(cloud.scales, 3, 2),
    rot_0: col(cloud.rotations, 4, 3),
    rot_1: col(cloud.rotations, 4, 0),
    rot_2: col(cloud.rotations, 4, 1),
    rot_3: col(cloud.rotations, 4, 2),
  });
  return { ...rows, count: n, antialiased: cloud.antialiased };
}
