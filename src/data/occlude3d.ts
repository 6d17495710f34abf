/**
 * 3-D-consistent synthetic occlusion (the evaluation protocol of Amodal3R's `3d_mask_render.py`): a connected
 * patch of 20-50% of the mesh faces is marked occluded, and every camera sees the same patch, so the per-view
 * 3-level masks (background 255, visible 188, occluded 0) agree across views. Cameras follow TRELLIS'
 * `dataset_toolkits/render.py`: fov 40 degrees, radius 2, directions from a Hammersley sphere sequence with a
 * random offset, the camera looking at the origin with Blender's track-to constraint (-Z forward, Y up);
 * `transforms.json` is written in the Blender/NeRF convention TRELLIS writes (camera-to-world, camera looks down
 * its -Z axis).
 *
 * Notes (where we differ from the official script)
 * - Patch growth: BFS over faces that share an edge, from a uniformly random start face, until `int(F * ratio)`
 *   faces are selected, restarting from a new random face when the component is exhausted (as the official
 *   script). The official BFS restarts also when its per-call quota (which counts faces selected earlier) runs out,
 *   and expands neighbours in Python-set order; ours counts only new faces and expands neighbours in ascending id.
 * - Adjacency welds vertices with bit-identical positions first, so meshes stored as triangle soups (common in GLB
 *   exports) still form patches; the official code uses vertex indices as stored.
 * - The official script paints the VERTICES of the selected faces black and renders with per-vertex colour
 *   interpolation, so faces bordering the patch come out partly dark and the thresholded mask grows by about half
 *   a face ring; ours is per face (a pixel is occluded iff the visible face there is selected), which makes the
 *   "occluded in one view => occluded in every view where visible" property exact.
 * - Rendering is our WGSL compute rasteriser (or its CPU twin), not Open3D/Blender; the RGB view is a simple
 *   two-sided headlight shading in gray, with occluded faces black.
 * - Randomness: `Rng` (xoshiro128**), stream 0 for the patch, stream 1 for the camera offset.
 * - Adjacency: edges bucketed by their smaller vertex (counting sort) instead of a Map keyed by edge; vertex welding
 *   first used a Map keyed by a string of the three f32 bit patterns: 7.4 s for a 1M-face mesh, 1.8 s with the
 *   open-addressing table and typed pair buffers (lavapipe box, 2 cores at load ~16: upper bounds).
 * - Per-view loop (100k faces, 150 views at 512^2 with PNG writes, lavapipe, loaded box): 30.0 s with a render
 *   awaited per view, two read-backs and CPU-built RGBA; 18.4 s with one read-back (no ids), a clear kernel and the
 *   words as RGBA bytes (raster.ts notes); 8.5 s with two views in flight and per-mesh normals. Keeping all views
 *   in memory (350 MB at 150 views) was replaced by `onView` streaming.
 */

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic-write.ts';
import { type RawImage, writePng } from '../io/image.ts';
import { MASK_BACKGROUND, MASK_OCCLUDED, MASK_VISIBLE } from '../preprocess/mask.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import type { LoadedMesh, Mesh } from './mesh-io.ts';
import { Rng } from './prng.ts';
import { TRI_STRIDE } from './raster.cpu.ts';
import { type RasterResult, renderFacesCpu, renderFacesGpu } from './raster.ts';

/** TRELLIS render camera: field of view (degrees), distance to the origin, image side. */
export const TRELLIS_FOV_DEGREES = 40;
export const TRELLIS_RADIUS = 2;
export const TRELLIS_RESOLUTION = 512;
/** Official range of the occluded face ratio. */
export const OCCLUDED_RATIO_RANGE: readonly [number, number] = [0.2, 0.5];
/** Cameras closer than this to a vertex (along the view axis) skip the face (no near-plane clipping). */
const NEAR = 1e-3;
/** Gray levels of the headlight shading: `SHADE_MIN + SHADE_RANGE * |n . v|`. */
const SHADE_MIN = 60;
const SHADE_RANGE = 195;

/** Thrown for invalid 3-D occlusion arguments. */
export class Occlusion3dError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Occlusion3dError';
  }
}

