/**
 * Surface voxelisation of a normalised mesh with the semantics of TRELLIS' `dataset_toolkits/voxelize.py`: vertices
 * clamped to `[-0.5 + 1e-6, 0.5 - 1e-6]`, then Open3D's `VoxelGrid.create_from_triangle_mesh_within_bounds(mesh,
 * voxel_size = 1/64, min_bound = -0.5, max_bound = 0.5)`: a voxel is occupied when some triangle overlaps its closed
 * box (separating-axis triangle/box test after Akenine-Moeller, touching counts), and the output is the voxel
 * centres `(index + 0.5) / 64 - 0.5` written as a float32 `x y z` PLY (what `utils3d.io.write_ply` writes).
 *
 * Notes
 * - Open3D before 0.17 tested boxes centred on voxel CORNERS (`min_bound + index * size`, its PR #5759 added the
 *   half voxel); TRELLIS installs a current Open3D, so we follow the fixed centres. The fixture script
 *   (tools/fixtures/voxelize_trellis.py, Debian's Open3D 0.16) shifts the mesh by half a voxel to get them.
 * - Open3D loops over every voxel of the grid and every triangle (O(64^3 F)); we loop over each triangle's bounding
 *   box widened by one voxel (boxes touching the triangle's bounding planes count as overlapping) and mark a
 *   bitset: the same set, about 5 ms for the shipped 500-900-face meshes and ~1 s for 1M faces.
 * - Order: Open3D returns the voxels in hash-map order; we write them sorted by (x, y, z) index, so files are
 *   reproducible.
 * - Arithmetic is f64 as Open3D's (Eigen double); positions are f32 values, exactly representable.
 */

import type { Mesh } from './mesh-io.ts';

/** TRELLIS' sparse-structure grid side. */
export const VOXEL_RESOLUTION = 64;
/** TRELLIS clamps vertices this far inside the unit cube before voxelising. */
export const VOXEL_CLAMP_EPS = 1e-6;

export interface VoxelizeOptions {
  /** Grid side (TRELLIS: 64). */
  resolution?: number;
}

export const VOXELIZE_DEFAULTS: Required<VoxelizeOptions> = { resolution: VOXEL_RESOLUTION };

/** Occupied voxels: `count` indices (x, y, z per voxel, sorted by x, then y, then z). */
export interface VoxelGrid {
  resolution: number;
  count: number;
  /** 3 * count integer grid indices in [0, resolution). */
  indices: Uint16Array;
}

/**
 * Triangle / axis-aligned box overlap (closed sets), separating-axis theorem with the 13 axes of Akenine-Moeller:
 * the triangle's edges crossed with the box axes, the box axes, and the triangle normal. Inputs are relative to the
 * box centre, `h` is the half side.
 */
function triBoxOverlap(
  v0x: number,
  v0y: number,
  v0z: number,
  v1x: number,
  v1y: number,
  v1z: number,
  v2x: number,
  v2y: number,
  v2z: number,
  h: number,
): boolean {
  const e0x = v1x - v0x;
  const e0y = v1y - v0y;
  const e0z = v1z - v0z;
  const e1x = v2x - v1x;
  const e1y = v2y - v1y;
  const e1z = v2z - v1z;
  const e2x = v0x - v2x;
  const e2y = v0y - v2y;
  const e2z = v0z - v2z;
  // Edge x box-axis tests: for the axis (unit axis x edge) the two vertices of the edge project alike, so one of
  // them and the third vertex bound the triangle's projection. Which vertex of the edge is used and the order of
  // the products follow tribox3.c, so touching cases round the same way as in Open3D.
  // axis X x e = (0, -ez, ey); Y x e = (ez, 0, -ex); Z x e = (-ey, ex, 0); projections negated (exactly) below.
  const ax = (ez: number, ey: number, a: number, b: number, c: number, d: number, r: number) => {
    const p = ez * a - ey * b;
    const q = ez * c - ey * d;
    return !(Math.min(p, q) > r || Math.max(p, q) < -r);
  };
  let fx = Math.abs(e0x);
  let fy = Math.abs(e0y);
  let fz = Math.abs(e0z);
  if (!ax(e0z, e0y, v0y, v0z, v2y, v2z, fz * h + fy * h)) return false;
  if (!ax(e0z, e0x, v0x, v0z, v2x, v2z, fz * h + fx * h)) return false;
  if (!ax(e0y, e0x, v1x, v1y, v2x, v2y, fy * h + fx * h)) return false;
  fx = Math.abs(e1x);
  fy = Math.abs(e1y);
  fz = Math.abs(e1z);
  if (!ax(e1z, e1y, v0y, v0z, v2y, v2z, fz * h + fy * h)) return false;
  if (!ax(e1z, e1x, v0x, v0z, v2x, v2z, fz * h + fx * h)) return false;
  if (!ax(e1y, e1x, v0x, v0y, v1x, v1y, fy * h + fx * h)) return false;
  fx = Math.abs(e2x);
  fy = Math.abs(e2y);
  fz = Math.abs(e2z);
  if (!ax(e2z, e2y, v0y, v0z, v1y, v1z, fz * h + fy * h)) return false;
  if (!ax(e2z, e2x, v0x, v0z, v1x, v1z, fz * h + fx * h)) return false;
  if (!ax(e2y, e2x, v1x, v1y, v2x, v2y, fy * h + fx * h)) return false;
  // Box axes: the triangle's bounding box against the box.
  if (Math.min(v0x, v1x, v2x) > h || Math.max(v0x, v1x, v2x) < -h) return false;
  if (Math.min(v0y, v1y, v2y) > h || Math.max(v0y, v1y, v2y) < -h) return false;
  if (Math.min(v0z, v1z, v2z) > h || Math.max(v0z, v1z, v2z) < -h) return false;
  // Triangle plane against the box: the box corners nearest and farthest along the normal.
  const nx = e0y * e1z - e0z * e1y;
  const ny = e0z * e1x - e0x * e1z;
  const nz = e0x * e1y - e0y * e1x;
  let minD = 0;
  let maxD = 0;
  for (const [n, v] of [
    [nx, v0x],
    [ny, v0y],
    [nz, v0z],
  ] as const) {
    if (n > 0) {
      minD += n * (-h - v);
      maxD += n * (h - v);
    } else {
      minD += n * (h - v);
      maxD += n * (-h - v);
    }
  }
  if (minD > 0) return false;
  return maxD >= 0;
}

