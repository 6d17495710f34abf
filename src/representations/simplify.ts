/**
 * Mesh simplification for the GLB export with meshoptimizer's quadric simplifier (wasm, `meshoptimizer` npm).
 *
 * The official `to_glb` calls `postprocess_mesh(simplify_ratio=0.95)`, i.e. pyvista/VTK `decimate(0.95)`: remove
 * 95% of the triangles by quadric edge collapse, whatever the error. `ratio` has that meaning here (the fraction
 * REMOVED), `targetFaces` asks for a count instead, and `maxError` (relative to the mesh extent, meshoptimizer's
 * `target_error`) defaults to 1, i.e. no error bound, so the triangle target is what stops it, as in the official
 * code. meshoptimizer keeps vertex positions (it picks collapses, it does not move vertices) and preserves
 * borders and attribute seams; when the mesh has vertex colours, their RGB enters the error metric
 * (`simplifyWithAttributes`) so colour edges survive in the vertex-colour GLB.
 *
 * Alternatives: pyvista's VTK decimation is what the official code uses (no JS build); gltf-transform's
 * `simplify()` wraps the same meshoptimizer call but works on a glTF document, so it would force a document
 * round trip before the UV atlas. The official post-processing also fills small holes and removes faces
 * invisible from 1000 rasterised views (`_fill_holes`, nvdiffrast): not done here.
 */

import { MeshoptSimplifier } from 'meshoptimizer';
import { compactMesh, type Mesh, validateMesh } from './mesh.ts';

/** Options of {@link simplifyMesh}. */
export interface SimplifyOptions {
  /** Fraction of triangles to remove, in [0, 1) (the official `simplify=0.95`). Ignored when `targetFaces` is set. */
  ratio?: number;
  /** Target triangle count (overrides `ratio`); the result has at most this many when the simplifier can get there. */
  targetFaces?: number | null;
  /** Largest error allowed, relative to the mesh extent (meshoptimizer `target_error`; 1 = unbounded). */
  maxError?: number;
  /** Weight of the vertex RGB (first three attrs) in the error metric; 0 ignores colours. */
  colorWeight?: number;
  /** Remove small disconnected pieces that fall under the error (meshoptimizer `Prune`). */
  prune?: boolean;
}

export const SIMPLIFY_DEFAULTS: Required<SimplifyOptions> = {
  ratio: 0.95,
  targetFaces: null,
  maxError: 1,
  colorWeight: 0.5,
  prune: false,
};

/** What {@link simplifyMesh} returns. */
export interface SimplifyResult {
  mesh: Mesh;
  /** Triangles before and after. */
  facesBefore: number;
  facesAfter: number;
  /** meshoptimizer's resulting error, relative to the mesh extent. */
  error: number;
}

/**
 * Simplifies a triangle mesh to a fraction or count of its triangles (quadric edge collapse), then drops unused
 * vertices. Attributes of the kept vertices are carried over unchanged.
 * @example
 * const { mesh: small } = await simplifyMesh(mesh);                       // remove 95% like the official to_glb
 * const { mesh: lod } = await simplifyMesh(mesh, { targetFaces: 20000 });
 */
export async function simplifyMesh(mesh: Mesh, options: SimplifyOptions = {}): Promise<SimplifyResult> {
  const o = { ...SIMPLIFY_DEFAULTS, ...options };
  validateMesh(mesh);
  const facesBefore = mesh.faces.length / 3;
  if (!(o.ratio >= 0 && o.ratio < 1))
    throw new Error(`simplifyMesh: ratio must be in [0, 1), got ${o.ratio}`);
  if (o.targetFaces !== null && !(Number.isInteger(o.targetFaces) && o.targetFaces > 0)) {
    throw new Error(`simplifyMesh: targetFaces must be a positive integer, got ${o.targetFaces}`);
  }
  if (!(o.maxError > 0)) throw new Error(`simplifyMesh: maxError must be > 0, got ${o.maxError}`);
  const target = o.targetFaces ?? Math.max(1, Math.round(facesBefore * (1 - o.ratio)));
  if (target >= facesBefore || facesBefore === 0) {
    return { mesh: compactMesh(mesh), facesBefore, facesAfter: facesBefore, error: 0 };
  }
  await MeshoptSimplifier.ready;
  const flags: ('Prune' | 'ErrorAbsolute')[] = o.prune ? ['Prune'] : [];
  const c = mesh.vertexAttrs ? (mesh.attrChannels ?? 6) : 0;
  let indices: Uint32Array;
  let error: number;
  if (mesh.vertexAttrs && c >= 3 && o.colorWeight > 0) {
    const nv = mesh.vertices.length / 3;
    const rgb = new Float32Array(nv * 3);
    for (let v = 0; v < nv; v++) for (let j = 0; j < 3; j++) rgb[v * 3 + j] = mesh.vertexAttrs[v * c + j];
    [indices, error] = MeshoptSimplifier.simplifyWithAttributes(
      mesh.faces,
      mesh.vertices,
      3,
      rgb,
      3,
      [o.colorWeight, o.colorWeight, o.colorWeight],
      null,
      target * 3,
      o.maxError,
      flags,
    );
  } else {
    [indices, error] = MeshoptSimplifier.simplify(
      mesh.faces,
      mesh.vertices,
      3,
      target * 3,
      o.maxError,
      flags,
    );
  }
  const out = compactMesh({ ...mesh, faces: indices });
  return { mesh: out, facesBefore, facesAfter: out.faces.length / 3, error };
}
