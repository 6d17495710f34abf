/**
 * Binary PLY point files: the 3D Gaussian Splatting layout of the official `Gaussian.save_ply` (one `vertex`
 * element, float32 properties `x y z nx ny nz f_dc_0..2 opacity scale_0..2 rot_0..3`, little-endian), and plain
 * point clouds (the stage-1 occupancy). Also a reader for such files (float/double/int/uchar vertex properties),
 * used by tests and tools to check what was written.
 *
 * The header is what `plyfile` writes (`format binary_little_endian 1.0`, `element vertex N`,
 * `property float <name>`), so viewers that read the official files read these.
 */

/** One float32 per-vertex property. */
export interface PlyProperty {
  name: string;
  data: Float32Array;
}

/** The 3DGS property order of the official `save_ply` (SH degree 0). */
export const GAUSSIAN_PLY_PROPERTIES = [
  'x',
  'y',
  'z',
  'nx',
  'ny',
  'nz',
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
] as const;

/** Thrown for malformed PLY input or inconsistent properties. */
export class PlyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlyError';
  }
}

function checkProperties(properties: readonly PlyProperty[]): number {
  if (properties.length === 0) throw new PlyError('encodePly: at least one property is needed');
  const n = properties[0].data.length;
  const seen = new Set<string>();
  for (const p of properties) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(p.name))
      throw new PlyError(`encodePly: invalid property name '${p.name}'`);
    if (seen.has(p.name)) throw new PlyError(`encodePly: property '${p.name}' given twice`);
    seen.add(p.name);
    if (p.data.length !== n)
      throw new PlyError(
        `encodePly: property '${p.name}' has ${p.data.length} values, '${properties[0].name}' has ${n}`,
      );
  }
  return n;
}

/**
 * A binary little-endian PLY with one `vertex` element of float32 properties (interleaved per vertex).
 * @example
 * const bytes = encodePly([{ name: 'x', data: xs }, { name: 'y', data: ys }, { name: 'z', data: zs }]);
 */
export function encodePly(properties: readonly PlyProperty[], comments: readonly string[] = []): Uint8Array {
  const n = checkProperties(properties);
  const lines = ['ply', 'format binary_little_endian 1.0'];
  for (const c of comments) lines.push(`comment ${c.replace(/[\r\n]/g, ' ')}`);
  lines.push(`element vertex ${n}`);
  for (const p of properties) lines.push(`property float ${p.name}`);
  lines.push('end_header');
  const header = new TextEncoder().encode(`${lines.join('\n')}\n`);
  const P = properties.length;
  const body = new Float32Array(n * P);
  for (let j = 0; j < P; j++) {
    const d = properties[j].data;
    for (let i = 0; i < n; i++) body[i * P + j] = d[i];
  }
  const out = new Uint8Array(header.byteLength + body.byteLength);
  out.set(header, 0);
  // Float32Array is host-endian; every supported host (x86, ARM) is little-endian, as the format says.
  out.set(new Uint8Array(body.buffer), header.byteLength);
  return out;
}

/**
 * Writes a float32 vertex PLY atomically.
 * @example
 * await writePly('out/occupancy.ply', occupancyPointProperties(coords, 64));
 */
export async function writePly(
  path: string,
  properties: readonly PlyProperty[],
  comments: readonly string[] = [],
): Promise<void> {
  // Loaded on demand: encoding and parsing stay browser-safe (the web app downloads encodePly's bytes).
  const { writeFileAtomic } = await import('./atomic-write.ts');
  await writeFileAtomic(path, encodePly(properties, comments));
}

/** Per-vertex rows as `Gaussians.toPlyProperties()` returns them: `rows` is [n, names.length] row-major. */
export interface PlyRows {
  names: readonly string[];
  rows: Float32Array;
}

/** Something that can list its per-Gaussian PLY rows (src/representations/gaussians.ts `Gaussians`). */
export interface GaussianPlySource {
  toPlyProperties(): PlyRows;
}

/**
 * Splits interleaved rows into per-property columns.
 * @example
 * const props = rowsToProperties(gaussians.toPlyProperties());
 */
export function rowsToProperties(r: PlyRows): PlyProperty[] {
  const P = r.names.length;
  if (P === 0 || r.rows.length % P !== 0)
    throw new PlyError(`rowsToProperties: ${r.rows.length} values are not rows of ${P} properties`);
  const n = r.rows.length / P;
  return r.names.map((name, j) => {
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = r.rows[i * P + j];
    return { name, data };
  });
}

/**
 * Writes Gaussians in the official 3DGS layout; refuses property lists that are not exactly that layout, so a
 * viewer never gets a file it would misread. Returns the number of Gaussians.
 * @example
 * await writeGaussiansPly('out/gaussians.ply', gaussians);
 */
export async function writeGaussiansPly(
  path: string,
  g: GaussianPlySource | PlyRows | readonly PlyProperty[],
): Promise<number> {
  const props = Array.isArray(g)
    ? [...(g as readonly PlyProperty[])]
    : rowsToProperties(
        'toPlyProperties' in (g as object) ? (g as GaussianPlySource).toPlyProperties() : (g as PlyRows),
      );
  const names = props.map((p) => p.name);
  if (names.join(' ') !== GAUSSIAN_PLY_PROPERTIES.join(' ')) {
    throw new PlyError(
      `writeGaussiansPly: properties [${names.join(' ')}] are not the 3DGS layout [${GAUSSIAN_PLY_PROPERTIES.join(' ')}]`,
    );
  }
  await writePly(path, props);
  return props[0].data.length;
}

/** Z-up (TRELLIS) to Y-up, as `save_ply` and the GLB export apply: (x, y, z) -> (x, -z, y). */
export function zUpToYUp(x: number, y: number, z: number): [number, number, number] {
  return [x, -z, y];
}

