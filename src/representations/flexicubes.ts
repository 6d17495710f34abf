/**
 * Mesh extraction from the mesh decoder's sparse 256^3 output: `SparseFeatures2Mesh` + NVIDIA FlexiCubes in
 * inference mode (ARCHITECTURE.md §f.2), evaluated sparsely with hash maps instead of the official dense
 * 257^3-vertex / 256^3-cube grids.
 *
 * Notes
 * - Dense semantics, reproduced sparsely: in the official code every grid vertex not touched by a voxel has sdf 1,
 *   deform 0 and colour 0 (sigmoid 0.5), and every cube not occupied by a voxel has weights 0 (beta = alpha = 1,
 *   gamma = 0.5). Such cubes still take part when some of their corners are shared with occupied voxels and the
 *   signs differ, so the surface-cube candidates are all cubes that contain a touched vertex with sdf < 0 (a
 *   cube whose corners are all untouched or all sdf >= 0 cannot be a surface cube). That set is at most 8x the
 *   number of inside vertices, never the R^3 grid.
 * - Output order equals the official order, so vertices and faces compare index by index: surface cubes in
 *   dense index order (x * R^2 + y * R + z); surface edges sorted by their (first, second) dense vertex ids, with
 *   the pair oriented as FlexiCubes' edge table orients it; dual vertices grouped by the number a cube emits
 *   (1, 2, 3, 4), then by cube, then by table slot; quads in surface-edge order, first those whose first
 *   endpoint is outside, then the rest.
 * - Float32 emulation where it decides topology: the vertex mean of the sdf is accumulated in float32 in voxel
 *   order (as torch's scatter_reduce does on the CPU), so the inside/outside tests see the reference's values;
 *   gamma products are rounded to float32 before the quad-split comparison. Positions and colours are computed in
 *   float64 and rounded once (they differ from the float32 reference by ~1e-7).
 * - Batch index: ignored, as in the official code (`coords[:, 1:]`); pass one object at a time.
 * - Alternatives: a dense Float32Array grid (257^3 x 10 channels = 700 MB at R = 256) was ruled out; a JS `Map`
 *   keyed by numbers works but is ~3x slower than the open-addressing Int32 table below (measured on 2M inserts).
 *   A WGSL version would help for steps 2 (scatter-mean: atomics on fixed-point or a sort by vertex key) and 7
 *   (dual vertices: one thread per surface cube); the hash building and the sort of surface edges would stay on
 *   the CPU or need a GPU radix sort. At the sizes the decoder produces (~1e5-4e5 voxels) the CPU path takes
 *   about a second, small next to the decoder itself.
 */

import { CHECK_TABLE, CUBE_EDGES, DMC_TABLE, NUM_VD_TABLE } from './flexicubes-tables.ts';

/** Channels per voxel of the mesh decoder output: sdf 8, deform 24, weights 21, colour 48. */
export const FLEXICUBES_CHANNELS = 101;
const SDF_OFF = 0;
const DEFORM_OFF = 8;
const WEIGHT_OFF = 32;
const COLOR_OFF = 53;
/** Colour channels per corner (RGB + a normal-like triple). */
export const MESH_ATTR_CHANNELS = 6;
/** Attributes scattered to vertices: sdf, deform xyz, colour 6. */
const VATTR = 10;

/** Options of `extractMesh`. */
export interface ExtractMeshOptions {
  /** Grid resolution R of the voxel coordinates (256 for the released decoder). */
  resolution: number;
  /** FlexiCubes weight scale (official default 0.99). */
  weightScale?: number;
}

/** Result of `extractMesh`: an indexed triangle mesh, Z up, coordinates in about [-0.5, 0.5]. */
export interface ExtractedMesh {
  /** [V*3] dual-vertex positions. */
  vertices: Float32Array;
  /** [F*3] vertex indices. */
  faces: Uint32Array;
  /** [V*6] interpolated sigmoid colours (RGB, then 3 normal-like channels) in [0, 1]. */
  vertexAttrs: Float32Array;
  /** Sizes of the intermediate sets, for logging and tests. */
  stats: { voxels: number; gridVertices: number; surfaceCubes: number; surfaceEdges: number; quads: number };
}