function radicalInverse(base: number, n: number): number {
  let val = 0;
  let inv = 1 / base;
  let k = n;
  while (k > 0) {
    val += (k % base) * inv;
    k = Math.floor(k / base);
    inv /= base;
  }
  return val;
}

/**
 * TRELLIS' `sphere_hammersley_sequence`: `[yaw, pitch]` (radians) of view `n` of `count`, shifted by `offset`.
 * @example
 * sphereHammersley(0, 4, [0.3, 0.7]); // [yaw, pitch]
 */
export function sphereHammersley(
  n: number,
  count: number,
  offset: readonly [number, number],
): [number, number] {
  let u = n / count + offset[0] / count;
  const v = radicalInverse(2, n) + offset[1];
  u = u < 0.25 ? 2 * u : (2 / 3) * u + 1 / 3;
  const theta = Math.acos(1 - 2 * u) - Math.PI / 2;
  const phi = v * 2 * Math.PI;
  return [phi, theta];
}

/** One camera: TRELLIS view parameters and its camera-to-world matrix (rows, Blender convention). */
export interface CameraFrame {
  yaw: number;
  pitch: number;
  radius: number;
  /** Horizontal field of view, radians (`camera_angle_x`). */
  fov: number;
  /** 4x4 camera-to-world, row-major rows; columns 0-2 are the camera x, y, z axes, column 3 its position. */
  transform: number[][];
}

/**
 * The camera-to-world matrix of a camera at (yaw, pitch, radius) looking at the origin with world Z up
 * (Blender TRACK_TO, track -Z, up Y).
 * @example
 * cameraFrame(0, 0, 2, (40 * Math.PI) / 180).transform[0][3]; // 2
 */
export function cameraFrame(yaw: number, pitch: number, radius: number, fov: number): CameraFrame {
  const pos = [
    radius * Math.cos(yaw) * Math.cos(pitch),
    radius * Math.sin(yaw) * Math.cos(pitch),
    radius * Math.sin(pitch),
  ];
  const len = Math.hypot(pos[0]!, pos[1]!, pos[2]!);
  const z = pos.map((c) => c / len);
  // x = up x z with up = world Z; straight above/below the origin fall back to world X.
  let x = [-z[1]!, z[0]!, 0];
  const xl = Math.hypot(x[0]!, x[1]!);
  x = xl < 1e-12 ? [1, 0, 0] : x.map((c) => c / xl);
  const y = [z[1]! * x[2]! - z[2]! * x[1]!, z[2]! * x[0]! - z[0]! * x[2]!, z[0]! * x[1]! - z[1]! * x[0]!];
  const transform = [0, 1, 2].map((r) => [x[r]!, y[r]!, z[r]!, pos[r]!]);
  transform.push([0, 0, 0, 1]);
  return { yaw, pitch, radius, fov, transform };
}

/**
 * The views TRELLIS renders for `count` cameras with Hammersley offset `offset` (fov, radius as given).
 * @example
 * trellisCameras(150, [Math.random(), Math.random()]);
 */
export function trellisCameras(
  count: number,
  offset: readonly [number, number],
  fovDegrees = TRELLIS_FOV_DEGREES,
  radius = TRELLIS_RADIUS,
): CameraFrame[] {
  const fov = (fovDegrees / 180) * Math.PI;
  return Array.from({ length: count }, (_, i) => {
    const [yaw, pitch] = sphereHammersley(i, count, offset);
    return cameraFrame(yaw, pitch, radius, fov);
  });
}

/**
 * Screen-space triangles (x, y in pixels with pixel centres at +0.5, and 1/depth; 9 f32 per face) of a square
 * `resolution` image seen by `cam`. Faces with a corner within {@link NEAR} of the camera plane get 1/z = -1.
 * @example
 * const tri = projectFaces(mesh, cameras[0], 128);
 */
