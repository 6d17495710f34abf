/**
 * UV atlas for the textured GLB with xatlas (the library the official `parametrize_mesh` calls through
 * python-xatlas), compiled to wasm by the `xatlasjs` package (its Node build, `dist/node/xatlas.js`).
 *
 * xatlas cuts the surface into charts, flattens and packs them; seams duplicate vertices, so the result has
 * more vertices than the input and `sourceVertex` maps each one back (to copy positions/attributes).
 *
 * Notes
 * - The wasm binding declares 16-bit input indices (its `createMesh` allocates `uint16_t` index data), so one
 *   xatlas mesh holds at most 65535 vertices. Larger meshes are cut into face groups of <= 65535 distinct
 *   vertices, each added as its own mesh of ONE atlas (xatlas packs the charts of all meshes together); the
 *   group boundaries simply become chart seams. Output indices are read as uint32 straight from the wasm heap
 *   (the package's JS wrapper truncates them to 16 bits, so it is not used).
 * - `resolution` is the texture size: xatlas picks texels-per-unit so the charts fill about that many texels and
 *   `padding` texels separate charts (against bilinear bleeding). UVs are normalised by the atlas size xatlas
 *   reports, which may differ a little from `resolution` and need not be square; the texture is then stretched
 *   slightly, which the baker handles since it works in normalised UVs.
 * - UV convention: glTF's, u to the right, v DOWN from the top-left of the image (what xatlas' texel coordinates
 *   already are), so texel (x, y) covers uv ((x + 0.5) / W, (y + 0.5) / H).
 */

import { type Mesh, validateMesh } from './mesh.ts';

/** Options of {@link unwrapUv}. */
export interface UvAtlasOptions {
  /** Texture size the charts are packed for (texels per side). */
  resolution?: number;
  /** Empty texels between charts. */
  padding?: number;
  /** xatlas chart growing iterations (more = fewer, better charts; slower). */
  maxIterations?: number;
  /** Vertices per xatlas mesh (the binding's 16-bit limit, 65535; smaller values only to test the split). */
  maxVerticesPerMesh?: number;
  /** Progress callback, 0..1 per xatlas stage. */
  onProgress?: (stage: string, fraction: number) => void;
}

export const UV_ATLAS_DEFAULTS: Required<Omit<UvAtlasOptions, 'onProgress'>> = {
  resolution: 1024,
  padding: 4,
  maxIterations: 1,
  maxVerticesPerMesh: 65535,
};

/** A mesh with per-vertex UVs. */
export interface UvMesh extends Mesh {
  /** [V*2] texture coordinates in [0, 1] (glTF convention: v down). */
  uvs: Float32Array;
  /** [V] index of the input vertex each output vertex copies. */
  sourceVertex: Uint32Array;
}

/** The subset of the xatlasjs emscripten module used here. */
interface XAtlasModule {
  HEAPU16: Uint16Array;
  HEAPU32: Uint32Array;
  HEAPF32: Float32Array;
  createAtlas(): void;
  createMesh(
    vertexCount: number,
    indexCount: number,
    normals: boolean,
    uvs: boolean,
  ): { meshId: number; indexOffset: number; positionOffset: number };
  addMesh(): number;
  defaultChartOptions(): Record<string, number | boolean>;
  defaultPackOptions(): Record<string, number | boolean>;
  generateAtlas(chart: Record<string, number | boolean>, pack: Record<string, number | boolean>): void;
  getAtlas(): { width: number; height: number; atlasCount: number; meshCount: number };
  getMeshData(meshId: number): {
    newVertexCount: number;
    newIndexCount: number;
    indexOffset: number;
    originalIndexOffset: number;
    uvOffset: number;
    subMeshes?: { delete(): void };
  };
  destroyMeshData(data: unknown): void;
  destroyAtlas(): void;
}

type XAtlasFactory = (args: Record<string, unknown>) => Promise<XAtlasModule>;

/** xatlas' ProgressCategory order (xatlas.h). */
const XATLAS_STAGES = ['add-mesh', 'compute-charts', 'pack-charts', 'build-output-meshes'];

/** The wasm binding's index limit (16-bit indices). */
const MAX_VERTICES_PER_MESH = 65535;

let progressSink: ((stage: string, fraction: number) => void) | null = null;
let modulePromise: Promise<XAtlasModule> | null = null;

async function xatlas(): Promise<XAtlasModule> {
  if (!modulePromise) {
    modulePromise = (async () => {
      const pkg = (await import('xatlasjs/dist/node/xatlas.js')) as { default: XAtlasFactory };
      return pkg.default({
        // Called by the C++ progress callback (one module instance, so one sink at a time).
        onAtlasProgress: (category: number, percent: number) =>
          progressSink?.(XATLAS_STAGES[category] ?? `stage-${category}`, percent / 100),
        print: () => {},
        printErr: () => {},
      });
    })();
  }
  return modulePromise;
}

