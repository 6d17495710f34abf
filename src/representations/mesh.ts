/**
 * Triangle-mesh outputs of the mesh decoder: the `Mesh` type, axis conversion as the official GLB export does it
 * (ARCHITECTURE.md §h.2 step 5), cleanup helpers, and writers for binary glTF (GLB, vertex colours) and PLY
 * (like the official inference.py's `mesh.ply`).
 *
 * Notes
 * - GLB is written by hand (glTF 2.0: 12-byte header, JSON chunk padded with spaces, BIN chunk padded with zeros,
 *   every chunk and buffer view 4-byte aligned). `@gltf-transform/core` is listed in package.json but was not
 *   installed when this was written; the container is small enough that a dependency buys nothing here, and
 *   src/representations/mesh.test.ts parses the result back field by field.
 * - Material: the official textured GLB (postprocessing_utils.to_glb) uses a PBR material with roughness 1 and
 *   leaves metallicFactor unset, which glTF reads as 1 (fully metallic); for vertex colours we default to
 *   metallic 0 (a diffuse look), overridable.
 * - PLY: the official mesh.ply comes from trimesh (`process=False`, `visual.vertex_colors = vertex_attrs`). trimesh's
 *   ColorVisuals.vertex_colors setter silently ignores arrays that are not [V,3] or [V,4] (checked in trimesh's
 *   color.py, old and current versions), so with the decoder's 6-channel attrs the official file has NO colours:
 *   binary little-endian float x, y, z and `list uchar int` faces. `meshToPly(mesh, { colors: false })` writes
 *   that layout; by default we add what the official code evidently intended: uchar RGBA with RGB = the first
 *   three attrs (x 255, rounded as trimesh's to_rgba does, clamped) and alpha 255.
 */

import { writeFileAtomic } from '../io/atomic-write.ts';

/** An indexed triangle mesh with optional per-vertex attributes. */
export interface Mesh {
  /** [V*3] positions. */
  vertices: Float32Array;
  /** [F*3] vertex indices (counter-clockwise = front, normals pointing to positive sdf). */
  faces: Uint32Array;
  /** [V*C] per-vertex attributes, C = `attrChannels` (decoder: RGB + 3 normal-like channels in [0, 1]). */
  vertexAttrs?: Float32Array;
  /** Channels per vertex of `vertexAttrs` (default 6). */
  attrChannels?: number;
}

function attrChannelsOf(mesh: Mesh): number {
  if (!mesh.vertexAttrs) return 0;
  const c = mesh.attrChannels ?? 6;
  const nv = mesh.vertices.length / 3;
  if (mesh.vertexAttrs.length !== nv * c) {
    throw new Error(`mesh: vertexAttrs [${mesh.vertexAttrs.length}] is not [V*${c}] for V = ${nv}`);
  }
  return c;
}

/** Checks array lengths and index ranges; throws naming the offending sizes. */
export function validateMesh(mesh: Mesh): void {
  const { vertices, faces } = mesh;
  if (vertices.length % 3 !== 0) throw new Error(`mesh: vertices [${vertices.length}] is not [V*3]`);
  if (faces.length % 3 !== 0) throw new Error(`mesh: faces [${faces.length}] is not [F*3]`);
  const nv = vertices.length / 3;
  for (let i = 0; i < faces.length; i++) {
    if (faces[i] >= nv)
      throw new Error(`mesh: face ${Math.floor(i / 3)} uses vertex ${faces[i]} but V = ${nv}`);
  }
  attrChannelsOf(mesh);
}

/**
 * Rotates Z-up positions to Y-up, as the official GLB export does (`v @ [[1,0,0],[0,0,-1],[0,1,0]]`, i.e.
 * (x, y, z) -> (x, z, -y)). Returns a new array.
 * @example
 * const yUp = zUpToYUp(mesh.vertices); // glTF viewers expect +Y up
 */
export function zUpToYUp(vertices: Float32Array): Float32Array {
  const out = new Float32Array(vertices.length);
  for (let i = 0; i < vertices.length; i += 3) {
    out[i] = vertices[i];
    out[i + 1] = vertices[i + 2];
    out[i + 2] = -vertices[i + 1];
  }
  return out;
}