/**
 * Voxelises the surface of a mesh already normalised to the unit cube (TRELLIS semantics, see the file notes).
 * @example
 * const grid = voxelizeMesh((await readMesh('assets/meshes/chair.ply')).mesh);
 * await writeFileAtomic('voxels.ply', voxelPly(grid));
 */
export function voxelizeMesh(mesh: Mesh, options: VoxelizeOptions = {}): VoxelGrid {
  const { resolution: R } = { ...VOXELIZE_DEFAULTS, ...options };
  if (!Number.isInteger(R) || R < 1 || R > 1024)
    throw new Error(`voxelizeMesh: resolution must be an integer in [1, 1024], got ${R}`);
  const size = 1 / R;
  const h = size / 2;
  const lo = -0.5 + VOXEL_CLAMP_EPS;
  const hi = 0.5 - VOXEL_CLAMP_EPS;
  const p = mesh.positions;
  const clamped = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) clamped[i] = Math.min(Math.max(p[i]!, lo), hi);
  const occupied = new Uint8Array(R * R * R);
  const f = mesh.faces;
  const cell = (x: number) => Math.floor((x + 0.5) / size);
  for (let t = 0; t < f.length; t += 3) {
    const a = f[t]! * 3;
    const b = f[t + 1]! * 3;
    const c = f[t + 2]! * 3;
    const ax = clamped[a]!;
    const ay = clamped[a + 1]!;
    const az = clamped[a + 2]!;
    const bx = clamped[b]!;
    const by = clamped[b + 1]!;
    const bz = clamped[b + 2]!;
    const cx = clamped[c]!;
    const cy = clamped[c + 1]!;
    const cz = clamped[c + 2]!;
    // One extra voxel on each side: a closed box touching the triangle's bounding plane overlaps it.
    const i0 = Math.max(cell(Math.min(ax, bx, cx)) - 1, 0);
    const i1 = Math.min(cell(Math.max(ax, bx, cx)) + 1, R - 1);
    const j0 = Math.max(cell(Math.min(ay, by, cy)) - 1, 0);
    const j1 = Math.min(cell(Math.max(ay, by, cy)) + 1, R - 1);
    const k0 = Math.max(cell(Math.min(az, bz, cz)) - 1, 0);
    const k1 = Math.min(cell(Math.max(az, bz, cz)) + 1, R - 1);
    for (let i = i0; i <= i1; i++) {
      // Box centre as Open3D computes it: min_bound + half + index * size.
      const ox = -0.5 + h + i * size;
      for (let j = j0; j <= j1; j++) {
        const oy = -0.5 + h + j * size;
        for (let k = k0; k <= k1; k++) {
          const v = (i * R + j) * R + k;
          if (occupied[v]) continue;
          const oz = -0.5 + h + k * size;
          if (
            triBoxOverlap(ax - ox, ay - oy, az - oz, bx - ox, by - oy, bz - oz, cx - ox, cy - oy, cz - oz, h)
          )
            occupied[v] = 1;
        }
      }
    }
  }
  let count = 0;
  for (let v = 0; v < occupied.length; v++) count += occupied[v]!;
  const indices = new Uint16Array(count * 3);
  let w = 0;
  for (let v = 0; v < occupied.length; v++) {
    if (!occupied[v]) continue;
    indices[w++] = Math.floor(v / (R * R));
    indices[w++] = Math.floor(v / R) % R;
    indices[w++] = v % R;
  }
  return { resolution: R, count, indices };
}

/**
 * The voxel-centre point cloud as TRELLIS writes `voxels/<sha256>.ply`: binary little-endian PLY with one `vertex`
 * element of float x, y, z at `(index + 0.5) / resolution - 0.5`.
 * @example
 * await writeFileAtomic('voxels.ply', voxelPly(voxelizeMesh(mesh)));
 */
export function voxelPly(grid: VoxelGrid): Uint8Array {
  const header =
    'ply\nformat binary_little_endian 1.0\n' +
    `element vertex ${grid.count}\nproperty float x\nproperty float y\nproperty float z\nend_header\n`;
  const head = new TextEncoder().encode(header);
  const out = new Uint8Array(head.length + grid.count * 12);
  out.set(head);
  const view = new DataView(out.buffer);
  let off = head.length;
  for (let i = 0; i < grid.count * 3; i++, off += 4) {
    view.setFloat32(off, (grid.indices[i]! + 0.5) / grid.resolution - 0.5, true);
  }
  return out;
}