export function projectFaces(
  mesh: Mesh,
  cam: CameraFrame,
  resolution: number,
  target?: Float32Array,
): Float32Array {
  const m = cam.transform;
  const px = m[0]![3]!;
  const py = m[1]![3]!;
  const pz = m[2]![3]!;
  const focal = (0.5 * resolution) / Math.tan(cam.fov / 2);
  const half = resolution / 2;
  const p = mesh.positions;
  const nv = p.length / 3;
  const sx = new Float64Array(nv);
  const sy = new Float64Array(nv);
  const iz = new Float64Array(nv);
  const [r0, r1, r2] = [m[0]!, m[1]!, m[2]!];
  const [a00, a01, a02, a10, a11, a12] = [r0[0]!, r0[1]!, r0[2]!, r1[0]!, r1[1]!, r1[2]!];
  const [a20, a21, a22] = [r2[0]!, r2[1]!, r2[2]!];
  for (let v = 0; v < nv; v++) {
    const dx = p[v * 3]! - px;
    const dy = p[v * 3 + 1]! - py;
    const dz = p[v * 3 + 2]! - pz;
    const cx = dx * a00 + dy * a10 + dz * a20;
    const cy = dx * a01 + dy * a11 + dz * a21;
    const cz = dx * a02 + dy * a12 + dz * a22;
    const depth = -cz;
    if (!(depth > NEAR) || !Number.isFinite(cx) || !Number.isFinite(cy)) {
      iz[v] = -1;
      continue;
    }
    sx[v] = half + (focal * cx) / depth;
    sy[v] = half - (focal * cy) / depth;
    iz[v] = 1 / depth;
  }
  const f = mesh.faces;
  // Reusing the caller's buffer across views saves allocating and zeroing 36 MB per view at 1M faces.
  const out =
    target && target.length === (f.length / 3) * TRI_STRIDE
      ? target
      : new Float32Array((f.length / 3) * TRI_STRIDE);
  for (let t = 0; t < f.length / 3; t++) {
    for (let k = 0; k < 3; k++) {
      const v = f[t * 3 + k]!;
      const o = t * TRI_STRIDE + k * 3;
      out[o] = sx[v]!;
      out[o + 1] = sy[v]!;
      out[o + 2] = iz[v]!;
    }
  }
  return out;
}

/** Face adjacency over shared edges, as CSR: neighbours of face f are `neighbors[offsets[f] .. offsets[f + 1])`. */
export interface FaceAdjacency {
  faces: number;
  offsets: Uint32Array;
  neighbors: Uint32Array;
}

/** Vertex ids after welding bit-identical positions (first occurrence wins), via an open-addressing hash table. */
function weldVertices(positions: Float32Array): Uint32Array {
  const bits = new Uint32Array(positions.buffer, positions.byteOffset, positions.length);
  const nv = positions.length / 3;
  let cap = 16;
  while (cap < 2 * nv) cap *= 2;
  const table = new Int32Array(cap).fill(-1);
  const out = new Uint32Array(nv);
  for (let v = 0; v < nv; v++) {
    const x = bits[v * 3]!;
    const y = bits[v * 3 + 1]!;
    const z = bits[v * 3 + 2]!;
    let h = Math.imul(x, 0x9e3779b1) ^ Math.imul(y, 0x85ebca77) ^ Math.imul(z, 0xc2b2ae3d);
    h ^= h >>> 15;
    let slot = h & (cap - 1);
    for (;;) {
      const u = table[slot]!;
      if (u < 0) {
        table[slot] = v;
        out[v] = v;
        break;
      }
      if (bits[u * 3] === x && bits[u * 3 + 1] === y && bits[u * 3 + 2] === z) {
        out[v] = u;
        break;
      }
      slot = (slot + 1) & (cap - 1);
    }
  }
  return out;
}

/**
 * Faces sharing an edge are neighbours (every pair of faces on a non-manifold edge too). Vertices with identical
 * positions are welded first. Neighbour lists are sorted ascending, without duplicates.
 * @example
 * const adj = faceAdjacency(mesh);
 */