/**
 * Drops faces that repeat a vertex index and vertices no face uses (FlexiCubes emits dual vertices for
 * boundary cubes that never get a quad), renumbering the rest in their original order.
 * @example
 * const clean = compactMesh(mesh); // same surface, fewer vertices
 */
export function compactMesh(mesh: Mesh): Mesh {
  validateMesh(mesh);
  const c = attrChannelsOf(mesh);
  const nv = mesh.vertices.length / 3;
  const keepFace: number[] = [];
  for (let f = 0; f < mesh.faces.length; f += 3) {
    const a = mesh.faces[f];
    const b = mesh.faces[f + 1];
    const d = mesh.faces[f + 2];
    if (a !== b && b !== d && a !== d) keepFace.push(f);
  }
  const remap = new Int32Array(nv).fill(-1);
  for (const f of keepFace) for (let j = 0; j < 3; j++) remap[mesh.faces[f + j]] = 0;
  let m = 0;
  for (let v = 0; v < nv; v++) if (remap[v] === 0) remap[v] = m++;
  const vertices = new Float32Array(m * 3);
  const attrs = mesh.vertexAttrs ? new Float32Array(m * c) : undefined;
  for (let v = 0; v < nv; v++) {
    const r = remap[v];
    if (r < 0) continue;
    vertices.set(mesh.vertices.subarray(v * 3, v * 3 + 3), r * 3);
    if (attrs && mesh.vertexAttrs) attrs.set(mesh.vertexAttrs.subarray(v * c, v * c + c), r * c);
  }
  const faces = new Uint32Array(keepFace.length * 3);
  keepFace.forEach((f, i) => {
    for (let j = 0; j < 3; j++) faces[i * 3 + j] = remap[mesh.faces[f + j]];
  });
  return attrs ? { vertices, faces, vertexAttrs: attrs, attrChannels: c } : { vertices, faces };
}

/**
 * Merges vertices whose positions are equal after quantisation to `epsilon` (attributes: the first vertex's),
 * then compacts. FlexiCubes output has no duplicates; this is for meshes assembled from parts.
 * @example
 * const welded = weldVertices(mesh, 1e-6);
 */
export function weldVertices(mesh: Mesh, epsilon = 1e-6): Mesh {
  validateMesh(mesh);
  const nv = mesh.vertices.length / 3;
  const seen = new Map<string, number>();
  const rep = new Uint32Array(nv);
  for (let v = 0; v < nv; v++) {
    const k = `${Math.round(mesh.vertices[v * 3] / epsilon)},${Math.round(mesh.vertices[v * 3 + 1] / epsilon)},${Math.round(mesh.vertices[v * 3 + 2] / epsilon)}`;
    const r = seen.get(k);
    if (r === undefined) {
      seen.set(k, v);
      rep[v] = v;
    } else rep[v] = r;
  }
  const faces = mesh.faces.map((i) => rep[i]);
  return compactMesh({ ...mesh, faces });
}

/** Options of `writeMeshGlb` / `meshToGlb`. */
export interface GlbOptions {
  /** Rotate Z-up positions to Y-up as the official export does (default true). */
  yUp?: boolean;
  /** Write COLOR_0 from the first three attrs when the mesh has them (default true). */
  vertexColors?: boolean;
  /** PBR metallic factor (default 0; the official textured export leaves it unset = 1). */
  metallic?: number;
  /** PBR roughness factor (default 1, as the official export). */
  roughness?: number;
  /** `asset.generator` string. */
  generator?: string;
}

const GLB_MAGIC = 0x46546c67; // 'glTF'
const CHUNK_JSON = 0x4e4f534a; // 'JSON'
const CHUNK_BIN = 0x004e4942; // 'BIN\0'
const FLOAT = 5126;
const UNSIGNED_INT = 5125;
const ARRAY_BUFFER = 34962;
const ELEMENT_ARRAY_BUFFER = 34963;

