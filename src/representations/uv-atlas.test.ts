import assert from 'node:assert/strict';
import { test } from 'node:test';
import { icosphere } from '../../test/helpers/shapes.ts';
import { unwrapUv } from './uv-atlas.ts';

/** Texels of a size x size grid whose centres fall strictly inside each UV triangle; counts overlaps. */
function uvCoverage(
  uvs: Float32Array,
  faces: Uint32Array,
  size: number,
): { covered: number; overlapped: number } {
  const hits = new Uint8Array(size * size);
  for (let f = 0; f < faces.length; f += 3) {
    const p = [0, 1, 2].map((j) => [
      uvs[faces[f + j] * 2] * size - 0.5,
      uvs[faces[f + j] * 2 + 1] * size - 0.5,
    ]);
    const area = (p[1][0] - p[0][0]) * (p[2][1] - p[0][1]) - (p[2][0] - p[0][0]) * (p[1][1] - p[0][1]);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const w0 = ((p[1][0] - x) * (p[2][1] - y) - (p[2][0] - x) * (p[1][1] - y)) / area;
        const w1 = ((p[2][0] - x) * (p[0][1] - y) - (p[0][0] - x) * (p[2][1] - y)) / area;
        if (w0 > 0 && w1 > 0 && w0 + w1 < 1) hits[y * size + x]++;
      }
    }
  }
  let covered = 0;
  let overlapped = 0;
  for (const h of hits) {
    if (h > 0) covered++;
    if (h > 1) overlapped++;
  }
  return { covered, overlapped };
}

test('unwrapUv (xatlas): same triangles over seam-split vertices, UVs in [0, 1], charts do not overlap', async () => {
  const sphere = icosphere(0.3, 2); // 320 triangles, 162 vertices
  for (const maxVerticesPerMesh of [65535, 60]) {
    const out = await unwrapUv(sphere, { resolution: 128, padding: 2, maxVerticesPerMesh });
    const nv = out.vertices.length / 3;
    assert.equal(out.faces.length, sphere.faces.length);
    assert.ok(nv >= 162, 'seams only add vertices');
    for (let v = 0; v < nv; v++) {
      const s = out.sourceVertex[v];
      assert.deepEqual(
        [...out.vertices.subarray(v * 3, v * 3 + 3)],
        [...sphere.vertices.subarray(s * 3, s * 3 + 3)],
      );
      for (const u of out.uvs.subarray(v * 2, v * 2 + 2)) assert.ok(u >= 0 && u <= 1, `uv ${u} in [0, 1]`);
    }
    // The same set of triangles (as source-vertex triples, any rotation of the corners, same winding).
    const key = (a: number, b: number, c: number): string => {
      const r = [a, b, c];
      const i = r.indexOf(Math.min(a, b, c));
      return `${r[i]},${r[(i + 1) % 3]},${r[(i + 2) % 3]}`;
    };
    const want = new Set<string>();
    for (let f = 0; f < sphere.faces.length; f += 3)
      want.add(key(sphere.faces[f], sphere.faces[f + 1], sphere.faces[f + 2]));
    for (let f = 0; f < out.faces.length; f += 3) {
      const k = key(
        out.sourceVertex[out.faces[f]],
        out.sourceVertex[out.faces[f + 1]],
        out.sourceVertex[out.faces[f + 2]],
      );
      assert.ok(want.delete(k), `output triangle ${f / 3} (${k}) is an input triangle, once`);
    }
    assert.equal(want.size, 0);
    // A usable atlas: charts cover a good part of the texture and do not overlap (a texel centre strictly
    // inside two triangles would get two colours).
    const { covered, overlapped } = uvCoverage(out.uvs, out.faces, 128);
    assert.equal(overlapped, 0, `${overlapped} texels inside two triangles (split ${maxVerticesPerMesh})`);
    assert.ok(covered > 0.3 * 128 * 128, `charts cover ${covered} of ${128 * 128} texels`);
  }
});

test('unwrapUv: bad input is refused with a reason', async () => {
  const sphere = icosphere(0.3, 0);
  await assert.rejects(unwrapUv({ vertices: sphere.vertices, faces: new Uint32Array(0) }), /no triangles/);
  await assert.rejects(unwrapUv(sphere, { resolution: 4 }), /resolution must be an integer >= 8/);
  await assert.rejects(unwrapUv(sphere, { maxVerticesPerMesh: 70000 }), /maxVerticesPerMesh must be/);
});
