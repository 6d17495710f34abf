import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { WebIO } from '@gltf-transform/core';
import { validateGlb } from '../../test/helpers/gltf.ts';
import { readMesh } from '../data/mesh-io.ts';
import { extractMesh, FLEXICUBES_CHANNELS } from './flexicubes.ts';
import {
  compactMesh,
  type Mesh,
  meshToGlb,
  meshToPly,
  texturedMeshToGlb,
  weldVertices,
  writeMeshGlb,
  writeMeshPly,
  zUpToYUp,
} from './mesh.ts';

/** A tetrahedron (outward winding) with colours that leave [0, 1] (clamping is tested) plus an unused vertex. */
function tetra(): Mesh {
  return {
    vertices: new Float32Array([0, 0, 0, 0.4, 0, 0, 0, 0.3, 0, 0, 0, 0.2, 9, 9, 9]),
    faces: new Uint32Array([0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3]),
    vertexAttrs: new Float32Array([
      0.1, 0.2, 0.3, 0, 0, 0, 1.5, -0.5, 0.5, 0, 0, 0, 0.25, 0.5, 0.75, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0,
      0, 0,
    ]),
  };
}

test('zUpToYUp is v @ [[1,0,0],[0,0,-1],[0,1,0]]: (x, y, z) -> (x, z, -y)', () => {
  assert.deepEqual([...zUpToYUp(new Float32Array([1, 2, 3, -4, 5, 0.5]))], [1, 3, -2, -4, 0.5, -5]);
});

/** Parses a GLB back into its JSON and BIN chunks, checking the container rules of glTF 2.0. */
function parseGlb(bytes: Uint8Array): { json: Record<string, unknown>; bin: Uint8Array } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.equal(dv.getUint32(0, true), 0x46546c67, 'magic glTF');
  assert.equal(dv.getUint32(4, true), 2, 'version 2');
  assert.equal(dv.getUint32(8, true), bytes.byteLength, 'total length');
  const jsonLen = dv.getUint32(12, true);
  assert.equal(dv.getUint32(16, true), 0x4e4f534a, 'JSON chunk type');
  assert.equal(jsonLen % 4, 0, 'JSON chunk 4-byte aligned');
  const json = JSON.parse(new TextDecoder().decode(bytes.subarray(20, 20 + jsonLen)));
  const b = 20 + jsonLen;
  const binLen = dv.getUint32(b, true);
  assert.equal(dv.getUint32(b + 4, true), 0x004e4942, 'BIN chunk type');
  assert.equal(binLen % 4, 0, 'BIN chunk 4-byte aligned');
  assert.equal(b + 8 + binLen, bytes.byteLength, 'nothing after the BIN chunk');
  return { json, bin: bytes.slice(b + 8, b + 8 + binLen) };
}

/** The first primitive's attribute arrays and indices, read back with gltf-transform. */
async function readPrimitive(bytes: Uint8Array): Promise<{
  attrs: Record<string, Float32Array | Uint32Array>;
  indices: Uint32Array;
  material: Record<string, unknown>;
}> {
  const doc = await new WebIO().readBinary(bytes);
  const prim = doc.getRoot().listMeshes()[0].listPrimitives()[0];
  const attrs: Record<string, Float32Array | Uint32Array> = {};
  for (const name of prim.listSemantics()) attrs[name] = prim.getAttribute(name)?.getArray() as Float32Array;
  const mat = prim.getMaterial();
  return {
    attrs,
    indices: Uint32Array.from(prim.getIndices()?.getArray() ?? []),
    material: {
      alphaMode: mat?.getAlphaMode(),
      metallic: mat?.getMetallicFactor(),
      roughness: mat?.getRoughnessFactor(),
      texture: mat?.getBaseColorTexture()?.getMimeType() ?? null,
    },
  };
}