export function faceAdjacency(mesh: Mesh): FaceAdjacency {
  const weld = weldVertices(mesh.positions);
  const F = mesh.faces.length / 3;
  const nv = mesh.positions.length / 3;
  // Bucket the 3F edges by their smaller vertex (counting sort), then sort each small bucket by the larger one.
  const count = new Uint32Array(nv + 1);
  const lo = new Uint32Array(3 * F);
  const hi = new Uint32Array(3 * F);
  for (let t = 0; t < F; t++) {
    for (let k = 0; k < 3; k++) {
      const a = weld[mesh.faces[t * 3 + k]!]!;
      const b = weld[mesh.faces[t * 3 + ((k + 1) % 3)]!]!;
      lo[t * 3 + k] = Math.min(a, b);
      hi[t * 3 + k] = Math.max(a, b);
      count[Math.min(a, b) + 1]!++;
    }
  }
  for (let v = 0; v < nv; v++) count[v + 1]! += count[v]!;
  const fill = count.slice(0, nv);
  const bucketHi = new Uint32Array(3 * F);
  const bucketFace = new Uint32Array(3 * F);
  for (let e = 0; e < 3 * F; e++) {
    const slot = fill[lo[e]!]!++;
    bucketHi[slot] = hi[e]!;
    bucketFace[slot] = Math.floor(e / 3);
  }
  // Manifold meshes have ~1.5 F shared edges; grow when non-manifold edges add more pairs.
  let pairsA = new Uint32Array(2 * F + 16);
  let pairsB = new Uint32Array(2 * F + 16);
  let np = 0;
  for (let v = 0; v < nv; v++) {
    const s = count[v]!;
    const e = count[v + 1]!;
    // Insertion sort by (hi, face): buckets hold about the valence of v.
    for (let i = s + 1; i < e; i++) {
      const h = bucketHi[i]!;
      const fc = bucketFace[i]!;
      let j = i - 1;
      while (j >= s && (bucketHi[j]! > h || (bucketHi[j] === h && bucketFace[j]! > fc))) {
        bucketHi[j + 1] = bucketHi[j]!;
        bucketFace[j + 1] = bucketFace[j]!;
        j--;
      }
      bucketHi[j + 1] = h;
      bucketFace[j + 1] = fc;
    }
    for (let i = s; i < e; ) {
      let j = i + 1;
      while (j < e && bucketHi[j] === bucketHi[i]) j++;
      for (let a = i; a < j; a++) {
        for (let b = a + 1; b < j; b++) {
          if (bucketFace[a] !== bucketFace[b]) {
            if (np === pairsA.length) {
              const ga = new Uint32Array(np * 2);
              const gb = new Uint32Array(np * 2);
              ga.set(pairsA);
              gb.set(pairsB);
              pairsA = ga;
              pairsB = gb;
            }
            pairsA[np] = bucketFace[a]!;
            pairsB[np++] = bucketFace[b]!;
          }
        }
      }
      i = j;
    }
  }
  const deg = new Uint32Array(F + 1);
  for (let i = 0; i < np; i++) {
    deg[pairsA[i]! + 1]!++;
    deg[pairsB[i]! + 1]!++;
  }
  for (let t = 0; t < F; t++) deg[t + 1]! += deg[t]!;
  const nb = new Uint32Array(deg[F]!);
  const pos = deg.slice(0, F);
  for (let i = 0; i < np; i++) {
    nb[pos[pairsA[i]!]!++] = pairsB[i]!;
    nb[pos[pairsB[i]!]!++] = pairsA[i]!;
  }
  // Sort and dedupe each list (faces sharing two edges appear twice).
  const offsets = new Uint32Array(F + 1);
  let w = 0;
  for (let t = 0; t < F; t++) {
    const list = nb.subarray(deg[t]!, deg[t + 1]!).sort();
    offsets[t] = w;
    for (let i = 0; i < list.length; i++) if (i === 0 || list[i] !== list[i - 1]) nb[w++] = list[i]!;
  }
  offsets[F] = w;
  return { faces: F, offsets, neighbors: nb.slice(0, w) };
}

/** The occluded face set. */
export interface OccludedFaces {
  /** 1 for occluded faces. */
  occluded: Uint8Array;
  /** Drawn ratio and the face count it asks for (`int(F * ratio)`). */
  ratio: number;
  target: number;
  /** BFS starts used (1 when the first component was large enough). */
  starts: number;
}