/**
 * Voxel centres of stage-1 coordinates ([N, 4] batch, x, y, z on a `resolution`^3 grid) as a point cloud in the
 * Gaussians' frame: (c + 0.5) / resolution - 0.5 in [-0.5, 0.5]^3 (TRELLIS), then Z-up -> Y-up like gaussians.ply.
 * @example
 * await writePly('occupancy.ply', occupancyPointProperties(coords, 64));
 */
export function occupancyPointProperties(coords: Int32Array, resolution: number): PlyProperty[] {
  if (coords.length % 4 !== 0)
    throw new PlyError(`occupancyPointProperties: coords length ${coords.length} is not a multiple of 4`);
  const n = coords.length / 4;
  const x = new Float32Array(n);
  const y = new Float32Array(n);
  const z = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const p = [1, 2, 3].map((a) => (coords[i * 4 + a] + 0.5) / resolution - 0.5);
    const [u, v, w] = zUpToYUp(p[0], p[1], p[2]);
    x[i] = u;
    y[i] = v;
    z[i] = w;
  }
  return [
    { name: 'x', data: x },
    { name: 'y', data: y },
    { name: 'z', data: z },
  ];
}

const PLY_TYPES: Record<string, { size: number; read: (v: DataView, o: number) => number }> = {
  float: { size: 4, read: (v, o) => v.getFloat32(o, true) },
  float32: { size: 4, read: (v, o) => v.getFloat32(o, true) },
  double: { size: 8, read: (v, o) => v.getFloat64(o, true) },
  float64: { size: 8, read: (v, o) => v.getFloat64(o, true) },
  uchar: { size: 1, read: (v, o) => v.getUint8(o) },
  uint8: { size: 1, read: (v, o) => v.getUint8(o) },
  char: { size: 1, read: (v, o) => v.getInt8(o) },
  int8: { size: 1, read: (v, o) => v.getInt8(o) },
  short: { size: 2, read: (v, o) => v.getInt16(o, true) },
  int16: { size: 2, read: (v, o) => v.getInt16(o, true) },
  ushort: { size: 2, read: (v, o) => v.getUint16(o, true) },
  uint16: { size: 2, read: (v, o) => v.getUint16(o, true) },
  int: { size: 4, read: (v, o) => v.getInt32(o, true) },
  int32: { size: 4, read: (v, o) => v.getInt32(o, true) },
  uint: { size: 4, read: (v, o) => v.getUint32(o, true) },
  uint32: { size: 4, read: (v, o) => v.getUint32(o, true) },
};

/** A parsed vertex-only binary PLY. */
export interface ParsedPly {
  vertexCount: number;
  /** Property names in file order. */
  names: string[];
  /** Values per property (as float32). */
  properties: Map<string, Float32Array>;
  comments: string[];
}

/**
 * Parses a binary little-endian PLY whose first element is `vertex` with scalar properties (other elements after
 * it are ignored).
 * @example
 * const ply = parsePly(await readFile('out/gaussians.ply'));
 * console.log(ply.vertexCount, ply.names);
 */
export function parsePly(bytes: Uint8Array): ParsedPly {
  const probe = new TextDecoder('latin1').decode(bytes.subarray(0, Math.min(bytes.length, 65536)));
  const end = probe.indexOf('end_header\n');
  if (!probe.startsWith('ply\n') || end < 0)
    throw new PlyError('parsePly: not a PLY file (no "ply" / "end_header")');
  const lines = probe.slice(0, end).split('\n');
  if (lines[1] !== 'format binary_little_endian 1.0')
    throw new PlyError(`parsePly: only binary_little_endian 1.0 is supported, got "${lines[1]}"`);
  let vertexCount = -1;
  let inVertex = false;
  const names: string[] = [];
  const types: string[] = [];
  const comments: string[] = [];
  for (const line of lines.slice(2)) {
    const t = line.trim().split(/\s+/);
    if (t[0] === 'comment') comments.push(line.slice(8));
    else if (t[0] === 'element') {
      if (vertexCount >= 0) {
        inVertex = false;
        continue;
      }
      if (t[1] !== 'vertex') throw new PlyError(`parsePly: first element is '${t[1]}', expected 'vertex'`);
      vertexCount = Number(t[2]);
      inVertex = true;
    } else if (t[0] === 'property' && inVertex) {
      if (t[1] === 'list')
        throw new PlyError('parsePly: list properties in the vertex element are not supported');
      if (!PLY_TYPES[t[1]]) throw new PlyError(`parsePly: unknown property type '${t[1]}'`);
      types.push(t[1]);
      names.push(t[2]);
    }
  }
  if (!Number.isSafeInteger(vertexCount) || vertexCount < 0)
    throw new PlyError('parsePly: no vertex element');
  const stride = types.reduce((a, t) => a + PLY_TYPES[t].size, 0);
  // latin1 decodes one character per byte, so string offsets are byte offsets.
  const start = end + 'end_header\n'.length;
  if (bytes.byteLength < start + stride * vertexCount)
    throw new PlyError(
      `parsePly: file has ${bytes.byteLength - start} data bytes, ${vertexCount} vertices of ${stride} bytes need ${stride * vertexCount}`,
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset + start, stride * vertexCount);
  const properties = new Map<string, Float32Array>();
  let off = 0;
  for (let j = 0; j < names.length; j++) {
    const { size, read } = PLY_TYPES[types[j]];
    const out = new Float32Array(vertexCount);
    for (let i = 0; i < vertexCount; i++) out[i] = read(view, i * stride + off);
    properties.set(names[j], out);
    off += size;
  }
  return { vertexCount, names, properties, comments };
}
