/**
 * Triangle-mesh input for the synthetic-data tools: OBJ, PLY (ASCII and binary little-endian) and GLB/glTF (through
 * `@gltf-transform/core`, loaded on demand), cleaned (degenerate faces dropped and counted) and normalised to the
 * unit cube as TRELLIS does before rendering (bounding-box centre to the origin, largest side 1).
 *
 * Notes
 * - Axes: TRELLIS renders in Blender, whose OBJ and glTF importers turn Y-up files into Blender's Z-up world
 *   ((x, y, z) -> (x, -z, y)); its PLY importer keeps the file's axes. `readMesh` does the same, so meshes land in
 *   the frame of TRELLIS' cameras and `transforms.json` (`up: 'auto'`); pass `up: 'z'` to keep any file's axes.
 * - Only geometry is read (positions and triangles; polygons are fan-triangulated). Textures are not needed for
 *   occlusion masks: missing ones only produce a warning.
 * - GLB/glTF go through `@gltf-transform/core` (a dependency), imported on first use so commands that never read
 *   glTF do not load it.
 * - Huge meshes are refused above `MESH_FACE_LIMIT` triangles (counted while parsing, before any output exists)
 *   rather than streamed: every later step (adjacency, patch growth, voxelisation) needs the whole face list.
 */

import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';

/** Largest accepted number of triangles (after triangulation); bigger meshes are refused. */
export const MESH_FACE_LIMIT = 4_000_000;
/** Largest accepted mesh file, in bytes. */
export const MESH_FILE_LIMIT = 1 << 30;

/** Thrown for unusable mesh files; the message names the file and what to do. */
export class MeshInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MeshInputError';
  }
}

/** An indexed triangle mesh. */
export interface Mesh {
  /** x, y, z per vertex. */
  positions: Float32Array;
  /** Three vertex indices per triangle. */
  faces: Uint32Array;
}

/** A mesh read from a file, with what was fixed or is missing. */
export interface LoadedMesh {
  mesh: Mesh;
  /** Triangles dropped because two corners coincide or the area is zero. */
  degenerateFaces: number;
  /** Human-readable warnings (missing textures, dropped faces, skipped primitives). */
  warnings: string[];
  /** Uniform scale and then offset that normalised the mesh (`p' = p * scale + offset`), as TRELLIS records. */
  scale: number;
  offset: [number, number, number];
}

export interface ReadMeshOptions {
  /** 'auto': OBJ/glTF are Y-up and turned Z-up as Blender imports them, PLY kept; 'z' keeps every file's axes. */
  up?: 'auto' | 'z';
  /** Normalise to the unit cube (TRELLIS). */
  normalize?: boolean;
  /** Largest accepted triangle count. */
  maxFaces?: number;
}

export const READ_MESH_DEFAULTS: Required<ReadMeshOptions> = {
  up: 'auto',
  normalize: true,
  maxFaces: MESH_FACE_LIMIT,
};