/** Splits faces into consecutive groups whose distinct vertices fit the 16-bit binding. */
function faceGroups(faces: Uint32Array, limit: number): { faces: number[]; vertices: number[] }[] {
  const groups: { faces: number[]; vertices: number[] }[] = [];
  let local = new Map<number, number>();
  let cur: { faces: number[]; vertices: number[] } = { faces: [], vertices: [] };
  for (let f = 0; f < faces.length; f += 3) {
    let fresh = 0;
    for (let j = 0; j < 3; j++) if (!local.has(faces[f + j])) fresh++;
    if (cur.vertices.length + fresh > limit) {
      groups.push(cur);
      cur = { faces: [], vertices: [] };
      local = new Map();
    }
    for (let j = 0; j < 3; j++) {
      const v = faces[f + j];
      let l = local.get(v);
      if (l === undefined) {
        l = cur.vertices.length;
        local.set(v, l);
        cur.vertices.push(v);
      }
      cur.faces.push(l);
    }
  }
  if (cur.faces.length) groups.push(cur);
  return groups;
}

/**
 * Computes a UV atlas (xatlas): returns the mesh with seam vertices duplicated, per-vertex UVs, and the source
 * vertex of each output vertex (attributes are copied along).
 * @example
 * const uvMesh = await unwrapUv(simplified, { resolution: 1024 });
 * uvMesh.uvs; // [V*2] in [0, 1]
 */
export async function unwrapUv(mesh: Mesh, options: UvAtlasOptions = {}): Promise<UvMesh> {
  const o = { ...UV_ATLAS_DEFAULTS, ...options };
  validateMesh(mesh);
  if (mesh.faces.length === 0) throw new Error('unwrapUv: the mesh has no triangles');
  if (!(Number.isInteger(o.resolution) && o.resolution >= 8)) {
    throw new Error(`unwrapUv: resolution must be an integer >= 8, got ${o.resolution}`);
  }
  const m = await xatlas();
  if (
    !(
      Number.isInteger(o.maxVerticesPerMesh) &&
      o.maxVerticesPerMesh >= 3 &&
      o.maxVerticesPerMesh <= MAX_VERTICES_PER_MESH
    )
  ) {
    throw new Error(`unwrapUv: maxVerticesPerMesh must be an integer in [3, ${MAX_VERTICES_PER_MESH}]`);
  }
  const groups = faceGroups(mesh.faces, o.maxVerticesPerMesh);
  progressSink = o.onProgress ?? null;
  m.createAtlas();
  try {
    for (const g of groups) {
      const desc = m.createMesh(g.vertices.length, g.faces.length, false, false);
      m.HEAPU16.set(g.faces, desc.indexOffset / 2);
      const pos = new Float32Array(g.vertices.length * 3);
      g.vertices.forEach((v, i) => {
        pos.set(mesh.vertices.subarray(v * 3, v * 3 + 3), i * 3);
      });
      m.HEAPF32.set(pos, desc.positionOffset / 4);
      const err = m.addMesh();
      // xatlas AddMeshError: 0 success, 1 error, 2 index out of range, 3 invalid face vertex count, 4 invalid index count.
      if (err !== 0) throw new Error(`unwrapUv: xatlas refused the mesh (AddMeshError ${err})`);
    }
    const pack = { ...m.defaultPackOptions(), resolution: o.resolution, padding: o.padding, bilinear: true };
    const chart = { ...m.defaultChartOptions(), maxIterations: o.maxIterations };
    m.generateAtlas(chart, pack);
    const atlas = m.getAtlas();
    if (atlas.atlasCount !== 1) {
      throw new Error(
        `unwrapUv: the charts need ${atlas.atlasCount} atlases at resolution ${o.resolution}; raise the texture size`,
      );
    }
    const outFaces: number[] = [];
    const source: number[] = [];
    const uvs: number[] = [];
    groups.forEach((g, meshId) => {
      const d = m.getMeshData(meshId);
      const base = source.length;
      const idx = m.HEAPU32.subarray(d.indexOffset / 4, d.indexOffset / 4 + d.newIndexCount);
      const xref = m.HEAPU32.subarray(
        d.originalIndexOffset / 4,
        d.originalIndexOffset / 4 + d.newVertexCount,
      );
      const uv = m.HEAPF32.subarray(d.uvOffset / 4, d.uvOffset / 4 + d.newVertexCount * 2);
      for (let i = 0; i < idx.length; i++) outFaces.push(base + idx[i]);
      for (let i = 0; i < xref.length; i++) {
        source.push(g.vertices[xref[i]]);
        uvs.push(uv[2 * i], uv[2 * i + 1]);
      }
      m.destroyMeshData(d);
      d.subMeshes?.delete();
    });
    const sourceVertex = Uint32Array.from(source);
    const nv = sourceVertex.length;
    const vertices = new Float32Array(nv * 3);
    for (let i = 0; i < nv; i++)
      vertices.set(mesh.vertices.subarray(sourceVertex[i] * 3, sourceVertex[i] * 3 + 3), i * 3);
    const out: UvMesh = {
      vertices,
      faces: Uint32Array.from(outFaces),
      uvs: Float32Array.from(uvs),
      sourceVertex,
    };
    if (mesh.vertexAttrs) {
      const c = mesh.attrChannels ?? 6;
      const attrs = new Float32Array(nv * c);
      for (let i = 0; i < nv; i++)
        attrs.set(mesh.vertexAttrs.subarray(sourceVertex[i] * c, sourceVertex[i] * c + c), i * c);
      out.vertexAttrs = attrs;
      out.attrChannels = c;
    }
    return out;
  } finally {
    m.destroyAtlas();
    progressSink = null;
  }
}
