/**
 * Small closed meshes for the mesh-export tests: an icosphere (subdivided icosahedron, outward winding), with
 * optional per-vertex colour attrs.
 */

import type { Mesh } from '../../src/representations/mesh.ts';

/**
 * Icosphere of `radius` with `subdivisions` levels (20 * 4^s triangles: 1 -> 80, 2 -> 320, 3 -> 1280).
 * @example
 * const m = icosphere(0.3, 2);
 */
export function icosphere(radius: number, subdivisions: number): Mesh {
  const t = (1 + Math.sqrt(5)) / 2;
  const verts: number[][] = [
    [-1, t, 0],
    [1, t, 0],
    [-1, -t, 0],
    [1, -t, 0],
    [0, -1, t],
    [0, 1, t],
    [0, -1, -t],
    [0, 1, -t],
    [t, 0, -1],
    [t, 0, 1],
    [-t, 0, -1],
    [-t, 0, 1],
  ];
  let faces: number[][] = [
    [0, 11, 5],
    [0, 5, 1],
    [0, 1, 7],
    [0, 7, 10],
    [0, 10, 11],
    [1, 5, 9],
    [5, 11, 4],
    [11, 10, 2],
    [10, 7, 6],
    [7, 1, 8],
    [3, 9, 4],
    [3, 4, 2],
    [3, 2, 6],
    [3, 6, 8],
    [3, 8, 9],
    [4, 9, 5],
    [2, 4, 11],
    [6, 2, 10],
    [8, 6, 7],
    [9, 8, 1],
  ];
  for (let s = 0; s < subdivisions; s++) {
    const mid = new Map<string, number>();
    const midpoint = (a: number, b: number): number => {
      const k = a < b ? `${a},${b}` : `${b},${a}`;
      let m = mid.get(k);
      if (m === undefined) {
        m = verts.length;
        verts.push([0, 1, 2].map((j) => (verts[a][j] + verts[b][j]) / 2));
        mid.set(k, m);
      }
      return m;
    };
    faces = faces.flatMap(([a, b, c]) => {
      const ab = midpoint(a, b);
      const bc = midpoint(b, c);
      const ca = midpoint(c, a);
      return [
        [a, ab, ca],
        [b, bc, ab],
        [c, ca, bc],
        [ab, bc, ca],
      ];
    });
  }
  const vertices = new Float32Array(verts.length * 3);
  verts.forEach((v, i) => {
    const l = Math.hypot(v[0], v[1], v[2]);
    for (let j = 0; j < 3; j++) vertices[i * 3 + j] = (v[j] / l) * radius;
  });
  return { vertices, faces: Uint32Array.from(faces.flat()) };
}

/** Enclosed volume of a closed, consistently wound mesh (divergence theorem). */
export function meshVolume(m: Mesh): number {
  let v = 0;
  for (let f = 0; f < m.faces.length; f += 3) {
    const [a, b, c] = [m.faces[f] * 3, m.faces[f + 1] * 3, m.faces[f + 2] * 3];
    const p = m.vertices;
    v +=
      p[a] * (p[b + 1] * p[c + 2] - p[b + 2] * p[c + 1]) -
      p[a + 1] * (p[b] * p[c + 2] - p[b + 2] * p[c]) +
      p[a + 2] * (p[b] * p[c + 1] - p[b + 1] * p[c]);
  }
  return v / 6;
}