/**
 * Grows the occluded patch: ratio ~ U(range), then BFS from random start faces until `int(F * ratio)` faces.
 * @example
 * const { occluded } = selectOccludedFaces(faceAdjacency(mesh), new Rng(42));
 */
export function selectOccludedFaces(
  adj: FaceAdjacency,
  rng: Rng,
  range: readonly [number, number] = OCCLUDED_RATIO_RANGE,
): OccludedFaces {
  const F = adj.faces;
  if (!(range[0] >= 0 && range[1] < 1 && range[0] <= range[1])) {
    throw new Occlusion3dError(
      `selectOccludedFaces: ratio range must satisfy 0 <= lo <= hi < 1, got [${range}]`,
    );
  }
  const ratio = rng.uniform(range[0], range[1]);
  const target = Math.floor(F * ratio);
  const occluded = new Uint8Array(F);
  const stamp = new Uint32Array(F);
  const queue = new Uint32Array(F);
  let selected = 0;
  let starts = 0;
  while (selected < target) {
    const start = rng.randint(0, F);
    starts++;
    let head = 0;
    let tail = 0;
    queue[tail++] = start;
    stamp[start] = starts;
    while (head < tail && selected < target) {
      const f = queue[head++]!;
      if (!occluded[f]) {
        occluded[f] = 1;
        selected++;
      }
      for (let i = adj.offsets[f]!; i < adj.offsets[f + 1]!; i++) {
        const g = adj.neighbors[i]!;
        if (stamp[g] !== starts) {
          stamp[g] = starts;
          queue[tail++] = g;
        }
      }
    }
  }
  return { occluded, ratio, target, starts };
}

/**
 * Packed per-pixel word of the renders: the RGBA bytes of the output image in memory order (gray, gray, gray, alpha;
 * little-endian), so the rendered words are the image without a copy. The mask is implied: alpha 0 is background,
 * gray 0 occluded (visible faces are at least SHADE_MIN), anything else visible (see {@link maskOfWord}).
 */
export function packWord(gray: number, alpha: number): number {
  return (gray | (gray << 8) | (gray << 16) | (alpha << 24)) >>> 0;
}
/** Word of pixels no face covers (transparent black). */
export const BACKGROUND_WORD = packWord(0, 0);

/** The 3-level mask value of a packed word. */
export function maskOfWord(w: number): number {
  if (w >>> 24 === 0) return MASK_BACKGROUND;
  return (w & 255) === 0 ? MASK_OCCLUDED : MASK_VISIBLE;
}

/**
 * View-independent face data for {@link faceWords}: the (unnormalised) normal `(b - a) x (c - a)` and the centroid
 * of every face, 6 f64 per face. Computed once per mesh instead of once per view (the same arithmetic, so the same
 * words).
 * @example
 * const frames = faceFrames(mesh);
 */
export function faceFrames(mesh: Mesh): Float64Array {
  const p = mesh.positions;
  const f = mesh.faces;
  const F = f.length / 3;
  const out = new Float64Array(F * 6);
  for (let t = 0; t < F; t++) {
    const a = f[t * 3]! * 3;
    const b = f[t * 3 + 1]! * 3;
    const c = f[t * 3 + 2]! * 3;
    const ux = p[b]! - p[a]!;
    const uy = p[b + 1]! - p[a + 1]!;
    const uz = p[b + 2]! - p[a + 2]!;
    const vx = p[c]! - p[a]!;
    const vy = p[c + 1]! - p[a + 1]!;
    const vz = p[c + 2]! - p[a + 2]!;
    out[t * 6] = uy * vz - uz * vy;
    out[t * 6 + 1] = uz * vx - ux * vz;
    out[t * 6 + 2] = ux * vy - uy * vx;
    out[t * 6 + 3] = (p[a]! + p[b]! + p[c]!) / 3;
    out[t * 6 + 4] = (p[a + 1]! + p[b + 1]! + p[c + 1]!) / 3;
    out[t * 6 + 5] = (p[a + 2]! + p[b + 2]! + p[c + 2]!) / 3;
  }
  return out;
}

