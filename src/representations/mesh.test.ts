import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readMesh } from '../data/mesh-io.ts';
import { extractMesh, FLEXICUBES_CHANNELS } from './flexicubes.ts';
import {
  compactMesh,
  type Mesh,
  meshToGlb,
  meshToPly,
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

interface Accessor {
  bufferView: number;
  componentType: number;
  count: number;
  type: string;
  min?: number[];
  max?: number[];
}
interface BufferView {
  byteOffset: number;
  byteLength: number;
}

test('meshToGlb: positions Y-up with min/max, uint32 indices, clamped float COLOR_0; all views aligned', () => {
  const m = tetra();
  const { json, bin } = parseGlb(meshToGlb(m));
  const accessors = json.accessors as Accessor[];
  const views = json.bufferViews as BufferView[];
  const prim = (json.meshes as { primitives: { attributes: Record<string, number>; indices: number }[] }[])[0]
    .primitives[0];
  assert.equal((json.buffers as { byteLength: number }[])[0].byteLength, bin.byteLength);
  for (const v of views) assert.equal(v.byteOffset % 4, 0, 'bufferView offset aligned');
  const read = (a: Accessor, n: number): Float32Array | Uint32Array => {
    const v = views[a.bufferView];
    assert.equal(v.byteLength, a.count * n * 4);
    const raw = bin.slice(v.byteOffset, v.byteOffset + v.byteLength).buffer;
    return a.componentType === 5126 ? new Float32Array(raw) : new Uint32Array(raw);
  };
  const pa = accessors[prim.attributes.POSITION];
  assert.equal(pa.count, 5);
  assert.deepEqual([...read(pa, 3)], [...zUpToYUp(m.vertices)]);
  assert.deepEqual(pa.min, [0, 0, -9]);
  assert.deepEqual(pa.max, [9, 9, 0]);
  const ia = accessors[prim.indices];
  assert.equal(ia.componentType, 5125);
  assert.deepEqual([...read(ia, 1)], [...m.faces]);
  const ca = accessors[prim.attributes.COLOR_0];
  assert.equal(ca.type, 'VEC3');
  const col = read(ca, 3);
  assert.deepEqual([...col.subarray(0, 6)], [...new Float32Array([0.1, 0.2, 0.3, 1, 0, 0.5])]);
  // Z-up kept when asked; no colour when asked
  const raw = parseGlb(meshToGlb(m, { yUp: false, vertexColors: false })).json;
  assert.equal((raw.accessors as Accessor[]).length, 2);
  assert.deepEqual((raw.accessors as Accessor[])[0].max, [9, 9, 9]);
});

test('meshToGlb refuses empty meshes and out-of-range indices (named sizes)', () => {
  assert.throws(() => meshToGlb({ vertices: new Float32Array(0), faces: new Uint32Array(0) }), /empty mesh/);
  assert.throws(
    () => meshToGlb({ vertices: new Float32Array(6), faces: new Uint32Array([0, 1, 2]) }),
    /uses vertex 2 but V = 2/,
  );
  assert.throws(
    () => meshToGlb({ ...tetra(), vertexAttrs: new Float32Array(7) }),
    /vertexAttrs \[7\] is not \[V\*6\] for V = 5/,
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
    assert.deepEqual(await readFile(join(dir, 'mesh.glb')), Buffer.from(meshToGlb(m)));
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

test('extractMesh output goes straight into compactMesh / meshToGlb / meshToPly', () => {
  const feats = new Float32Array(2 * FLEXICUBES_CHANNELS);
  feats.fill(-0.3, 0, 8);
  feats.fill(-0.3, FLEXICUBES_CHANNELS, FLEXICUBES_CHANNELS + 8);
  feats.fill(2, FLEXICUBES_CHANNELS + 53, FLEXICUBES_CHANNELS + 101); // second voxel's colours: sigmoid(2)
  const ex = extractMesh(new Int32Array([0, 1, 1, 1, 0, 2, 1, 1]), feats, { resolution: 4 });
  const m = compactMesh(ex);
  assert.equal(m.vertices.length, ex.vertices.length, 'a closed FlexiCubes blob uses every dual vertex');
  const { json } = parseGlb(meshToGlb(m));
  const acc = json.accessors as Accessor[];
  assert.equal(acc[0].count, m.vertices.length / 3);
  assert.equal(acc[1].count, m.faces.length);
  const ply = meshToPly(m);
  assert.ok(new TextDecoder().decode(ply.subarray(0, 400)).includes(`element face ${m.faces.length / 3}`));
});