/** Open-addressing hash map from non-negative int32 keys to int32 values (linear probing, power-of-2 size). */
class IntMap {
  keys: Int32Array;
  vals: Int32Array;
  size = 0;
  private mask: number;
  constructor(expected: number) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.keys = new Int32Array(cap).fill(-1);
    this.vals = new Int32Array(cap);
    this.mask = cap - 1;
  }
  private slot(key: number): number {
    let h = Math.imul(key, 0x9e3779b1) >>> 0;
    h ^= h >>> 15;
    let i = h & this.mask;
    for (;;) {
      const k = this.keys[i];
      if (k === key || k === -1) return i;
      i = (i + 1) & this.mask;
    }
  }
  get(key: number): number {
    const i = this.slot(key);
    return this.keys[i] === key ? this.vals[i] : -1;
  }
  /** Returns the value for `key`, inserting `next` (and returning it) when absent. */
  getOrInsert(key: number, next: number): number {
    if ((this.size + 1) * 2 > this.keys.length) this.grow();
    const i = this.slot(key);
    if (this.keys[i] === key) return this.vals[i];
    this.keys[i] = key;
    this.vals[i] = next;
    this.size++;
    return next;
  }
  set(key: number, value: number): void {
    if ((this.size + 1) * 2 > this.keys.length) this.grow();
    const i = this.slot(key);
    if (this.keys[i] !== key) {
      this.keys[i] = key;
      this.size++;
    }
    this.vals[i] = value;
  }
  private grow(): void {
    const ok = this.keys;
    const ov = this.vals;
    this.keys = new Int32Array(ok.length * 2).fill(-1);
    this.vals = new Int32Array(ok.length * 2);
    this.mask = this.keys.length - 1;
    for (let i = 0; i < ok.length; i++) {
      if (ok[i] === -1) continue;
      const j = this.slot(ok[i]);
      this.keys[j] = ok[i];
      this.vals[j] = ov[i];
    }
  }
}

const f32 = Math.fround;
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/**
 * Extracts the FlexiCubes mesh from the mesh decoder's sparse output, matching the official
 * `SparseFeatures2Mesh(res=R, use_color=True)` in inference mode (same vertex and face order).
 *
 * @param coords [N*4] int32 voxel coordinates (batch, x, y, z), each of x, y, z in [0, R).
 * @param feats [N*101] float32 decoder features per voxel (sdf 8, deform 24, weights 21, colour 48).
 * @example
 * const mesh = extractMesh(coords, feats, { resolution: 256 });
 * console.log(mesh.vertices.length / 3, 'vertices', mesh.faces.length / 3, 'triangles');
 */