const pad4 = (n: number): number => (n + 3) & ~3;

/**
 * Encodes a mesh as a binary glTF 2.0 file (one mesh, one node, one primitive of triangles; POSITION, COLOR_0
 * (float RGB in [0, 1]) and uint32 indices).
 * @example
 * const bytes = meshToGlb(mesh, { yUp: true });
 */
export function meshToGlb(mesh: Mesh, options: GlbOptions = {}): Uint8Array {
  validateMesh(mesh);
  const c = attrChannelsOf(mesh);
  const nv = mesh.vertices.length / 3;
  const nf = mesh.faces.length / 3;
  if (nv === 0 || nf === 0) throw new Error(`meshToGlb: empty mesh (V = ${nv}, F = ${nf})`);
  const pos = options.yUp === false ? mesh.vertices : zUpToYUp(mesh.vertices);
  const withColor = options.vertexColors !== false && c >= 3 && mesh.vertexAttrs !== undefined;
  const min = [Infinity, Infinity, Infinity];
  const max = [-Infinity, -Infinity, -Infinity];
  for (let v = 0; v < nv; v++) {
    for (let j = 0; j < 3; j++) {
      const x = pos[v * 3 + j];
      if (!Number.isFinite(x)) throw new Error(`meshToGlb: vertex ${v} has a non-finite coordinate`);
      min[j] = Math.min(min[j], x);
      max[j] = Math.max(max[j], x);
    }
  }
  let color: Float32Array | null = null;
  if (withColor && mesh.vertexAttrs) {
    color = new Float32Array(nv * 3);
    for (let v = 0; v < nv; v++) {
      for (let j = 0; j < 3; j++) color[v * 3 + j] = Math.min(1, Math.max(0, mesh.vertexAttrs[v * c + j]));
    }
  }
  const parts: Uint8Array[] = [
    new Uint8Array(pos.buffer, pos.byteOffset, pos.byteLength),
    new Uint8Array(mesh.faces.buffer, mesh.faces.byteOffset, mesh.faces.byteLength),
  ];
  if (color) parts.push(new Uint8Array(color.buffer));
  const offsets: number[] = [];
  let binLen = 0;
  for (const p of parts) {
    offsets.push(binLen);
    binLen = pad4(binLen + p.byteLength);
  }
  const attributes: Record<string, number> = { POSITION: 0 };
  const bufferViews: object[] = [
    { buffer: 0, byteOffset: offsets[0], byteLength: parts[0].byteLength, target: ARRAY_BUFFER },
    { buffer: 0, byteOffset: offsets[1], byteLength: parts[1].byteLength, target: ELEMENT_ARRAY_BUFFER },
  ];
  const accessors: object[] = [
    { bufferView: 0, componentType: FLOAT, count: nv, type: 'VEC3', min, max },
    { bufferView: 1, componentType: UNSIGNED_INT, count: nf * 3, type: 'SCALAR' },
  ];
  if (color) {
    bufferViews.push({
      buffer: 0,
      byteOffset: offsets[2],
      byteLength: parts[2].byteLength,
      target: ARRAY_BUFFER,
    });
    accessors.push({ bufferView: 2, componentType: FLOAT, count: nv, type: 'VEC3' });
    attributes.COLOR_0 = 2;
  }
  const gltf = {
    asset: { version: '2.0', generator: options.generator ?? 'amodal3r-ts' },
    scene: 0,
    scenes: [{ nodes: [0] }],
    nodes: [{ mesh: 0 }],
    meshes: [{ primitives: [{ attributes, indices: 1, material: 0, mode: 4 }] }],
    materials: [
      {
        pbrMetallicRoughness: {
          baseColorFactor: [1, 1, 1, 1],
          metallicFactor: options.metallic ?? 0,
          roughnessFactor: options.roughness ?? 1,
        },
        doubleSided: false,
      },
    ],
    accessors,
    bufferViews,
    buffers: [{ byteLength: binLen }],
  };
  const jsonRaw = new TextEncoder().encode(JSON.stringify(gltf));
  const jsonLen = pad4(jsonRaw.byteLength);
  const total = 12 + 8 + jsonLen + 8 + binLen;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, GLB_MAGIC, true);
  dv.setUint32(4, 2, true);
  dv.setUint32(8, total, true);
  dv.setUint32(12, jsonLen, true);
  dv.setUint32(16, CHUNK_JSON, true);
  out.set(jsonRaw, 20);
  out.fill(0x20, 20 + jsonRaw.byteLength, 20 + jsonLen); // JSON padding: spaces
  const binStart = 20 + jsonLen;
  dv.setUint32(binStart, binLen, true);
  dv.setUint32(binStart + 4, CHUNK_BIN, true);
  parts.forEach((p, i) => {
    out.set(p, binStart + 8 + offsets[i]); // BIN padding stays zero
  });
  return out;
}