/**
 * Per-face output words for one camera: occluded faces black, the others gray by two-sided headlight shading
 * (`SHADE_MIN + SHADE_RANGE * |cos|` between the face normal and the direction to the camera).
 * @example
 * const info = faceWords(mesh, occluded, cameras[0]);
 */
export function faceWords(
  mesh: Mesh,
  occluded: Uint8Array,
  cam: CameraFrame,
  frames: Float64Array = faceFrames(mesh),
  target?: Uint32Array,
): Uint32Array {
  const F = mesh.faces.length / 3;
  const cx = cam.transform[0]![3]!;
  const cy = cam.transform[1]![3]!;
  const cz = cam.transform[2]![3]!;
  const out = target && target.length === F ? target : new Uint32Array(F);
  const black = packWord(0, 255);
  for (let t = 0; t < F; t++) {
    if (occluded[t]) {
      out[t] = black;
      continue;
    }
    const nx = frames[t * 6]!;
    const ny = frames[t * 6 + 1]!;
    const nz = frames[t * 6 + 2]!;
    const dx = cx - frames[t * 6 + 3]!;
    const dy = cy - frames[t * 6 + 4]!;
    const dz = cz - frames[t * 6 + 5]!;
    const norm = Math.sqrt((nx * nx + ny * ny + nz * nz) * (dx * dx + dy * dy + dz * dz));
    const cos = Math.min(1, Math.abs(nx * dx + ny * dy + nz * dz) / (norm || 1));
    out[t] = packWord(Math.round(SHADE_MIN + SHADE_RANGE * cos), 255);
  }
  return out;
}

export interface Occlude3dOptions {
  /** Number of cameras. */
  views?: number;
  /** Image side in pixels (square images, as TRELLIS). */
  resolution?: number;
  seed?: number;
  /** Range of the occluded face ratio. */
  ratioRange?: readonly [number, number];
  fovDegrees?: number;
  radius?: number;
  /** GPU context for the WGSL rasteriser; null renders on the CPU twin. */
  gpu?: GpuContext | null;
  /**
   * Called with each view as soon as it is rendered; the views are then not kept in the result (streaming: 150 views
   * at 512^2 are ~350 MB). Up to `inFlight` returned promises run while the next views render.
   */
  onView?: (view: Occlude3dView, index: number) => Promise<void> | void;
  /** Pending `onView` promises allowed while rendering goes on. */
  inFlight?: number;
  /** Return the face ids per view (`Occlude3dView.ids`; empty otherwise): the GPU then reads back twice as much. */
  keepIds?: boolean;
  /** Filled with milliseconds per phase (adjacency, patch, project, shade, render, pack, write), added to. */
  timings?: Record<string, number>;
}

export const OCCLUDE3D_DEFAULTS: Required<Omit<Occlude3dOptions, 'gpu' | 'onView' | 'timings'>> = {
  views: 4,
  inFlight: 4,
  keepIds: true,
  resolution: TRELLIS_RESOLUTION,
  seed: 0,
  ratioRange: OCCLUDED_RATIO_RANGE,
  fovDegrees: TRELLIS_FOV_DEGREES,
  radius: TRELLIS_RADIUS,
};

/** One rendered view. */
export interface Occlude3dView {
  /** RGBA: shaded gray, occluded faces black, background transparent. */
  image: RawImage;
  /** 1-channel 3-level mask. */
  mask: RawImage;
  /** Face id per pixel (0xffffffff where empty); empty with `keepIds: false` on the GPU. */
  ids: Uint32Array;
  camera: CameraFrame;
}

/** `transforms.json` content (TRELLIS/Blender layout plus our occlusion record). */
export interface TransformsJson {
  aabb: [number[], number[]];
  scale: number;
  offset: [number, number, number];
  frames: { file_path: string; camera_angle_x: number; transform_matrix: number[][] }[];
  occlusion: {
    seed: number;
    ratio: number;
    faces: number;
    occluded_faces: number;
    hammersley_offset: [number, number];
    radius: number;
    resolution: number;
    mask_suffix: string;
  };
}

export interface Occlude3dResult {
  views: Occlude3dView[];
  occluded: Uint8Array;
  ratio: number;
  transforms: TransformsJson;
  backend: 'webgpu' | 'cpu';
}