test('meshToGlb: valid glTF (Khronos validator); Y-up positions, uint32 indices, clamped COLOR_0, unit normals', async () => {
  const m = compactMesh(tetra());
  const bytes = await meshToGlb(m);
  parseGlb(bytes);
  const report = await validateGlb(bytes);
  assert.equal(report.errors, 0, report.text);
  assert.equal(report.warnings, 0, report.text);
  const { attrs, indices, material } = await readPrimitive(bytes);
  assert.deepEqual([...attrs.POSITION], [...zUpToYUp(m.vertices)]);
  assert.deepEqual([...indices], [...m.faces]);
  assert.deepEqual([...attrs.COLOR_0.subarray(0, 6)], [...new Float32Array([0.1, 0.2, 0.3, 1, 0, 0.5])]);
  const nrm = attrs.NORMAL;
  for (let v = 0; v < nrm.length / 3; v++) {
    assert.ok(Math.abs(Math.hypot(nrm[v * 3], nrm[v * 3 + 1], nrm[v * 3 + 2]) - 1) < 1e-6, 'unit normal');
  }
  // Vertex 0 is the corner of the three axis-plane faces (outward normals -z, -y, -x Z-up, areas 0.06, 0.04,
  // 0.03): the area-weighted normal is (-0.03, -0.04, -0.06) normalised, (-0.03, -0.06, 0.04) after Y-up.
  const l = Math.hypot(0.03, 0.06, 0.04);
  for (const [j, want] of [-0.03 / l, -0.06 / l, 0.04 / l].entries())
    assert.ok(Math.abs(nrm[j] - want) < 1e-6);
  assert.deepEqual(material, { alphaMode: 'OPAQUE', metallic: 0, roughness: 1, texture: null });
  // Z-up kept when asked; no colour and no normals when asked
  const raw = await readPrimitive(await meshToGlb(m, { yUp: false, vertexColors: false, normals: false }));
  assert.deepEqual(Object.keys(raw.attrs), ['POSITION']);
  assert.deepEqual([...raw.attrs.POSITION], [...m.vertices]);
});

test('texturedMeshToGlb: TEXCOORD_0 + embedded PNG base colour, OPAQUE; passes the validator', async () => {
  const m = compactMesh(tetra());
  const uvs = new Float32Array([0, 0, 1, 0, 0, 1, 1, 1]);
  // 2x2 RGB PNG made by sharp (any valid PNG will do for the container test).
  const sharp = (await import('sharp')).default;
  const png = new Uint8Array(
    await sharp(Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]), {
      raw: { width: 2, height: 2, channels: 3 },
    })
      .png()
      .toBuffer(),
  );
  const bytes = await texturedMeshToGlb({ ...m, uvs }, { image: png, mimeType: 'image/png' });
  const report = await validateGlb(bytes);
  assert.equal(report.errors, 0, report.text);
  const { attrs, material } = await readPrimitive(bytes);
  assert.deepEqual([...attrs.TEXCOORD_0], [...uvs]);
  assert.equal(attrs.COLOR_0, undefined, 'the texture replaces vertex colours');
  assert.deepEqual(material, { alphaMode: 'OPAQUE', metallic: 0, roughness: 1, texture: 'image/png' });
  await assert.rejects(
    texturedMeshToGlb({ ...m, uvs: new Float32Array(3) }, { image: png, mimeType: 'image/png' }),
    /uvs \[3\] is not \[V\*2\]/,
  );
});

test('meshToGlb refuses empty meshes and out-of-range indices (named sizes)', async () => {
  await assert.rejects(meshToGlb({ vertices: new Float32Array(0), faces: new Uint32Array(0) }), /empty mesh/);
  await assert.rejects(
    meshToGlb({ vertices: new Float32Array(6), faces: new Uint32Array([0, 1, 2]) }),
    /uses vertex 2 but V = 2/,
  );
  await assert.rejects(
    meshToGlb({ ...tetra(), vertexAttrs: new Float32Array(7) }),
    /vertexAttrs \[7\] is not \[V\*6\] for V = 5/,
  );
  await assert.rejects(
    meshToGlb({
      vertices: new Float32Array([0, 0, 0, 1, 0, 0, Number.NaN, 1, 0]),
      faces: new Uint32Array([0, 1, 2]),
    }),
    /vertex 2 has a non-finite coordinate/,
  );
});