/**
 * Writes `mesh` as a GLB file atomically (temp file + rename).
 * @example
 * await writeMeshGlb('out/mesh.glb', { vertices, faces, vertexAttrs });
 */
export async function writeMeshGlb(path: string, mesh: Mesh, options: GlbOptions = {}): Promise<void> {
  await writeFileAtomic(path, meshToGlb(mesh, options));
}

/** Options of `meshToPly` / `writeMeshPly`. */
export interface PlyOptions {
  /** Write uchar RGBA vertex colours from the first three attrs (default true when the mesh has >= 3 attrs). */
  colors?: boolean;
}

/**
 * Encodes a mesh as binary little-endian PLY: float x, y, z (+ uchar red, green, blue, alpha from the first three
 * attrs) per vertex, `list uchar int vertex_indices` per face. Positions are written as given (the official
 * mesh.ply keeps Z up).
 * @example
 * const bytes = meshToPly(mesh);                      // with colours
 * const same = meshToPly(mesh, { colors: false });    // the official file's layout (geometry only)
 */
export function meshToPly(mesh: Mesh, options: PlyOptions = {}): Uint8Array {
  validateMesh(mesh);
  const c = attrChannelsOf(mesh);
  const withColor = options.colors !== false && c >= 3;
  const vStride = withColor ? 16 : 12;
  const nv = mesh.vertices.length / 3;
  const nf = mesh.faces.length / 3;
  const header = new TextEncoder().encode(
    [
      'ply',
      'format binary_little_endian 1.0',
      'comment amodal3r-ts mesh (Z up, FlexiCubes vertex colours)',
      `element vertex ${nv}`,
      'property float x',
      'property float y',
      'property float z',
      ...(withColor
        ? ['property uchar red', 'property uchar green', 'property uchar blue', 'property uchar alpha']
        : []),
      `element face ${nf}`,
      'property list uchar int vertex_indices',
      'end_header',
      '',
    ].join('\n'),
  );
  const out = new Uint8Array(header.byteLength + nv * vStride + nf * 13);
  out.set(header, 0);
  const dv = new DataView(out.buffer);
  let o = header.byteLength;
  const attrs = mesh.vertexAttrs;
  for (let v = 0; v < nv; v++) {
    for (let j = 0; j < 3; j++) dv.setFloat32(o + j * 4, mesh.vertices[v * 3 + j], true);
    if (withColor && attrs) {
      for (let j = 0; j < 3; j++)
        out[o + 12 + j] = Math.min(255, Math.max(0, Math.round(attrs[v * c + j] * 255)));
      out[o + 15] = 255;
    }
    o += vStride;
  }
  for (let f = 0; f < nf; f++) {
    out[o] = 3;
    for (let j = 0; j < 3; j++) dv.setInt32(o + 1 + j * 4, mesh.faces[f * 3 + j], true);
    o += 13;
  }
  return out;
}

/**
 * Writes `mesh` as a binary PLY file atomically (see `meshToPly`).
 * @example
 * await writeMeshPly('out/mesh.ply', mesh);
 */
export async function writeMeshPly(path: string, mesh: Mesh, options: PlyOptions = {}): Promise<void> {
  await writeFileAtomic(path, meshToPly(mesh, options));
}
