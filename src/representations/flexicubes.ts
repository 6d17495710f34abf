/**
 * Mesh extraction from the mesh decoder's sparse 256^3 output: `SparseFeatures2Mesh` + NVIDIA FlexiCubes in
 * inference mode (ARCHITECTURE.md §f.2), evaluated sparsely (index tables over the voxels' bounding box, not the
 * official dense 257^3-vertex / 256^3-cube feature grids).
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
 * - Lookups: dense Int32 tables over the voxels' bounding box (+1 cell) for grid vertices and cubes, when the box
 *   holds at most `denseGridLimit` vertices (2^25: the whole 257^3 of R = 256 is 68 MiB per table, two tables plus
 *   a byte of candidate flags per cube, ~150 MiB at most, freed on return); larger boxes (R up to 1024) use an
 *   open-addressing Int32 hash map. Both give the same output (the fixture test runs both). Surface edges are
 *   numbered through a flat table indexed by (record of the lower endpoint, axis), and ordered with one native
 *   sort of packed (first id * 6 + direction, edge number) doubles.
 * - Alternatives tried: a dense Float32Array attribute grid (257^3 x 10 channels = 680 MB at R = 256) was ruled
 *   out. A JS `Map` keyed by numbers is ~4.5x slower than the Int32 hash (2.16M lookups / 1.09M keys: Map
 *   0.87-0.97 s CPU, hash 0.17-0.25 s CPU); hashing with the LOW bits of key * 2^32/phi instead of the high bits
 *   made the extraction slower on grid-structured keys. The previous all-hash version (hash maps for vertices,
 *   cubes, candidates and edges, a hash set + sort for the candidates, a comparator sort for the edges, float64
 *   sums, every vertex's position and colour computed) vs this one, CPU time of one call on the shared 2-core box
 *   at load 3-5, same output bytes (2026-11-27):
 *     the mesh bench's case (1,296,384 voxels at R = 256 from the 20,256-voxel shell, zero features: 245k
 *     vertices, 490k faces): 5.5-5.7 s -> 1.8-2.2 s (at load 13-17: 7.6-11.0 s -> 2.0-2.6 s);
 *     a random-feature subdivided shell (656k voxels, 232k vertices): 3.1-3.6 s -> 1.4-1.7 s (hash path
 *     2.7-3.0 s at load 13-17).
 *   Tried and dropped: summing deform and colour in a second voxel pass only for surface-cube corners (18% of the
 *   vertices in the bench case): no gain measurable above the box's noise; the scatter loop in its own function:
 *   same. (A slow first call in a test script came from its never-touched 524 MB zero feature array, not from
 *   the extractor: a readback's array is already touched.)
 *   What is left is mostly the scatter-mean (10.4M corner updates for 1.3M voxels, ~45%) and the candidate /
 *   surface-cube pass (~25%). A WGSL version would help most for the scatter-mean (a sort by vertex key, or
 *   atomics on fixed point; the float32 voxel-order summation the reference does would then only hold to
 *   rounding) and the dual vertices (one thread per surface cube, fully independent).
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
  /**
   * Largest grid-vertex bounding box (in vertices) indexed with dense Int32 tables; larger boxes use hash maps.
   * The output does not depend on it (both paths give the same vertices and faces).
   */
  denseGridLimit?: number;
}

/** Defaults of {@link ExtractMeshOptions}. */
export const EXTRACT_MESH_DEFAULTS = {
  weightScale: 0.99,
  /** 2^25 vertices: the full 257^3 box of the released R = 256 (68 MiB per Int32 table, two of them + flags). */
  denseGridLimit: 2 ** 25,
} as const;

/** Result of `extractMesh`: an indexed triangle mesh, Z up, coordinates in about [-0.5, 0.5]. */
export interface ExtractedMesh {
  /** [V*3] dual-vertex positions. */
  vertices: Float32Array;
  /** [F*3] vertex indices. */
  faces: Uint32Array;
  /** [V*6] interpolated sigmoid colours (RGB, then 3 normal-like channels) in [0, 1]. */
  vertexAttrs: Float32Array;
  /** Sizes of the intermediate sets, for logging and tests. */
  stats: {
    voxels: number;
    /** Grid vertices touched by a voxel corner. */
    gridVertices: number;
    surfaceCubes: number;
    /** Surface cubes no voxel occupies (weights 0 in the official dense grid). */
    surfaceCubesWithoutVoxel: number;
    /** Ambiguous (C16/C19) cases replaced because the face neighbour is ambiguous too. */
    ambiguousResolved: number;
    surfaceEdges: number;
    quads: number;
  };
}