test('writeMeshPly / writeMeshGlb write atomically; the PLY reads back through src/data/mesh-io', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mesh-test-'));
  try {
    const m = tetra();
    await writeMeshPly(join(dir, 'mesh.ply'), m);
    await writeMeshGlb(join(dir, 'mesh.glb'), m);
    assert.deepEqual((await readdir(dir)).sort(), ['mesh.glb', 'mesh.ply'], 'no temporary files left');
    const back = await readMesh(join(dir, 'mesh.ply'), { up: 'z', normalize: false });
    assert.deepEqual([...back.mesh.positions], [...m.vertices]);
    assert.deepEqual([...back.mesh.faces], [...m.faces]);
    const bytes = await readFile(join(dir, 'mesh.ply'));
    const text = bytes.subarray(0, 400).toString('latin1');
    const hdr = text.indexOf('end_header\n') + 'end_header\n'.length;
    assert.ok(text.startsWith('ply\nformat binary_little_endian 1.0\n'));
    // vertex 1 colour (1.5, -0.5, 0.5) -> clamped (255, 0, 128), alpha 255
    assert.deepEqual([...bytes.subarray(hdr + 16 + 12, hdr + 16 + 16)], [255, 0, 128, 255]);
    assert.equal(bytes.byteLength, hdr + 5 * 16 + 4 * 13);
    assert.deepEqual(await readFile(join(dir, 'mesh.glb')), Buffer.from(await meshToGlb(m)));
    // geometry-only layout (what the official trimesh export produces for 6-channel attrs)
    await writeMeshPly(join(dir, 'plain.ply'), m, { colors: false });
    const plain = await readFile(join(dir, 'plain.ply'));
    const ph = plain.indexOf('end_header\n') + 'end_header\n'.length;
    assert.ok(!plain.subarray(0, ph).toString('latin1').includes('red'));
    assert.equal(plain.byteLength, ph + 5 * 12 + 4 * 13);
    const back2 = await readMesh(join(dir, 'plain.ply'), { up: 'z', normalize: false });
    assert.deepEqual([...back2.mesh.positions], [...m.vertices]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('compactMesh drops unused vertices and degenerate faces; weldVertices merges coincident ones', () => {
  const m = tetra();
  const c = compactMesh({ ...m, faces: new Uint32Array([...m.faces, 1, 1, 2]) });
  assert.equal(c.vertices.length, 12);
  assert.deepEqual([...c.faces], [...m.faces]);
  assert.deepEqual([...(c.vertexAttrs ?? [])], [...m.vertexAttrs!.subarray(0, 24)]);
  // two copies of the tetrahedron's vertex 3 -> welded back to the original 4 vertices
  const dup: Mesh = {
    vertices: new Float32Array([...m.vertices.subarray(0, 12), 0, 0, 0.2]),
    faces: new Uint32Array([0, 2, 1, 0, 1, 4, 0, 3, 2, 1, 2, 3]),
  };
  const w = weldVertices(dup);
  assert.equal(w.vertices.length, 12);
  assert.deepEqual([...w.faces], [...m.faces]);
  assert.equal(meshToPly(w).byteLength > 0, true);
});

test('extractMesh output goes straight into compactMesh / meshToGlb / meshToPly', async () => {
  const feats = new Float32Array(2 * FLEXICUBES_CHANNELS);
  feats.fill(-0.3, 0, 8);
  feats.fill(-0.3, FLEXICUBES_CHANNELS, FLEXICUBES_CHANNELS + 8);
  feats.fill(2, FLEXICUBES_CHANNELS + 53, FLEXICUBES_CHANNELS + 101); // second voxel's colours: sigmoid(2)
  const ex = extractMesh(new Int32Array([0, 1, 1, 1, 0, 2, 1, 1]), feats, { resolution: 4 });
  const m = compactMesh(ex);
  assert.equal(m.vertices.length, ex.vertices.length, 'a closed FlexiCubes blob uses every dual vertex');
  const glb = await meshToGlb(m);
  assert.equal((await validateGlb(glb)).errors, 0);
  const { attrs, indices } = await readPrimitive(glb);
  assert.equal(attrs.POSITION.length, m.vertices.length);
  assert.equal(indices.length, m.faces.length);
  const ply = meshToPly(m);
  assert.ok(new TextDecoder().decode(ply.subarray(0, 400)).includes(`element face ${m.faces.length / 3}`));
});
