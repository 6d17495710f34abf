import assert from 'node:assert/strict';
import { test } from 'node:test';
import { icosphere, meshVolume } from '../../test/helpers/shapes.ts';
import { simplifyMesh } from './simplify.ts';

test('simplifyMesh: removes the asked share of triangles, keeps the shape, vertices and their attrs', async () => {
  const sphere = icosphere(0.3, 3); // 1280 triangles, 642 vertices
  const nv = sphere.vertices.length / 3;
  const attrs = new Float32Array(nv * 6);
  for (let v = 0; v < nv; v++) attrs[v * 6] = sphere.vertices[v * 3] > 0 ? 1 : 0; // red on the +x half
  const mesh = { ...sphere, vertexAttrs: attrs };
  const { mesh: out, facesBefore, facesAfter, error } = await simplifyMesh(mesh, { ratio: 0.9 });
  assert.equal(facesBefore, 1280);
  assert.equal(facesAfter, out.faces.length / 3);
  assert.ok(facesAfter <= 128 && facesAfter >= 64, `~10% of the triangles kept (${facesAfter})`);
  assert.ok(error > 0 && error < 0.2, `relative error ${error}`);
  // meshoptimizer collapses edges onto existing vertices: every kept vertex is an input vertex, with its attrs.
  const byPos = new Map<string, number>();
  for (let v = 0; v < nv; v++) byPos.set(`${sphere.vertices.subarray(v * 3, v * 3 + 3)}`, v);
  for (let v = 0; v < out.vertices.length / 3; v++) {
    const src = byPos.get(`${out.vertices.subarray(v * 3, v * 3 + 3)}`);
    assert.ok(src !== undefined, `vertex ${v} is an input vertex`);
    assert.deepEqual(
      [...(out.vertexAttrs?.subarray(v * 6, v * 6 + 6) ?? [])],
      [...attrs.subarray(src * 6, src * 6 + 6)],
    );
  }
  // Shape: a 128-triangle inscribed polyhedron keeps most of the sphere's volume (the icosahedron, 20
  // triangles, keeps 61%; the 1280-triangle input 98.7%).
  const v0 = meshVolume(sphere);
  const v1 = meshVolume(out);
  assert.ok(v1 > 0.85 * v0 && v1 <= v0 * 1.0001, `volume ${v1} vs ${v0}`);
});

test('simplifyMesh: targetFaces, ratio 0 keeps the mesh, bad options are named', async () => {
  const sphere = icosphere(0.3, 2); // 320 triangles
  const { facesAfter } = await simplifyMesh(sphere, { targetFaces: 100 });
  assert.ok(facesAfter <= 100 && facesAfter >= 50, `${facesAfter}`);
  const same = await simplifyMesh(sphere, { ratio: 0 });
  assert.equal(same.facesAfter, 320);
  assert.deepEqual([...same.mesh.faces], [...sphere.faces]);
  await assert.rejects(simplifyMesh(sphere, { ratio: 1 }), /ratio must be in \[0, 1\)/);
  await assert.rejects(simplifyMesh(sphere, { targetFaces: 0 }), /targetFaces must be a positive integer/);
  await assert.rejects(simplifyMesh(sphere, { maxError: 0 }), /maxError must be > 0/);
  // A tight error bound stops early: the sphere cannot lose 95% within 0.1% of its size.
  const bounded = await simplifyMesh(sphere, { ratio: 0.95, maxError: 1e-3 });
  assert.ok(bounded.facesAfter > 16, `${bounded.facesAfter}`);
});