/** Cube / grid-vertex lookup: a dense table over the bounding box or the hash map below (-1 when absent). */
interface IndexTable {
  get(key: number): number;
  getOrInsert(key: number, next: number): number;
  set(key: number, value: number): void;
}

/** Dense Int32 table over a bounding box of keys (direct indexing: no probing, far fewer cache misses). */
class DenseIndex implements IndexTable {
  readonly vals: Int32Array;
  constructor(size: number) {
    this.vals = new Int32Array(size).fill(-1);
  }
  get(key: number): number {
    return this.vals[key];
  }
  getOrInsert(key: number, next: number): number {
    const v = this.vals[key];
    if (v >= 0) return v;
    this.vals[key] = next;
    return next;
  }
  set(key: number, value: number): void {
    this.vals[key] = value;
  }
}

/** Open-addressing hash map from non-negative int32 keys to int32 values (linear probing, power-of-2 size). */
class IntMap implements IndexTable {
  keys: Int32Array;
  vals: Int32Array;
  size = 0;
  private mask: number;
  private shift: number;
  constructor(expected: number) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.keys = new Int32Array(cap).fill(-1);
    this.vals = new Int32Array(cap);
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
  }
  private slot(key: number): number {
    // Fibonacci hashing: the high bits of key * 2^32/phi (the low bits of a product mix poorly).
    let i = Math.imul(key, 0x9e3779b1) >>> this.shift;
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
    this.shift = 32 - Math.log2(this.keys.length);
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
/** Largest exactly representable integer + 1 (the packed edge sort keys must stay below it). */
const TWO_POW_53 = 2 ** 53;

/** The empty result. */
function emptyMesh(stats: ExtractedMesh['stats']): ExtractedMesh {
  return {
    vertices: new Float32Array(0),
    faces: new Uint32Array(0),
    vertexAttrs: new Float32Array(0),
    stats,
  };
}

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
  const ws = options.weightScale ?? EXTRACT_MESH_DEFAULTS.weightScale;
  const denseLimit = options.denseGridLimit ?? EXTRACT_MESH_DEFAULTS.denseGridLimit;
  const n = coords.length / 4;
  if (!Number.isInteger(R) || R < 1 || R > 1024) {
    throw new Error(`extractMesh: resolution must be an integer in [1, 1024], got ${R}`);
  }
  if (!Number.isInteger(n) || feats.length !== n * FLEXICUBES_CHANNELS) {
    throw new Error(
      `extractMesh: coords [${coords.length}] must be [N*4] and feats [${feats.length}] [N*${FLEXICUBES_CHANNELS}] (N = ${coords.length / 4})`,
    );
  }
  const stats = {
    voxels: n,
    gridVertices: 0,
    surfaceCubes: 0,
    surfaceCubesWithoutVoxel: 0,
    ambiguousResolved: 0,
    surfaceEdges: 0,
    quads: 0,
  };
  // 0. Bounding box. Every vertex and cube the extraction looks up lies within one cell of the voxels: voxel
  //    corners span [min, max + 1], candidate cubes [min - 1, max + 1] and their corners [min - 1, max + 2]
  //    (clipped to the grid). Lookups use keys local to this box.
  const lo = [R, R, R];
  const hi = [-1, -1, -1];
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < 3; a++) {
      const c = coords[i * 4 + 1 + a];
      if (!(c >= 0 && c < R)) {
        const [x, y, z] = [coords[i * 4 + 1], coords[i * 4 + 2], coords[i * 4 + 3]];
        throw new Error(`extractMesh: voxel ${i} at (${x}, ${y}, ${z}) lies outside the ${R}^3 grid`);
      }
      if (c < lo[a]) lo[a] = c;
      if (c > hi[a]) hi[a] = c;
    }
  }
  if (n === 0) return emptyMesh(stats);
  const [lx, ly, lz] = lo.map((c) => Math.max(0, c - 1));
  const [hcx, hcy, hcz] = hi.map((c) => Math.min(R - 1, c + 1)); // last cube per axis
  const VY = Math.min(R, hi[1] + 2) - ly + 1;
  const VZ = Math.min(R, hi[2] + 2) - lz + 1;
  const VX = Math.min(R, hi[0] + 2) - lx + 1;
  const CX = hcx - lx + 1;
  const CY = hcy - ly + 1;
  const CZ = hcz - lz + 1;
  const dense = VX * VY * VZ <= denseLimit;
  const Rv = R + 1;
  /** Dense (global) grid-vertex id: the official vertex numbering, used for the edge order. */
  const vkeyGlobal = (x: number, y: number, z: number): number => (x * Rv + y) * Rv + z;
  const vkey = (x: number, y: number, z: number): number => ((x - lx) * VY + (y - ly)) * VZ + (z - lz);
  const ckey = (x: number, y: number, z: number): number => ((x - lx) * CY + (y - ly)) * CZ + (z - lz);

  /** Local key offset of corner k (bits: x, y, z) from the cube's first corner. */
  const cornerOff = new Int32Array(8);
  for (let k = 0; k < 8; k++) cornerOff[k] = (k & 1) * VY * VZ + ((k >> 1) & 1) * VZ + ((k >> 2) & 1);
  // Module bindings read in the hot loops, as locals (a dev loader may compile them to getters).
  const cubeEdges = CUBE_EDGES;
  const dmcTable = DMC_TABLE;
  const numVd = NUM_VD_TABLE;
  const checkTable = CHECK_TABLE;

  // 1-2. Scatter corner attributes to unique grid vertices (float32 sum in voxel order, then mean): the sums live
  //    in a Float32Array, so `+=` rounds each addition to float32 as torch's scatter_reduce does.
  const vmap: IndexTable = dense ? new DenseIndex(VX * VY * VZ) : new IntMap(n * 4);
  let cap = Math.max(64, n + (n >> 2));
  let vsum = new Float32Array(cap * VATTR);
  let vcnt = new Int32Array(cap);
  let vcoord = new Int32Array(cap * 3);
  let nv = 0;
  const cubeVoxel: IndexTable = dense ? new DenseIndex(CX * CY * CZ) : new IntMap(n);
  const bias = f32(-1 / R);
  for (let i = 0; i < n; i++) {
    const x = coords[i * 4 + 1];
    const y = coords[i * 4 + 2];
    const z = coords[i * 4 + 3];
    cubeVoxel.set(ckey(x, y, z), i); // duplicates: the last voxel's weights win, as dense assignment does
    const fo = i * FLEXICUBES_CHANNELS;
    const base = vkey(x, y, z);
    for (let k = 0; k < 8; k++) {
      const v = vmap.getOrInsert(base + cornerOff[k], nv);
      if (v === nv) {
        if (nv === cap) {
          cap *= 2;
          const s2 = new Float32Array(cap * VATTR);
          s2.set(vsum);
          vsum = s2;
          const c2 = new Int32Array(cap);
          c2.set(vcnt);
          vcnt = c2;
          const p2 = new Int32Array(cap * 3);
          p2.set(vcoord);
          vcoord = p2;
        }
        vcoord[nv * 3] = x + (k & 1);
        vcoord[nv * 3 + 1] = y + ((k >> 1) & 1);
        vcoord[nv * 3 + 2] = z + ((k >> 2) & 1);
        nv++;
      }
      const so = v * VATTR;
      vsum[so] += f32(feats[fo + SDF_OFF + k] + bias);
      const d = fo + DEFORM_OFF + k * 3;
      vsum[so + 1] += feats[d];
      vsum[so + 2] += feats[d + 1];
      vsum[so + 3] += feats[d + 2];
      const co = fo + COLOR_OFF + k * 6;
      for (let c = 0; c < 6; c++) vsum[so + 4 + c] += feats[co + c];
      vcnt[v]++;
    }
  }
  stats.gridVertices = nv;
  // Mean sdf per touched vertex (float32, as the reference): decides inside/outside below.
  const sdfMean = new Float32Array(nv);
  for (let v = 0; v < nv; v++) sdfMean[v] = vsum[v * VATTR] / vcnt[v];

  // 3. Surface cubes: candidates are the cubes around inside vertices, visited in dense cube order (x R^2 + y R
  //    + z), kept when their corner signs differ. Dense: flags over the box, scanned in order; otherwise a hash
  //    set and a sort (local keys sort like the dense index). Untouched corners (sdf 1) get records of their own.
  let candKeys: Int32Array;
  let nc = 0;
  {
    const flags = dense ? new Uint8Array(CX * CY * CZ) : null;
    const cand = dense ? null : new IntMap(nv * 2);
    let keys = dense ? new Int32Array(0) : new Int32Array(Math.max(16, nv * 2));
    for (let v = 0; v < nv; v++) {
      if (!(sdfMean[v] < 0)) continue;
      const vx = vcoord[v * 3];
      const vy = vcoord[v * 3 + 1];
      const vz = vcoord[v * 3 + 2];
      for (let k = 0; k < 8; k++) {
        const x = vx - (k & 1);
        const y = vy - ((k >> 1) & 1);
        const z = vz - ((k >> 2) & 1);
        if (x < 0 || y < 0 || z < 0 || x >= R || y >= R || z >= R) continue;
        const key = ckey(x, y, z);
        if (flags) {
          if (flags[key] === 0) {
            flags[key] = 1;
            nc++;
          }
        } else if (cand && cand.getOrInsert(key, nc) === nc) {
          if (nc === keys.length) {
            const c2 = new Int32Array(nc * 2);
            c2.set(keys);
            keys = c2;
          }
          keys[nc++] = key;
        }
      }
    }
    if (flags) {
      keys = new Int32Array(nc);
      let j = 0;
      for (let key = 0; key < flags.length; key++) if (flags[key] !== 0) keys[j++] = key;
    } else keys = keys.subarray(0, nc).sort();
    candKeys = keys;
  }
  const sXYZ = new Int32Array(nc * 3);
  const sVox = new Int32Array(nc);
  const corner = new Int32Array(nc * 8); // grid-vertex record per corner
  const sCase = new Int32Array(nc);
  let S = 0;
  let nAll = nv;
  let extra = new Int32Array(3 * 1024); // coordinates of untouched corner vertices, records nv, nv + 1, ...
  const CYZ = CY * CZ;
  for (let c = 0; c < nc; c++) {
    const key = candKeys[c];
    const x = lx + Math.floor(key / CYZ);
    const y = ly + (Math.floor(key / CZ) % CY);
    const z = lz + (key % CZ);
    let mask = 0;
    const base = vkey(x, y, z);
    for (let k = 0; k < 8; k++) {
      const v = vmap.get(base + cornerOff[k]);
      corner[S * 8 + k] = v;
      if (v >= 0 && v < nv && sdfMean[v] < 0) mask |= 1 << k; // records >= nv: untouched (sdf 1)
    }
    if (mask === 0 || mask === 255) continue;
    for (let k = 0; k < 8; k++) {
      if (corner[S * 8 + k] >= 0) continue;
      const cx = x + (k & 1);
      const cy = y + ((k >> 1) & 1);
      const cz = z + ((k >> 2) & 1);
      const v = vmap.getOrInsert(vkey(cx, cy, cz), nAll);
      if (v === nAll) {
        const e = (nAll - nv) * 3;
        if (e + 3 > extra.length) {
          const e2 = new Int32Array(extra.length * 2);
          e2.set(extra);
          extra = e2;
        }
        extra[e] = cx;
        extra[e + 1] = cy;
        extra[e + 2] = cz;
        nAll++;
      }
      corner[S * 8 + k] = v;
    }
    sVox[S] = cubeVoxel.get(key);
    sXYZ[S * 3] = x;
    sXYZ[S * 3 + 1] = y;
    sXYZ[S * 3 + 2] = z;
    sCase[S] = mask;
    S++;
  }
  stats.surfaceCubes = S;
  if (S === 0) return emptyMesh(stats);

  // Per grid-vertex record, for the corners of surface cubes only (the other records are never read): sdf
  // (float32 mean), deformed position, sigmoid colour; untouched: sdf 1, no deformation, colour sigmoid(0) = 0.5
  // (the dense grid's defaults).
  const vsdf = new Float32Array(nAll);
  const vpos = new Float64Array(nAll * 3);
  const vcol = new Float64Array(nAll * 6);
  const dscale = (1 - 1e-8) / (2 * R);
  vsdf.set(sdfMean);
  vsdf.fill(1, nv);
  const ready = new Uint8Array(nAll);
  for (let i = 0; i < S * 8; i++) {
    const v = corner[i];
    if (ready[v] !== 0) continue;
    ready[v] = 1;
    if (v < nv) {
      const so = v * VATTR;
      const cnt = vcnt[v];
      for (let c = 0; c < 3; c++) {
        vpos[v * 3 + c] = vcoord[v * 3 + c] / R - 0.5 + dscale * Math.tanh(f32(vsum[so + 1 + c] / cnt));
      }
      for (let c = 0; c < 6; c++) vcol[v * 6 + c] = sigmoid(f32(vsum[so + 4 + c] / cnt));
    } else {
      for (let c = 0; c < 3; c++) vpos[v * 3 + c] = extra[(v - nv) * 3 + c] / R - 0.5;
      vcol.fill(0.5, v * 6, v * 6 + 6);
    }
  }
  // The cube table becomes the surface-cube index (voxel entries cleared; a hash map keeps them as -1).
  const sIndex = cubeVoxel;
  for (let i = 0; i < n; i++) sIndex.set(ckey(coords[i * 4 + 1], coords[i * 4 + 2], coords[i * 4 + 3]), -1);
  for (let s = 0; s < S; s++) sIndex.set(ckey(sXYZ[s * 3], sXYZ[s * 3 + 1], sXYZ[s * 3 + 2]), s);

  // 4. Case ids, with the C16/C19 ambiguity resolved against the face neighbour named by the check table
  //    (a neighbour outside the candidate box is no surface cube).
  const caseId = new Int32Array(S);
  for (let s = 0; s < S; s++) {
    let c = sCase[s];
    if (checkTable[c * 5] === 1) {
      const ax = sXYZ[s * 3] + checkTable[c * 5 + 1];
      const ay = sXYZ[s * 3 + 1] + checkTable[c * 5 + 2];
      const az = sXYZ[s * 3 + 2] + checkTable[c * 5 + 3];
      if (ax >= lx && ay >= ly && az >= lz && ax <= hcx && ay <= hcy && az <= hcz) {
        const t = sIndex.get(ckey(ax, ay, az));
        if (t >= 0 && checkTable[sCase[t] * 5] === 1) {
          c = checkTable[c * 5 + 4];
          stats.ambiguousResolved++;
        }
      }
    }
    caseId[s] = c;
  }

  // 5. Surface edges (sign changes), numbered in the order of their (first, second) dense vertex ids, the pair
  //    oriented as CUBE_EDGES orients it (consistent across the cubes sharing an edge). An edge is identified by
  //    the record of its lower endpoint and its axis, so a flat table over the records replaces a hash map.
  const edgeOf = new Int32Array(nAll * 3).fill(-1);
  let eCap = Math.max(16, S * 2);
  let edgeFirstKey = new Float64Array(eCap); // global id of the first endpoint
  let edgeCode = new Uint8Array(eCap); // rank of (second - first) among -Rv^2, -Rv, -1, 1, Rv, Rv^2
  let edgeFirst = new Int32Array(eCap); // grid-vertex record of the first endpoint
  let edgeCount = new Uint8Array(eCap);
  const cubeEdge = new Int32Array(S * 12).fill(-1);
  let E = 0;
  for (let s = 0; s < S; s++) {
    const x = sXYZ[s * 3];
    const y = sXYZ[s * 3 + 1];
    const z = sXYZ[s * 3 + 2];
    for (let e = 0; e < 12; e++) {
      const a = cubeEdges[2 * e];
      const b = cubeEdges[2 * e + 1];
      const ra = corner[s * 8 + a];
      if (vsdf[ra] < 0 === vsdf[corner[s * 8 + b]] < 0) continue;
      const ab = a ^ b;
      const dir = ab === 1 ? 0 : ab === 2 ? 1 : 2;
      const slot = corner[s * 8 + Math.min(a, b)] * 3 + dir; // a, b differ in one bit: the lower is smaller
      let u = edgeOf[slot];
      if (u < 0) {
        if (E === eCap) {
          eCap *= 2;
          const k2 = new Float64Array(eCap);
          k2.set(edgeFirstKey);
          edgeFirstKey = k2;
          const c2 = new Uint8Array(eCap);
          c2.set(edgeCode);
          edgeCode = c2;
          const f2 = new Int32Array(eCap);
          f2.set(edgeFirst);
          edgeFirst = f2;
          const n2 = new Uint8Array(eCap);
          n2.set(edgeCount);
          edgeCount = n2;
        }
        u = E++;
        edgeOf[slot] = u;
        edgeFirstKey[u] = vkeyGlobal(x + (a & 1), y + ((a >> 1) & 1), z + ((a >> 2) & 1));
        // axis dir: 0 -> +-Rv^2 (x), 1 -> +-Rv (y), 2 -> +-1 (z); b above a ranks above 2.
        edgeCode[u] = a < b ? 3 + (2 - dir) : dir;
        edgeFirst[u] = ra;
      }
      edgeCount[u]++;
      cubeEdge[s * 12 + e] = u;
    }
  }
  stats.surfaceEdges = E;
  const order = sortEdges(edgeFirstKey, edgeCode, E, 6 * Rv * Rv * Rv);

  // 6. Dual vertices: beta-weighted mean of the alpha-weighted edge crossings of each edge group.
  let V = 0;
  for (let s = 0; s < S; s++) V += numVd[caseId[s]];
  const vd = new Float64Array(V * 3);
  const vdCol = new Float64Array(V * 6);
  const vdGamma = new Float32Array(V);
  const vdOfCubeEdge = new Int32Array(S * 12).fill(-1);
  const fws = f32(ws);
  const gOff = f32((1 - ws) / 2);
  const w = new Float64Array(21); // normalised weights of the current cube
  let next = 0;
  for (let num = 1; num <= 4; num++) {
    for (let s = 0; s < S; s++) {
      const cs = caseId[s];
      if (numVd[cs] !== num) continue;
      // Cubes without a voxel have raw weights 0 (beta = alpha = 1, gamma = 0.5), as in the dense grid.
      const vox = sVox[s];
      if (vox < 0) stats.surfaceCubesWithoutVoxel++;
      const wo = vox * FLEXICUBES_CHANNELS + WEIGHT_OFF;
      for (let j = 0; j < 20; j++) w[j] = Math.tanh(vox >= 0 ? feats[wo + j] : 0) * ws + 1;
      const gamma = f32(f32(f32(sigmoid(vox >= 0 ? feats[wo + 20] : 0)) * fws) + gOff);
      for (let j = 0; j < num; j++) {
        const d = next++;
        vdGamma[d] = gamma;
        let bsum = 0;
        let px = 0;
        let py = 0;
        let pz = 0;
        for (let t = 0; t < 7; t++) {
          const e = dmcTable[cs * 28 + j * 7 + t];
          if (e < 0) continue;
          const a = cubeEdges[2 * e];
          const b = cubeEdges[2 * e + 1];
          const ra = corner[s * 8 + a];
          const rb = corner[s * 8 + b];
          const wa = vsdf[ra] * w[12 + a];
          const wb = vsdf[rb] * w[12 + b];
          const beta = w[e];
          // crossing = (p_a * wb - p_b * wa) / (wb - wa), weighted by beta
          const ka = (wb / (wb - wa)) * beta;
          const kb = (-wa / (wb - wa)) * beta;
          px += vpos[ra * 3] * ka + vpos[rb * 3] * kb;
          py += vpos[ra * 3 + 1] * ka + vpos[rb * 3 + 1] * kb;
          pz += vpos[ra * 3 + 2] * ka + vpos[rb * 3 + 2] * kb;
          for (let c = 0; c < 6; c++) vdCol[d * 6 + c] += vcol[ra * 6 + c] * ka + vcol[rb * 6 + c] * kb;
          bsum += beta;
          vdOfCubeEdge[s * 12 + e] = d;
        }
        vd[d * 3] = px / bsum;
        vd[d * 3 + 1] = py / bsum;
        vd[d * 3 + 2] = pz / bsum;
        for (let c = 0; c < 6; c++) vdCol[d * 6 + c] /= bsum;
      }
    }
  }

  // 7. Quads around the surface edges shared by 4 surface cubes (their dual vertices in cube order), split along
  //    the diagonal with the larger gamma product; winding faces the positive sdf.
  const quadSlots = new Int32Array(E * 4);
  const quadFill = new Uint8Array(E);
  let Q = 0;
  for (let s = 0; s < S; s++) {
    for (let e = 0; e < 12; e++) {
      const u = cubeEdge[s * 12 + e];
      if (u < 0 || edgeCount[u] !== 4) continue;
      const d = vdOfCubeEdge[s * 12 + e];
      if (d < 0) {
        const [x, y, z] = [sXYZ[s * 3], sXYZ[s * 3 + 1], sXYZ[s * 3 + 2]];
        throw new Error(
          `extractMesh: surface edge ${e} of cube (${x}, ${y}, ${z}) has no dual vertex (table bug)`,
        );
      }
      quadSlots[u * 4 + quadFill[u]++] = d;
      if (quadFill[u] === 4) Q++;
    }
  }
  const faces = new Uint32Array(Q * 6);
  let f = 0;
  const FLIP = [0, 1, 3, 2];
  const KEEP = [2, 3, 1, 0];
  for (const flipped of [true, false]) {
    const perm = flipped ? FLIP : KEEP;
    for (let r = 0; r < E; r++) {
      const u = order[r];
      if (edgeCount[u] !== 4 || vsdf[edgeFirst[u]] > 0 !== flipped) continue;
      const q0 = quadSlots[u * 4 + perm[0]];
      const q1 = quadSlots[u * 4 + perm[1]];
      const q2 = quadSlots[u * 4 + perm[2]];
      const q3 = quadSlots[u * 4 + perm[3]];
      if (f32(vdGamma[q0] * vdGamma[q2]) > f32(vdGamma[q1] * vdGamma[q3])) {
        faces[f] = q0;
        faces[f + 1] = q1;
        faces[f + 2] = q2;
        faces[f + 3] = q0;
        faces[f + 4] = q2;
        faces[f + 5] = q3;
      } else {
        faces[f] = q0;
        faces[f + 1] = q1;
        faces[f + 2] = q3;
        faces[f + 3] = q3;
        faces[f + 4] = q1;
        faces[f + 5] = q2;
      }
      f += 6;
    }
  }
  stats.quads = Q;
  return { vertices: Float32Array.from(vd), faces, vertexAttrs: Float32Array.from(vdCol), stats };
}

/**
 * Edge numbers 0..E-1 ordered by (first endpoint id, second endpoint id). The second endpoint is a grid
 * neighbour of the first, so (first * 6 + code) orders the pairs; with the edge number in the low bits, one native
 * Float64Array sort does it (a comparator sort of the indices took several times longer). Keys too large to pack
 * exactly fall back to the comparator.
 */
function sortEdges(firstKey: Float64Array, code: Uint8Array, E: number, keyLimit: number): Uint32Array {
  const order = new Uint32Array(E);
  const bits = Math.max(1, Math.ceil(Math.log2(E + 1)));
  const scale = 2 ** bits;
  if (keyLimit * scale <= TWO_POW_53) {
    const packed = new Float64Array(E);
    for (let i = 0; i < E; i++) packed[i] = (firstKey[i] * 6 + code[i]) * scale + i;
    packed.sort();
    for (let i = 0; i < E; i++) order[i] = packed[i] % scale;
    return order;
  }
  for (let i = 0; i < E; i++) order[i] = i;
  return order.sort((i, j) => firstKey[i] * 6 + code[i] - (firstKey[j] * 6 + code[j]));
}