class FaceList {
  data = new Uint32Array(1024);
  length = 0;
  push(a: number, b: number, c: number): void {
    if (this.length + 3 > this.data.length) {
      const next = new Uint32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = a;
    this.data[this.length++] = b;
    this.data[this.length++] = c;
  }
  finish(): Uint32Array {
    return this.data.slice(0, this.length);
  }
}

function checkFaceLimit(label: string, faces: number, limit: number): void {
  if (faces > limit) {
    throw new MeshInputError(
      `${label}: ${faces} triangles exceed the limit of ${limit} (MESH_FACE_LIMIT); decimate the mesh first (e.g. Blender's Decimate modifier or meshlab)`,
    );
  }
}

/**
 * Parses Wavefront OBJ text (`v` and `f` records; polygons fan-triangulated; negative indices; `vt`/`vn` ignored).
 * @example
 * const { mesh } = parseObj('v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n');
 */
export function parseObj(
  text: string,
  label = 'OBJ',
  maxFaces = MESH_FACE_LIMIT,
): { mesh: Mesh; mtllibs: string[] } {
  const pos: number[] = [];
  const faces = new FaceList();
  const mtllibs: string[] = [];
  let lineNo = 0;
  const idx: number[] = [];
  for (const raw of text.split('\n')) {
    lineNo++;
    const line = raw.trim();
    if (line.length === 0 || line[0] === '#') continue;
    const parts = line.split(/\s+/);
    const tag = parts[0];
    if (tag === 'v') {
      if (parts.length < 4)
        throw new MeshInputError(`${label}:${lineNo}: vertex needs 3 coordinates: "${line}"`);
      for (let k = 1; k <= 3; k++) {
        const v = Number(parts[k]);
        if (!Number.isFinite(v)) throw new MeshInputError(`${label}:${lineNo}: bad coordinate "${parts[k]}"`);
        pos.push(v);
      }
    } else if (tag === 'f') {
      const nv = pos.length / 3;
      idx.length = 0;
      for (let k = 1; k < parts.length; k++) {
        const s = parts[k]!;
        const n = Number.parseInt(s.split('/')[0]!, 10);
        if (!Number.isInteger(n) || n === 0)
          throw new MeshInputError(`${label}:${lineNo}: bad face index "${s}"`);
        const i = n > 0 ? n - 1 : nv + n;
        if (i < 0 || i >= nv) {
          throw new MeshInputError(
            `${label}:${lineNo}: face index ${n} out of range (${nv} vertices so far)`,
          );
        }
        idx.push(i);
      }
      if (idx.length < 3) throw new MeshInputError(`${label}:${lineNo}: face with fewer than 3 vertices`);
      for (let k = 1; k + 1 < idx.length; k++) faces.push(idx[0]!, idx[k]!, idx[k + 1]!);
      checkFaceLimit(label, faces.length / 3, maxFaces);
    } else if (tag === 'mtllib') {
      mtllibs.push(line.slice(6).trim());
    }
  }
  return { mesh: { positions: new Float32Array(pos), faces: faces.finish() }, mtllibs };
}

type PlyType = 'i8' | 'u8' | 'i16' | 'u16' | 'i32' | 'u32' | 'f32' | 'f64';

const PLY_TYPES: Record<string, PlyType> = {
  char: 'i8',
  int8: 'i8',
  uchar: 'u8',
  uint8: 'u8',
  short: 'i16',
  int16: 'i16',
  ushort: 'u16',
  uint16: 'u16',
  int: 'i32',
  int32: 'i32',
  uint: 'u32',
  uint32: 'u32',
  float: 'f32',
  float32: 'f32',
  double: 'f64',
  float64: 'f64',
};

const PLY_SIZES: Record<PlyType, number> = { i8: 1, u8: 1, i16: 2, u16: 2, i32: 4, u32: 4, f32: 4, f64: 8 };

interface PlyProperty {
  name: string;
  type: PlyType;
  /** Count type of a list property. */
  listType?: PlyType;
}

interface PlyElement {
  name: string;
  count: number;
  props: PlyProperty[];
}

function readBinary(view: DataView, off: number, t: PlyType): number {
  switch (t) {
    case 'i8':
      return view.getInt8(off);
    case 'u8':
      return view.getUint8(off);
    case 'i16':
      return view.getInt16(off, true);
    case 'u16':
      return view.getUint16(off, true);
    case 'i32':
      return view.getInt32(off, true);
    case 'u32':
      return view.getUint32(off, true);
    case 'f32':
      return view.getFloat32(off, true);
    case 'f64':
      return view.getFloat64(off, true);
  }
}

/**
 * Parses a PLY file (ASCII or binary little-endian): `vertex` x/y/z and `face` vertex_indices (or vertex_index)
 * lists; other elements and properties are skipped.
 * @example
 * const mesh = parsePly(await readFile('assets/meshes/chair.ply'));
 */
export function parsePly(bytes: Uint8Array, label = 'PLY', maxFaces = MESH_FACE_LIMIT): Mesh {
  const headEnd = findHeaderEnd(bytes);
  if (headEnd < 0)
    throw new MeshInputError(`${label}: not a PLY file (no "end_header" line in the first 64 KiB)`);
  const header = new TextDecoder('latin1').decode(bytes.subarray(0, headEnd)).split(/\r?\n/);
  if (header[0]?.trim() !== 'ply') throw new MeshInputError(`${label}: not a PLY file (missing "ply" magic)`);
  let format = '';
  const elements: PlyElement[] = [];
  for (const line of header.slice(1)) {
    const p = line.trim().split(/\s+/);
    if (p[0] === 'format') format = p[1] ?? '';
    else if (p[0] === 'element') {
      const count = Number(p[2]);
      if (!Number.isSafeInteger(count) || count < 0)
        throw new MeshInputError(`${label}: bad element line "${line}"`);
      elements.push({ name: p[1] ?? '', count, props: [] });
    } else if (p[0] === 'property') {
      const el = elements.at(-1);
      if (!el) throw new MeshInputError(`${label}: property before any element: "${line}"`);
      if (p[1] === 'list') {
        const ct = PLY_TYPES[p[2] ?? ''];
        const it = PLY_TYPES[p[3] ?? ''];
        if (!ct || !it) throw new MeshInputError(`${label}: unknown PLY type in "${line}"`);
        el.props.push({ name: p[4] ?? '', type: it, listType: ct });
      } else {
        const t = PLY_TYPES[p[1] ?? ''];
        if (!t) throw new MeshInputError(`${label}: unknown PLY type in "${line}"`);
        el.props.push({ name: p[2] ?? '', type: t });
      }
    }
  }
  if (format !== 'ascii' && format !== 'binary_little_endian') {
    throw new MeshInputError(
      `${label}: PLY format "${format}" is not supported; save it as ASCII or binary little endian`,
    );
  }
  const vertexEl = elements.find((e) => e.name === 'vertex');
  const faceEl = elements.find((e) => e.name === 'face');
  if (!vertexEl) throw new MeshInputError(`${label}: no "vertex" element`);
  const xyz = ['x', 'y', 'z'].map((n) => vertexEl.props.findIndex((q) => q.name === n));
  if (xyz.some((i) => i < 0)) throw new MeshInputError(`${label}: vertex element lacks x, y or z`);
  const faceProp = faceEl
    ? faceEl.props.findIndex((q) => (q.name === 'vertex_indices' || q.name === 'vertex_index') && q.listType)
    : -1;
  if (faceEl && faceProp < 0) throw new MeshInputError(`${label}: face element has no vertex_indices list`);
  const positions = new Float32Array(vertexEl.count * 3);
  const faces = new FaceList();
  const nv = vertexEl.count;
  const addPoly = (poly: number[], f: number) => {
    for (const i of poly) {
      if (!Number.isInteger(i) || i < 0 || i >= nv) {
        throw new MeshInputError(`${label}: face ${f} refers to vertex ${i}, but there are ${nv} vertices`);
      }
    }
    for (let k = 1; k + 1 < poly.length; k++) faces.push(poly[0]!, poly[k]!, poly[k + 1]!);
    if (faces.length > maxFaces * 3) checkFaceLimit(label, faces.length / 3, maxFaces);
  };
  if (faceEl) checkFaceLimit(label, faceEl.count, maxFaces);
  const poly: number[] = [];
  if (format === 'ascii') {
    const tokens = new TextDecoder('latin1')
      .decode(bytes.subarray(headEnd))
      .split(/\s+/)
      .filter((s) => s.length);
    let t = 0;
    const next = () => {
      if (t >= tokens.length) throw new MeshInputError(`${label}: file ends early (truncated ASCII body)`);
      return Number(tokens[t++]);
    };
    for (const el of elements) {
      for (let r = 0; r < el.count; r++) {
        for (let pi = 0; pi < el.props.length; pi++) {
          const prop = el.props[pi]!;
          if (prop.listType) {
            const n = next();
            poly.length = 0;
            for (let k = 0; k < n; k++) poly.push(next());
            if (el === faceEl && pi === faceProp) addPoly(poly, r);
          } else {
            const v = next();
            if (el === vertexEl) {
              const c = xyz.indexOf(pi);
              if (c >= 0) positions[r * 3 + c] = v;
            }
          }
        }
      }
    }
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let off = headEnd;
    const need = (n: number) => {
      if (off + n > bytes.byteLength)
        throw new MeshInputError(`${label}: file ends early (truncated binary body)`);
    };
    for (const el of elements) {
      for (let r = 0; r < el.count; r++) {
        for (let pi = 0; pi < el.props.length; pi++) {
          const prop = el.props[pi]!;
          if (prop.listType) {
            need(PLY_SIZES[prop.listType]);
            const n = readBinary(view, off, prop.listType);
            off += PLY_SIZES[prop.listType];
            const sz = PLY_SIZES[prop.type];
            need(n * sz);
            if (el === faceEl && pi === faceProp) {
              poly.length = 0;
              for (let k = 0; k < n; k++) poly.push(readBinary(view, off + k * sz, prop.type));
              addPoly(poly, r);
            }
            off += n * sz;
          } else {
            need(PLY_SIZES[prop.type]);
            if (el === vertexEl) {
              const c = xyz.indexOf(pi);
              if (c >= 0) positions[r * 3 + c] = readBinary(view, off, prop.type);
            }
            off += PLY_SIZES[prop.type];
          }
        }
      }
    }
  }
  return { positions, faces: faces.finish() };
}

function findHeaderEnd(bytes: Uint8Array): number {
  const limit = Math.min(bytes.length, 65536);
  const text = new TextDecoder('latin1').decode(bytes.subarray(0, limit));
  const m = /end_header\r?\n/.exec(text);
  return m ? m.index + m[0].length : -1;
}

type GltfModule = typeof import('@gltf-transform/core');
type GltfNode = import('@gltf-transform/core').Node;
/** gltf-transform's resource key for the binary chunk of a GLB. */
const GLB_BIN = '@glb.bin';
const GLB_MAGIC = 0x46546c67; // 'glTF'
const GLB_CHUNK_JSON = 0x4e4f534a;
const GLB_CHUNK_BIN = 0x004e4942;

/** The parts of the glTF JSON edited before parsing. */
interface GltfJson {
  buffers?: { uri?: string }[];
  images?: { uri?: string; name?: string; bufferView?: number }[];
  textures?: unknown[];
  samplers?: unknown[];
  materials?: unknown[];
  meshes?: { primitives?: { material?: number }[] }[];
  extensionsUsed?: string[];
  extensionsRequired?: string[];
}

/**
 * The glTF JSON and, for GLB, its binary chunk (the container is parsed here so images can be dropped from the JSON
 * before gltf-transform validates them).
 */
async function readGltfContainer(
  path: string,
): Promise<{ json: GltfJson; bin: Uint8Array<ArrayBuffer> | null }> {
  const bytes = new Uint8Array(await readFile(path));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (why: string) => new MeshInputError(`${path}: not a readable glTF/GLB file (${why})`);
  const parse = (text: string): GltfJson => {
    try {
      const j = JSON.parse(text) as unknown;
      if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new Error('not a JSON object');
      return j as GltfJson;
    } catch (e) {
      throw bad(`bad JSON: ${(e as Error).message}`);
    }
  };
  if (bytes.length >= 4 && view.getUint32(0, true) === GLB_MAGIC) {
    if (bytes.length < 20) throw bad('truncated GLB header');
    const len = view.getUint32(12, true);
    if (view.getUint32(16, true) !== GLB_CHUNK_JSON || 20 + len > bytes.length)
      throw bad('missing or truncated JSON chunk');
    const json = parse(new TextDecoder().decode(bytes.subarray(20, 20 + len)));
    let bin: Uint8Array<ArrayBuffer> | null = null;
    const off = 20 + len;
    if (off + 8 <= bytes.length && view.getUint32(off + 4, true) === GLB_CHUNK_BIN) {
      const blen = view.getUint32(off, true);
      if (off + 8 + blen > bytes.length) throw bad('truncated BIN chunk');
      bin = bytes.slice(off + 8, off + 8 + blen);
    }
    return { json, bin };
  }
  if (extname(path).toLowerCase() === '.glb') throw bad('no glTF magic: not a GLB file');
  return { json: parse(new TextDecoder().decode(bytes)), bin: null };
}

const GLTF_PACKAGE = '@gltf-transform/core';
/** glTF primitive mode TRIANGLES (the only mode read; points, lines, strips and fans are skipped with a warning). */
const GLTF_TRIANGLES = 4;

/**
 * Reads GLB/glTF geometry through `@gltf-transform/core`: every TRIANGLES primitive of the default scene (else the
 * first), node transforms (the whole hierarchy) applied, normalised integer positions (KHR_mesh_quantization)
 * decoded. Missing texture images only warn (geometry is enough); a missing buffer is an error.
 * @example
 * const { mesh, warnings } = await readGltf('chair.glb');
 */
export async function readGltf(
  path: string,
  maxFaces = MESH_FACE_LIMIT,
): Promise<{ mesh: Mesh; warnings: string[] }> {
  let mod: GltfModule;
  try {
    // Loaded on first use: most commands never read glTF, and device bundles stay without it.
    const name = GLTF_PACKAGE;
    mod = (await import(name)) as GltfModule;
  } catch {
    throw new MeshInputError(
      `${path}: reading GLB/glTF needs the package ${GLTF_PACKAGE} (npm install ${GLTF_PACKAGE}); or convert the mesh to OBJ or PLY`,
    );
  }
  const io = new mod.NodeIO().setLogger(new mod.Logger(mod.Logger.Verbosity.SILENT));
  const { json, bin } = await readGltfContainer(path);
  // Geometry is all we need: note the images that cannot be loaded, then drop materials, textures and images so a
  // missing or invalid image (or an unsupported texture extension) cannot stop the read.
  const missingTextures: string[] = [];
  (json.images ?? []).forEach((img, i) => {
    const uri = img.uri;
    const ok = uri
      ? uri.startsWith('data:') || existsSync(join(dirname(path), decodeURIComponent(uri)))
      : img.bufferView !== undefined;
    if (!ok) missingTextures.push(uri ?? img.name ?? `image ${i}`);
  });
  delete json.images;
  delete json.textures;
  delete json.samplers;
  delete json.materials;
  for (const m of json.meshes ?? []) for (const prim of m.primitives ?? []) delete prim.material;
  const drop = (list?: string[]) => list?.filter((x) => !/^(KHR|EXT)_(texture|materials)_/.test(x));
  json.extensionsUsed = drop(json.extensionsUsed);
  json.extensionsRequired = drop(json.extensionsRequired);
  const resources: Record<string, Uint8Array<ArrayBuffer>> = {};
  if (bin) resources[GLB_BIN] = bin;
  for (const buf of json.buffers ?? []) {
    if (!buf.uri || buf.uri.startsWith('data:')) continue;
    const file = join(dirname(path), decodeURIComponent(buf.uri));
    try {
      resources[buf.uri] = new Uint8Array(await readFile(file));
    } catch {
      throw new MeshInputError(`${path}: its buffer file ${buf.uri} is missing (it holds the geometry)`);
    }
  }
  let doc: import('@gltf-transform/core').Document;
  try {
    doc = await io.readJSON({ json: json as import('@gltf-transform/core').GLTF.IGLTF, resources });
  } catch (e) {
    throw new MeshInputError(`${path}: not a readable glTF/GLB file (${(e as Error).message})`);
  }
  const warnings: string[] = [];
  const root = doc.getRoot();
  const scene = root.getDefaultScene() ?? root.listScenes()[0];
  if (!scene) throw new MeshInputError(`${path}: the glTF has no scene`);
  const pos: number[] = [];
  const faces = new FaceList();
  let skipped = 0;
  const el = [0, 0, 0];
  const visit = (node: GltfNode) => {
    const m = node.getWorldMatrix();
    for (const prim of node.getMesh()?.listPrimitives() ?? []) {
      if (prim.getMode() !== GLTF_TRIANGLES) {
        skipped++;
        continue;
      }
      const p = prim.getAttribute('POSITION');
      if (!p || p.getCount() === 0) continue;
      const base = pos.length / 3;
      const count = p.getCount();
      for (let i = 0; i < count; i++) {
        p.getElement(i, el);
        const [x, y, z] = el as [number, number, number];
        pos.push(
          m[0] * x + m[4] * y + m[8] * z + m[12],
          m[1] * x + m[5] * y + m[9] * z + m[13],
          m[2] * x + m[6] * y + m[10] * z + m[14],
        );
      }
      const ind = prim.getIndices()?.getArray();
      const n = ind ? ind.length : count;
      for (let i = 0; i + 2 < n; i += 3) {
        const a = ind ? ind[i]! : i;
        const b = ind ? ind[i + 1]! : i + 1;
        const c = ind ? ind[i + 2]! : i + 2;
        if (a >= count || b >= count || c >= count) {
          throw new MeshInputError(
            `${path}: a primitive index (${Math.max(a, b, c)}) exceeds its ${count} vertices; the file is corrupt`,
          );
        }
        faces.push(base + a, base + b, base + c);
      }
      checkFaceLimit(path, faces.length / 3, maxFaces);
    }
    for (const c of node.listChildren()) visit(c);
  };
  for (const n of scene.listChildren()) visit(n);
  if (skipped) warnings.push(`${path}: skipped ${skipped} non-triangle primitive(s) (points/lines/strips)`);
  if (missingTextures.length) {
    warnings.push(
      `${path}: texture image(s) not found: ${missingTextures.join(', ')}; ignored (occlusion needs only geometry)`,
    );
  }
  return { mesh: { positions: new Float32Array(pos), faces: faces.finish() }, warnings };
}

/**
 * Drops triangles with a repeated corner or zero area; returns the kept mesh and the number dropped.
 * @example
 * const { mesh, dropped } = dropDegenerateFaces(raw);
 */
export function dropDegenerateFaces(mesh: Mesh): { mesh: Mesh; dropped: number } {
  const { positions: p, faces } = mesh;
  const keep = new FaceList();
  let dropped = 0;
  for (let f = 0; f < faces.length; f += 3) {
    const a = faces[f]!;
    const b = faces[f + 1]!;
    const c = faces[f + 2]!;
    let degenerate = a === b || b === c || a === c;
    if (!degenerate) {
      const ux = p[b * 3]! - p[a * 3]!;
      const uy = p[b * 3 + 1]! - p[a * 3 + 1]!;
      const uz = p[b * 3 + 2]! - p[a * 3 + 2]!;
      const vx = p[c * 3]! - p[a * 3]!;
      const vy = p[c * 3 + 1]! - p[a * 3 + 1]!;
      const vz = p[c * 3 + 2]! - p[a * 3 + 2]!;
      const nx = uy * vz - uz * vy;
      const ny = uz * vx - ux * vz;
      const nz = ux * vy - uy * vx;
      degenerate = nx === 0 && ny === 0 && nz === 0;
    }
    if (degenerate) dropped++;
    else keep.push(a, b, c);
  }
  return { mesh: { positions: p, faces: keep.finish() }, dropped };
}

/**
 * Normalises to the unit cube as TRELLIS' Blender script does: scale so the largest bounding-box side is 1, then
 * move the box centre to the origin. Returns the new mesh and `(scale, offset)` with `p' = p * scale + offset`.
 * @example
 * const { mesh } = normalizeMesh(raw); // bbox within [-0.5, 0.5]^3
 */
export function normalizeMesh(mesh: Mesh): { mesh: Mesh; scale: number; offset: [number, number, number] } {
  const p = mesh.positions;
  const lo = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
  const hi = [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY];
  // Only vertices used by faces count (unused vertices do not exist in Blender's evaluated scene).
  const used = new Uint8Array(p.length / 3);
  for (const v of mesh.faces) used[v] = 1;
  for (let v = 0; v < used.length; v++) {
    if (!used[v]) continue;
    for (let c = 0; c < 3; c++) {
      const x = p[v * 3 + c]!;
      if (x < lo[c]!) lo[c] = x;
      if (x > hi[c]!) hi[c] = x;
    }
  }
  const side = Math.max(hi[0]! - lo[0]!, hi[1]! - lo[1]!, hi[2]! - lo[2]!);
  if (!(side > 0) || !Number.isFinite(side)) {
    throw new MeshInputError(`normalizeMesh: the mesh has no extent (bounding box side ${side})`);
  }
  const scale = 1 / side;
  const offset: [number, number, number] = [0, 1, 2].map((c) => (-(lo[c]! + hi[c]!) / 2) * scale) as [
    number,
    number,
    number,
  ];
  const out = new Float32Array(p.length);
  for (let i = 0; i < p.length; i++) out[i] = p[i]! * scale + offset[i % 3]!;
  return { mesh: { positions: out, faces: mesh.faces }, scale, offset };
}

/** Y-up to Z-up as Blender's OBJ/glTF importers: (x, y, z) -> (x, -z, y). */
export function yUpToZUp(mesh: Mesh): Mesh {
  const p = mesh.positions;
  const out = new Float32Array(p.length);
  for (let i = 0; i < p.length; i += 3) {
    out[i] = p[i]!;
    out[i + 1] = 0 - p[i + 2]!; // not -p: keeps +0 for 0
    out[i + 2] = p[i + 1]!;
  }
  return { positions: out, faces: mesh.faces };
}

/** Warnings for material libraries and texture images an OBJ names but that do not exist. */
async function objTextureWarnings(path: string, mtllibs: string[]): Promise<string[]> {
  const warnings: string[] = [];
  const dir = dirname(path);
  for (const lib of mtllibs) {
    const mtl = join(dir, lib);
    if (!existsSync(mtl)) {
      warnings.push(
        `${path}: material library ${lib} not found (colours/textures ignored; geometry is enough)`,
      );
      continue;
    }
    const text = await readFile(mtl, 'utf8');
    for (const line of text.split('\n')) {
      const m = /^\s*map_\w+\s+(?:-\S+\s+\S+\s+)*(.+?)\s*$/.exec(line);
      if (m && !existsSync(join(dirname(mtl), m[1]!))) {
        warnings.push(`${path}: texture ${m[1]} (from ${lib}) not found; rendering ignores textures`);
      }
    }
  }
  return warnings;
}

/**
 * Reads a mesh file (.obj, .ply, .glb, .gltf), drops degenerate faces and normalises it to the unit cube.
 * Throws {@link MeshInputError} for missing/unreadable files, unsupported formats, meshes without faces, and
 * meshes above `maxFaces` triangles.
 * @example
 * const { mesh, warnings } = await readMesh('assets/meshes/chair.ply');
 */
export async function readMesh(path: string, options: ReadMeshOptions = {}): Promise<LoadedMesh> {
  const o = { ...READ_MESH_DEFAULTS, ...options };
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new MeshInputError(`${path}: not a regular file`);
    size = st.size;
  } catch (e) {
    if (e instanceof MeshInputError) throw e;
    throw new MeshInputError(
      `${path}: cannot read the file (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  if (size > MESH_FILE_LIMIT) {
    throw new MeshInputError(
      `${path}: ${size} bytes exceed the ${MESH_FILE_LIMIT}-byte limit (MESH_FILE_LIMIT); decimate the mesh first`,
    );
  }
  const ext = extname(path).toLowerCase();
  const warnings: string[] = [];
  let mesh: Mesh;
  let yUp: boolean;
  if (ext === '.obj') {
    const text = await readFile(path, 'utf8');
    const r = parseObj(text, path, o.maxFaces);
    mesh = r.mesh;
    warnings.push(...(await objTextureWarnings(path, r.mtllibs)));
    yUp = true;
  } else if (ext === '.ply') {
    mesh = parsePly(new Uint8Array(await readFile(path)), path, o.maxFaces);
    yUp = false;
  } else if (ext === '.glb' || ext === '.gltf') {
    const r = await readGltf(path, o.maxFaces);
    mesh = r.mesh;
    warnings.push(...r.warnings);
    yUp = true;
  } else {
    throw new MeshInputError(`${path}: unsupported mesh format "${ext}"; use .obj, .ply, .glb or .gltf`);
  }
  return finishMesh(path, mesh, warnings, o.up === 'auto' && yUp, o.normalize);
}

/** Cleans, orients and normalises a parsed mesh (shared by `readMesh` and in-memory callers). */
export function finishMesh(
  label: string,
  raw: Mesh,
  warnings: string[] = [],
  yUp = false,
  normalize = true,
): LoadedMesh {
  if (raw.faces.length === 0) {
    throw new MeshInputError(`${label}: the mesh has no faces (a point cloud?); occlusion needs triangles`);
  }
  let bad = 0;
  for (const v of raw.faces)
    if (!Number.isFinite(raw.positions[v * 3]! + raw.positions[v * 3 + 1]! + raw.positions[v * 3 + 2]!))
      bad++;
  if (bad) {
    throw new MeshInputError(
      `${label}: ${bad} face corner(s) use vertices with NaN or infinite coordinates; repair the mesh`,
    );
  }
  const { mesh: cleaned, dropped } = dropDegenerateFaces(raw);
  if (dropped)
    warnings.push(`${label}: dropped ${dropped} degenerate face(s) (repeated corner or zero area)`);
  if (cleaned.faces.length === 0) {
    throw new MeshInputError(`${label}: all ${dropped} faces are degenerate (zero area); nothing to render`);
  }
  const oriented = yUp ? yUpToZUp(cleaned) : cleaned;
  if (!normalize) return { mesh: oriented, degenerateFaces: dropped, warnings, scale: 1, offset: [0, 0, 0] };
  const n = normalizeMesh(oriented);
  return { mesh: n.mesh, degenerateFaces: dropped, warnings, scale: n.scale, offset: n.offset };
}

/**
 * Serialises a mesh as binary little-endian PLY (float x/y/z, uchar-count int face lists).
 * @example
 * await writeFileAtomic('mesh.ply', writePlyBinary(mesh));
 */
export function writePlyBinary(mesh: Mesh): Uint8Array {
  const nv = mesh.positions.length / 3;
  const nf = mesh.faces.length / 3;
  const header =
    'ply\nformat binary_little_endian 1.0\n' +
    `element vertex ${nv}\nproperty float x\nproperty float y\nproperty float z\n` +
    `element face ${nf}\nproperty list uchar int vertex_indices\nend_header\n`;
  const head = new TextEncoder().encode(header);
  const out = new Uint8Array(head.length + nv * 12 + nf * 13);
  out.set(head);
  const view = new DataView(out.buffer);
  let off = head.length;
  for (let i = 0; i < nv * 3; i++, off += 4) view.setFloat32(off, mesh.positions[i]!, true);
  for (let f = 0; f < nf; f++) {
    view.setUint8(off, 3);
    off++;
    for (let k = 0; k < 3; k++, off += 4) view.setInt32(off, mesh.faces[f * 3 + k]!, true);
  }
  return out;
}
