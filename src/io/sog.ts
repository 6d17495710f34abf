/**
 * SOG (PlayCanvas' "Spatially Ordered Gaussians": meta.json + WebP textures, bundled as one zip `.sog`) through
 * PlayCanvas' own encoder/decoder, `@playcanvas/splat-transform` (what SuperSplat uses).
 *
 * What is stored: the rows of our `gaussians.ply` (official `save_ply`, Y-up), handed to the library as PLY-space
 * data (`Transform.PLY`), so a viewer shows the same orientation for the .ply and the .sog. The `model` entry is
 * "antialiased" by default (TRELLIS renders with the Mip-Splatting 2-D filter). The encoder reorders Gaussians
 * (Morton order), so a read-back has the same set in another order.
 *
 * Quantisation (SOG v2, library defaults): positions 16 bits per axis after `sign(x) log(|x| + 1)` over the
 * bounding box; rotations smallest-three in 8 bits; log-scales and SH DC through 256-entry k-means codebooks (1-D,
 * `iterations` rounds); opacity as `sigmoid` in 8 bits.
 *
 * Notes
 * - The library declares Node >= 22; its SOG write/read path was checked on Node 20.20 (the tests run it).
 * - Encoding 500 Gaussians takes ~3-5 s on this 2-core box whatever the count (fixed cost: WebP codec and k-means
 *   setup), 20k Gaussians ~3.2 s; it runs inline (`workers: 0`) or on the library's worker threads (default: up to
 *   4, one per spare core). Inline and worker runs gave files of slightly different sizes for the same input
 *   (20003 vs 19876 B): the k-means is seeded differently, both decode within the format's error.
 */

import {
  Column,
  createChunkDataPool,
  DataTable,
  MemoryFileSystem,
  MemoryReadFileSystem,
  materializeToDataTable,
  readFile,
  bakeTransform as stBakeTransform,
  writeSog as stWriteSog,
  Transform,
  WorkerQueue,
} from '@playcanvas/splat-transform';
import { writeFileAtomic } from './atomic-write.ts';
import { GAUSSIAN_PLY_PROPERTIES, PlyError, type PlyRows } from './ply-gaussians.ts';
import { columnsToRows, type SplatSource, splatColumns } from './splat-rows.ts';

/** Options of `gaussiansToSog` / `writeSog`. */
export interface SogOptions {
  /** k-means rounds for the scale and colour codebooks (the library's default 10; more = slower, closer). */
  iterations?: number;
  /** `model` entry of meta.json: "antialiased" (Mip-Splatting 2-D filter, TRELLIS' renderer) or "default". */
  antialiased?: boolean;
  /**
   * Worker threads of the library's encoder (0 = inline on this thread). `null` keeps the library's choice.
   * This is a process-wide setting of splat-transform's worker pool.
   */
  workers?: number | null;
}

export const SOG_DEFAULTS: Required<SogOptions> = { iterations: 10, antialiased: true, workers: null };

/** The columns handed to the encoder (normals are not part of a splat). */
const SOG_COLUMNS = GAUSSIAN_PLY_PROPERTIES.filter((n) => !['nx', 'ny', 'nz'].includes(n));

/** The zip local-file-header magic every bundled .sog starts with. */
const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

/** Rows per chunk when decoding (the library's pools work in chunks). */
const READ_CHUNK = 65536;

/**
 * Encodes Gaussians as a bundled .sog (zip) in memory (no file system; the browser app uses this directly).
 * @example
 * const bytes = await gaussiansToSog(gaussians);
 * const quick = await gaussiansToSog(gaussians, { iterations: 4, workers: 0 });
 */
export async function gaussiansToSog(source: SplatSource, options: SogOptions = {}): Promise<Uint8Array> {
  const o = { ...SOG_DEFAULTS, ...options };
  if (!Number.isInteger(o.iterations) || o.iterations < 1) {
    throw new PlyError(`SOG: iterations must be a positive integer, got ${o.iterations}`);
  }
  const { columns } = splatColumns(source, 'SOG');
  const table = new DataTable(
    SOG_COLUMNS.map((name) => new Column(name, columns[name])),
    Transform.PLY,
  );
  if (o.workers !== null) WorkerQueue.maxWorkers = o.workers;
  const fs = new MemoryFileSystem();
  const filename = 'gaussians.sog';
  await stWriteSog(
    {
      filename,
      bundle: true,
      iterations: o.iterations,
      dataTable: table,
      model: o.antialiased ? 'antialiased' : 'default',
      logging: 'silent',
    },
    fs,
  );
  const bytes = fs.results.get(filename);
  if (!bytes || !ZIP_MAGIC.every((b, i) => bytes[i] === b)) {
    throw new Error('SOG: the encoder produced no bundled .sog (zip) output');
  }
  return bytes;
}

/**
 * Writes Gaussians as a bundled .sog file atomically (temp file + rename). Returns the byte size.
 * @example
 * await writeSog('out/gaussians.sog', gaussians);
 */
export async function writeSog(path: string, source: SplatSource, options: SogOptions = {}): Promise<number> {
  const bytes = await gaussiansToSog(source, options);
  await writeFileAtomic(path, bytes);
  return bytes.byteLength;
}

/** What `readSog` returns: the PLY rows (in the file's order) plus the count. */
export interface SogContents extends PlyRows {
  count: number;
}

/**
 * Decodes a bundled .sog into rows in the 3DGS PLY layout (PLY space, normals zero), through the library's reader.
 * @example
 * const { count, rows } = await readSog(await readFile('out/gaussians.sog'));
 */
export async function readSog(bytes: Uint8Array, name = 'SOG data'): Promise<SogContents> {
  if (!ZIP_MAGIC.every((b, i) => bytes[i] === b)) {
    throw new PlyError(`${name}: not a bundled .sog (expected a zip header, got bytes ${bytes.slice(0, 4)})`);
  }
  const fs = new MemoryReadFileSystem();
  fs.set('in.sog', bytes);
  let table: DataTable;
  try {
    const sources = await readFile({
      filename: 'in.sog',
      inputFormat: 'sog',
      fileSystem: fs,
      options: {},
      params: [],
    });
    if (sources.length !== 1) throw new Error(`${sources.length} scenes`);
    const pool = createChunkDataPool(READ_CHUNK);
    table = await materializeToDataTable(stBakeTransform(sources[0], Transform.PLY), pool);
    for (const s of sources) await s.close();
  } catch (e) {
    throw new PlyError(`${name}: the SOG reader could not decode it (${(e as Error).message})`);
  }
  const n = table.numRows;
  const cols: Record<string, ArrayLike<number>> = {};
  for (const c of SOG_COLUMNS) {
    const col = table.getColumnByName(c);
    if (!col) throw new PlyError(`${name}: decoded SOG lacks column ${c}`);
    cols[c] = col.data;
  }
  return { ...columnsToRows(n, cols), count: n };
}