function intOpt(name: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new Occlusion3dError(`occlude3d: ${name} must be an integer in [${min}, ${max}], got ${v}`);
  }
}

/**
 * Selects the occluded patch and renders every camera: per view the occluded image, 3-level mask and face ids.
 * @example
 * const r = await occlude3d(await readMesh('assets/meshes/chair.ply'), { views: 4, seed: 1, gpu });
 * await writeOcclude3d('out', r);
 */
export async function occlude3d(
  input: LoadedMesh | Mesh,
  options: Occlude3dOptions = {},
): Promise<Occlude3dResult> {
  const o = { ...OCCLUDE3D_DEFAULTS, ...options };
  const gpu = options.gpu ?? null;
  intOpt('views', o.views, 1, 10000);
  intOpt('resolution', o.resolution, 8, 4096);
  intOpt('seed', o.seed, 0, 0xffffffff);
  if (!(o.fovDegrees > 0 && o.fovDegrees < 180))
    throw new Occlusion3dError(`occlude3d: fov must be in (0, 180) degrees, got ${o.fovDegrees}`);
  if (!(o.radius > 0)) throw new Occlusion3dError(`occlude3d: radius must be > 0, got ${o.radius}`);
  const loaded = 'mesh' in input ? input : null;
  const mesh = loaded ? loaded.mesh : (input as Mesh);
  if (mesh.faces.length === 0) throw new Occlusion3dError('occlude3d: the mesh has no faces');
  const F = mesh.faces.length / 3;
  const timings = options.timings ?? {};
  let t0 = performance.now();
  const lap = (phase: string) => {
    const t = performance.now();
    timings[phase] = (timings[phase] ?? 0) + (t - t0);
    t0 = t;
  };
  const adj = faceAdjacency(mesh);
  lap('adjacency');
  const sel = selectOccludedFaces(adj, new Rng(o.seed, 0), o.ratioRange);
  lap('patch');
  const camRng = new Rng(o.seed, 1);
  const offset: [number, number] = [camRng.random(), camRng.random()];
  const cameras = trellisCameras(o.views, offset, o.fovDegrees, o.radius);
  const R = o.resolution;
  const views: Occlude3dView[] = [];
  const frames = faceFrames(mesh);
  const triBuf = new Float32Array(F * TRI_STRIDE);
  const infoBuf = new Uint32Array(F);
  lap('shade');
  const pending = new Set<Promise<void>>();
  let failure: unknown = null;
  // Two views in flight on the GPU: view i is projected and submitted before view i-1's read-back is awaited, so the
  // CPU work and the read-back latency overlap. `render` is then the time spent waiting for results.
  const finish = async (job: {
    r: Promise<RasterResult>;
    vi: number;
    camera: CameraFrame;
  }): Promise<void> => {
    t0 = performance.now();
    const r = await job.r;
    lap('render');
    // The words are the RGBA bytes (little-endian hosts, as every WebGPU platform); only the mask is computed.
    const rgba = new Uint8Array(r.out.buffer, r.out.byteOffset, R * R * 4);
    const mask = new Uint8Array(R * R);
    for (let i = 0; i < R * R; i++) {
      const a = rgba[i * 4 + 3]!;
      mask[i] = a === 0 ? MASK_BACKGROUND : rgba[i * 4] === 0 ? MASK_OCCLUDED : MASK_VISIBLE;
    }
    const view: Occlude3dView = {
      image: { width: R, height: R, channels: 4, data: rgba },
      mask: { width: R, height: R, channels: 1, data: mask },
      ids: r.ids,
      camera: job.camera,
    };
    lap('pack');
    if (!options.onView) {
      views.push(view);
      return;
    }
    const started = performance.now();
    const p: Promise<void> = Promise.resolve(options.onView(view, job.vi)).then(
      () => {
        pending.delete(p);
        timings.write = (timings.write ?? 0) + (performance.now() - started);
      },
      (e: unknown) => {
        pending.delete(p);
        failure ??= e;
      },
    );
    pending.add(p);
    while (pending.size >= o.inFlight) await Promise.race(pending);
  };
  let prev: { r: Promise<RasterResult>; vi: number; camera: CameraFrame } | null = null;
  for (let vi = 0; vi < cameras.length && !failure; vi++) {
    const camera = cameras[vi]!;
    t0 = performance.now();
    // Both buffers are reused across views: the GPU path copies them at writeBuffer (before its first await), the
    // CPU twin reads them now.
    const tri = projectFaces(mesh, camera, R, triBuf);
    lap('project');
    const info = faceWords(mesh, sel.occluded, camera, frames, infoBuf);
    lap('shade');
    let r: Promise<RasterResult>;
    if (gpu) {
      r = renderFacesGpu(gpu, tri, info, R, R, BACKGROUND_WORD, { ids: o.keepIds });
      r.catch(() => {}); // awaited in finish(); this only keeps an early failure from being "unhandled"
    } else {
      r = Promise.resolve(renderFacesCpu(tri, info, R, R, BACKGROUND_WORD));
      lap('render');
    }
    if (prev) await finish(prev);
    prev = { r, vi, camera };
  }
  if (prev && !failure) await finish(prev);
  else if (prev) await prev.r.catch(() => {});
  await Promise.all(pending);
  if (failure) throw failure;
  t0 = performance.now();
  const occludedCount = sel.occluded.reduce((s, v) => s + v, 0);
  const transforms: TransformsJson = {
    aabb: [
      [-0.5, -0.5, -0.5],
      [0.5, 0.5, 0.5],
    ],
    scale: loaded?.scale ?? 1,
    offset: loaded?.offset ?? [0, 0, 0],
    frames: cameras.map((c, i) => ({
      file_path: `${viewStem(i)}.png`,
      camera_angle_x: c.fov,
      transform_matrix: c.transform,
    })),
    occlusion: {
      seed: o.seed,
      ratio: sel.ratio,
      faces: F,
      occluded_faces: occludedCount,
      hammersley_offset: offset,
      radius: o.radius,
      resolution: R,
      mask_suffix: '_mask.png',
    },
  };
  return { views, occluded: sel.occluded, ratio: sel.ratio, transforms, backend: gpu ? 'webgpu' : 'cpu' };
}

