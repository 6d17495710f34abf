/**
 * Procedural meshes of a requested size for benchmarks and tests: a closed torus with a bumpy surface (so views
 * see self-occlusion), one edge-connected component, `2 * nu * nv` triangles on a (nu x nv) grid with wrapped
 * seams. Built directly into typed arrays (1M faces in ~0.1 s), normalised to the unit cube like loaded meshes.
 */

import { finishMesh, type LoadedMesh } from './mesh-io.ts';

/** Ratio of the major grid side to the minor one (the tube is thinner than the ring). */
const TORUS_ASPECT = 3;
const MAJOR_RADIUS = 1;
const MINOR_RADIUS = 0.35;
/** Relative height and frequencies of the surface bumps. */
const BUMP = 0.15;
const BUMP_U = 7;
const BUMP_V = 5;

/**
 * A bumpy torus with about `faces` triangles (exactly `2 * nu * nv`, `nu = 3 nv`), normalised to the unit cube.
 * @example
 * const { mesh } = bumpyTorus(100_000); // 100,368 faces
 */
export function bumpyTorus(faces: number): LoadedMesh {
  if (!Number.isFinite(faces) || faces < 18)
    throw new Error(`bumpyTorus: need at least 18 faces, got ${faces}`);
  const nv = Math.max(3, Math.round(Math.sqrt(faces / (2 * TORUS_ASPECT))));
  const nu = Math.max(3, Math.round(faces / (2 * nv)));
  const positions = new Float32Array(nu * nv * 3);
  for (let i = 0; i < nu; i++) {
    const u = (i / nu) * 2 * Math.PI;
    for (let j = 0; j < nv; j++) {
      const v = (j / nv) * 2 * Math.PI;
      const r = MINOR_RADIUS * (1 + BUMP * Math.sin(BUMP_U * u) * Math.cos(BUMP_V * v));
      const o = (i * nv + j) * 3;
      positions[o] = (MAJOR_RADIUS + r * Math.cos(v)) * Math.cos(u);
      positions[o + 1] = (MAJOR_RADIUS + r * Math.cos(v)) * Math.sin(u);
      positions[o + 2] = r * Math.sin(v);
    }
  }
  const f = new Uint32Array(nu * nv * 6);
  let w = 0;
  for (let i = 0; i < nu; i++) {
    const i1 = (i + 1) % nu;
    for (let j = 0; j < nv; j++) {
      const j1 = (j + 1) % nv;
      const a = i * nv + j;
      const b = i1 * nv + j;
      const c = i1 * nv + j1;
      const d = i * nv + j1;
      f[w++] = a;
      f[w++] = b;
      f[w++] = c;
      f[w++] = a;
      f[w++] = c;
      f[w++] = d;
    }
  }
  return finishMesh(`bumpyTorus(${faces})`, { positions, faces: f });
}