export function extractMesh(
  coords: Int32Array,
  feats: Float32Array,
  options: ExtractMeshOptions,
): ExtractedMesh {
  const R = options.resolution;
  const ws = options.weightScale ?? 0.99;
  const n = coords.length / 4;
  if (!Number.isInteger(R) || R < 1 || R > 1024) {
    throw new Error(`extractMesh: resolution must be an integer in [1, 1024], got ${R}`);
  }
  if (!Number.isInteger(n) || feats.length !== n * FLEXICUBES_CHANNELS) {
    throw new Error(
      `extractMesh: coords [${coords.length}] must be [N*4] and feats [${feats.length}] [N*${FLEXICUBES_CHANNELS}] (N = ${coords.length / 4})`,
    );
  }
  const Rv = R + 1;
  const vkey = (x: number, y: number, z: number): number => (x * Rv + y) * Rv + z;
  const ckey = (x: number, y: number, z: number): number => (x * R + y) * R + z;

  // 1-2. Scatter corner attributes to unique grid vertices (float32 sum in voxel order, then mean).
  const vmap = new IntMap(n * 4);
  let cap = Math.max(16, n * 3);
  let vsum = new Float64Array(cap * VATTR);
  let vcnt = new Int32Array(cap);
  let vcoord = new Int32Array(cap * 3);
  let nv = 0;
  const cubeVoxel = new IntMap(n);
  const bias = f32(-1 / R);
  for (let i = 0; i < n; i++) {
    const x = coords[i * 4 + 1];
    const y = coords[i * 4 + 2];
    const z = coords[i * 4 + 3];
    if (!(x >= 0 && x < R && y >= 0 && y < R && z >= 0 && z < R)) {
      throw new Error(`extractMesh: voxel ${i} at (${x}, ${y}, ${z}) lies outside the ${R}^3 grid`);
    }
    cubeVoxel.set(ckey(x, y, z), i); // duplicates: the last voxel's weights win, as dense assignment does
    const fo = i * FLEXICUBES_CHANNELS;
    for (let k = 0; k < 8; k++) {
      const cx = x + (k & 1);
      const cy = y + ((k >> 1) & 1);
      const cz = z + ((k >> 2) & 1);
      const v = vmap.getOrInsert(vkey(cx, cy, cz), nv);
      if (v === nv) {
        if (nv === cap) {
          cap *= 2;
          const s2 = new Float64Array(cap * VATTR);
          s2.set(vsum);
          vsum = s2;
          const c2 = new Int32Array(cap);
          c2.set(vcnt);
          vcnt = c2;
          const p2 = new Int32Array(cap * 3);
          p2.set(vcoord);
          vcoord = p2;
        }
        vcoord[nv * 3] = cx;
        vcoord[nv * 3 + 1] = cy;
        vcoord[nv * 3 + 2] = cz;
        nv++;
      }
      const so = v * VATTR;
      vsum[so] = f32(vsum[so] + f32(feats[fo + SDF_OFF + k] + bias));
      for (let c = 0; c < 3; c++)
        vsum[so + 1 + c] = f32(vsum[so + 1 + c] + feats[fo + DEFORM_OFF + k * 3 + c]);
      for (let c = 0; c < 6; c++)
        vsum[so + 4 + c] = f32(vsum[so + 4 + c] + feats[fo + COLOR_OFF + k * 6 + c]);
      vcnt[v]++;
    }
  }
  // Per touched vertex: sdf (float32 mean), deformed position, sigmoid colour.
  const vsdf = new Float32Array(nv);
  const vpos = new Float64Array(nv * 3);
  const vcol = new Float64Array(nv * 6);
  const dscale = (1 - 1e-8) / (2 * R);
  for (let v = 0; v < nv; v++) {
    const so = v * VATTR;
    const cnt = vcnt[v];
    vsdf[v] = f32(vsum[so] / cnt);
    for (let c = 0; c < 3; c++) {
      vpos[v * 3 + c] = vcoord[v * 3 + c] / R - 0.5 + dscale * Math.tanh(f32(vsum[so + 1 + c] / cnt));
    }
    for (let c = 0; c < 6; c++) vcol[v * 6 + c] = sigmoid(f32(vsum[so + 4 + c] / cnt));
  }

  // 3. Surface cubes: candidates are the cubes around inside vertices, kept when their corner signs differ.
  const cand = new IntMap(nv);
  const candList: number[] = [];
  for (let v = 0; v < nv; v++) {
    if (!(vsdf[v] < 0)) continue;
    const vx = vcoord[v * 3];
    const vy = vcoord[v * 3 + 1];
    const vz = vcoord[v * 3 + 2];
    for (let k = 0; k < 8; k++) {
      const x = vx - (k & 1);
      const y = vy - ((k >> 1) & 1);
      const z = vz - ((k >> 2) & 1);
      if (x < 0 || y < 0 || z < 0 || x >= R || y >= R || z >= R) continue;
      const key = ckey(x, y, z);
      if (cand.getOrInsert(key, candList.length) === candList.length) candList.push(key);
    }
  }
  const candKeys = Int32Array.from(candList).sort();
  const sKey: number[] = [];
  const sCorner: number[] = []; // touched-vertex index per corner, -1 when untouched
  const sCase: number[] = [];
  for (const key of candKeys) {
    const x = Math.floor(key / (R * R));
    const y = Math.floor(key / R) % R;
    const z = key % R;
    let mask = 0;
    const corners: number[] = [];
    for (let k = 0; k < 8; k++) {
      const v = vmap.get(vkey(x + (k & 1), y + ((k >> 1) & 1), z + ((k >> 2) & 1)));
      corners.push(v);
      if (v >= 0 && vsdf[v] < 0) mask |= 1 << k;
    }
    if (mask === 0 || mask === 255) continue;
    sKey.push(key);
    for (const v of corners) sCorner.push(v);
    sCase.push(mask);
  }
  const S = sKey.length;
  const empty = (): ExtractedMesh => ({
    vertices: new Float32Array(0),
    faces: new Uint32Array(0),
    vertexAttrs: new Float32Array(0),
    stats: { voxels: n, gridVertices: nv, surfaceCubes: S, surfaceEdges: 0, quads: 0 },
  });
  if (S === 0) return empty();
  const sIndex = new IntMap(S);
  for (let s = 0; s < S; s++) sIndex.set(sKey[s], s);
  const cubeXYZ = (s: number): [number, number, number] => {
    const key = sKey[s];
    return [Math.floor(key / (R * R)), Math.floor(key / R) % R, key % R];
  };

  // 4. Case ids, with the C16/C19 ambiguity resolved against the face neighbour named by the check table.
  const caseId = new Int32Array(S);
  for (let s = 0; s < S; s++) {
    let c = sCase[s];
    if (CHECK_TABLE[c * 5] === 1) {
      const [x, y, z] = cubeXYZ(s);
      const ax = x + CHECK_TABLE[c * 5 + 1];
      const ay = y + CHECK_TABLE[c * 5 + 2];
      const az = z + CHECK_TABLE[c * 5 + 3];
      if (ax >= 0 && ay >= 0 && az >= 0 && ax < R && ay < R && az < R) {
        const t = sIndex.get(ckey(ax, ay, az));
        if (t >= 0 && CHECK_TABLE[sCase[t] * 5] === 1) c = CHECK_TABLE[c * 5 + 4];
      }
    }
    caseId[s] = c;
  }

  // Per-corner data of a surface cube (untouched corners: sdf 1, undeformed position, colour sigmoid(0)).
  const cornerSdf = (s: number, k: number): number => {
    const v = sCorner[s * 8 + k];
    return v >= 0 ? vsdf[v] : 1;
  };
  const cornerPos = (s: number, k: number, out: Float64Array, o: number): void => {
    const v = sCorner[s * 8 + k];
    if (v >= 0) {
      out[o] = vpos[v * 3];
      out[o + 1] = vpos[v * 3 + 1];
      out[o + 2] = vpos[v * 3 + 2];
    } else {
      const [x, y, z] = cubeXYZ(s);
      out[o] = (x + (k & 1)) / R - 0.5;
      out[o + 1] = (y + ((k >> 1) & 1)) / R - 0.5;
      out[o + 2] = (z + ((k >> 2) & 1)) / R - 0.5;
    }
  };
  const cornerCol = (s: number, k: number, c: number): number => {
    const v = sCorner[s * 8 + k];
    return v >= 0 ? vcol[v * 6 + c] : 0.5;
  };
  // Normalised weights of a surface cube (cubes without a voxel have raw weights 0).
  const weightOf = (s: number, j: number): number => {
    const vox = cubeVoxel.get(sKey[s]);
    return vox >= 0 ? feats[vox * FLEXICUBES_CHANNELS + WEIGHT_OFF + j] : 0;
  };

  // 5. Surface edges (sign changes), numbered in the order of their (first, second) dense vertex ids.
  const edgeMap = new IntMap(S * 3);
  const edgeSort: number[] = []; // first * 2^25 + second
  const edgeCount: number[] = [];
  const edgeFirstSdf: number[] = [];
  const cubeEdgeRaw = new Int32Array(S * 12).fill(-1);
  for (let s = 0; s < S; s++) {
    const [x, y, z] = cubeXYZ(s);
    for (let e = 0; e < 12; e++) {
      const a = CUBE_EDGES[2 * e];
      const b = CUBE_EDGES[2 * e + 1];
      const sa = cornerSdf(s, a);
      const sb = cornerSdf(s, b);
      if (sa < 0 === sb < 0) continue;
      const va = vkey(x + (a & 1), y + ((a >> 1) & 1), z + ((a >> 2) & 1));
      const vb = vkey(x + (b & 1), y + ((b >> 1) & 1), z + ((b >> 2) & 1));
      const dir = (a ^ b) === 1 ? 0 : (a ^ b) === 2 ? 1 : 2;
      const id = Math.min(va, vb) * 3 + dir;
      const u = edgeMap.getOrInsert(id, edgeSort.length);
      if (u === edgeSort.length) {
        edgeSort.push(va * 33554432 + vb);
        edgeCount.push(0);
        edgeFirstSdf.push(sa);
      }
      edgeCount[u]++;
      cubeEdgeRaw[s * 12 + e] = u;
    }
  }
  const E = edgeSort.length;
  const order = Array.from({ length: E }, (_, i) => i).sort((i, j) => edgeSort[i] - edgeSort[j]);

  // 6. Dual vertices: beta-weighted mean of the alpha-weighted edge crossings of each edge group.
  let V = 0;
  for (let s = 0; s < S; s++) V += NUM_VD_TABLE[caseId[s]];
  const vd = new Float64Array(V * 3);
  const vdCol = new Float64Array(V * 6);
  const vdGamma = new Float32Array(V);
  const vdOfCubeEdge = new Int32Array(S * 12).fill(-1);
  const p0 = new Float64Array(3);
  const p1 = new Float64Array(3);
  const fws = f32(ws);
  const gOff = f32((1 - ws) / 2);
  let next = 0;
  for (let num = 1; num <= 4; num++) {
    for (let s = 0; s < S; s++) {
      const cs = caseId[s];
      if (NUM_VD_TABLE[cs] !== num) continue;
      const gamma = f32(f32(f32(sigmoid(weightOf(s, 20))) * fws) + gOff);
      for (let j = 0; j < num; j++) {
        const d = next++;
        vdGamma[d] = gamma;
        let bsum = 0;
        for (let t = 0; t < 7; t++) {
          const e = DMC_TABLE[cs * 28 + j * 7 + t];
          if (e < 0) continue;
          const a = CUBE_EDGES[2 * e];
          const b = CUBE_EDGES[2 * e + 1];
          const wa = cornerSdf(s, a) * (Math.tanh(weightOf(s, 12 + a)) * ws + 1);
          const wb = cornerSdf(s, b) * (Math.tanh(weightOf(s, 12 + b)) * ws + 1);
          const beta = Math.tanh(weightOf(s, e)) * ws + 1;
          // crossing = (p_a * wb - p_b * wa) / (wb - wa), weighted by beta
          const ka = (wb / (wb - wa)) * beta;
          const kb = (-wa / (wb - wa)) * beta;
          cornerPos(s, a, p0, 0);
          cornerPos(s, b, p1, 0);
          for (let c = 0; c < 3; c++) vd[d * 3 + c] += p0[c] * ka + p1[c] * kb;
          for (let c = 0; c < 6; c++) vdCol[d * 6 + c] += cornerCol(s, a, c) * ka + cornerCol(s, b, c) * kb;
          bsum += beta;
          vdOfCubeEdge[s * 12 + e] = d;
        }
        for (let c = 0; c < 3; c++) vd[d * 3 + c] /= bsum;
        for (let c = 0; c < 6; c++) vdCol[d * 6 + c] /= bsum;
      }
    }
  }

  // 7. Quads around the surface edges shared by 4 surface cubes, split along the diagonal with the larger gamma
  //    product; winding faces the positive sdf.
  const quadSlots = new Int32Array(E * 4);
  const quadFill = new Uint8Array(E);
  for (let s = 0; s < S; s++) {
    for (let e = 0; e < 12; e++) {
      const u = cubeEdgeRaw[s * 12 + e];
      if (u < 0 || edgeCount[u] !== 4) continue;
      const d = vdOfCubeEdge[s * 12 + e];
      if (d < 0)
        throw new Error(`extractMesh: surface edge ${e} of cube ${sKey[s]} has no dual vertex (table bug)`);
      quadSlots[u * 4 + quadFill[u]++] = d;
    }
  }
  const tris: number[] = [];
  const q = [0, 0, 0, 0];
  for (const flipped of [true, false]) {
    for (let r = 0; r < E; r++) {
      const u = order[r];
      if (edgeCount[u] !== 4 || edgeFirstSdf[u] > 0 !== flipped) continue;
      const o = u * 4;
      const perm = flipped ? [0, 1, 3, 2] : [2, 3, 1, 0];
      for (let i = 0; i < 4; i++) q[i] = quadSlots[o + perm[i]];
      const g02 = f32(vdGamma[q[0]] * vdGamma[q[2]]);
      const g13 = f32(vdGamma[q[1]] * vdGamma[q[3]]);
      if (g02 > g13) tris.push(q[0], q[1], q[2], q[0], q[2], q[3]);
      else tris.push(q[0], q[1], q[3], q[3], q[1], q[2]);
    }
  }
  return {
    vertices: Float32Array.from(vd),
    faces: Uint32Array.from(tris),
    vertexAttrs: Float32Array.from(vdCol),
    stats: { voxels: n, gridVertices: nv, surfaceCubes: S, surfaceEdges: E, quads: tris.length / 6 },
  };
}