/** `NNN` file stem of view `i`. */
export function viewStem(i: number): string {
  return String(i).padStart(3, '0');
}

/**
 * Renders and writes as it goes (views are not kept): `<dir>/NNN.png`, `<dir>/NNN_mask.png`, `<dir>/transforms.json`;
 * the same files as {@link occlude3d} + {@link writeOcclude3d} with bounded memory and PNG encoding overlapped with
 * rendering. The result's `views` is empty.
 * @example
 * const r = await occlude3dToDir('out/chair', await readMesh('assets/meshes/chair.ply'), { views: 150, gpu });
 */
export async function occlude3dToDir(
  dir: string,
  input: LoadedMesh | Mesh,
  options: Occlude3dOptions = {},
): Promise<Occlude3dResult> {
  await mkdir(dir, { recursive: true });
  const r = await occlude3d(input, {
    keepIds: false,
    ...options,
    onView: async (v, i) => {
      await Promise.all([
        writePng(join(dir, `${viewStem(i)}.png`), v.image),
        writePng(join(dir, `${viewStem(i)}_mask.png`), v.mask),
      ]);
    },
  });
  await writeFileAtomic(join(dir, 'transforms.json'), `${JSON.stringify(r.transforms, null, 4)}\n`);
  return r;
}

/**
 * Writes `<dir>/NNN.png`, `<dir>/NNN_mask.png` and `<dir>/transforms.json` (no timestamps or absolute paths).
 * @example
 * await writeOcclude3d('out/chair', result);
 */
export async function writeOcclude3d(dir: string, result: Occlude3dResult): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < result.views.length; i++) {
    const v = result.views[i]!;
    const stem = viewStem(i);
    await writePng(join(dir, `${stem}.png`), v.image);
    await writePng(join(dir, `${stem}_mask.png`), v.mask);
  }
  await writeFileAtomic(join(dir, 'transforms.json'), `${JSON.stringify(result.transforms, null, 4)}\n`);
}
