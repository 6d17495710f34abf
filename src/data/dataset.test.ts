/**
 * Dataset writer: layout and metadata of a 2-object dataset, resume (skips finished objects, redoes a torn one),
 * byte-identical files for the same seed with 1 and 2 workers, bad meshes recorded without half-written files,
 * refused option changes. Small renders (3 views at 48^2, CPU twin) keep it at a few seconds.
 */

import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { viewFileNames } from '../../test/helpers/views.ts';
import { runDataset } from '../cli/dataset.ts';
import { collectMeshes, DatasetError, objectSeed, writeDataset } from './dataset.ts';
import { parsePly, readMesh, writePlyBinary } from './mesh-io.ts';
import { voxelizeMesh, voxelPly } from './voxelize.ts';

const ASSETS = fileURLToPath(new URL('../../assets/meshes/', import.meta.url));
const SMALL = { views: 3, resolution: 48, cpu: true } as const;

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(relative(dir, p));
    }
  };
  await walk(dir);
  return out.sort();
}

async function assertSameFiles(a: string, b: string): Promise<void> {
  const fa = await listFiles(a);
  assert.deepEqual(fa, await listFiles(b));
  for (const f of fa)
    assert.ok((await readFile(join(a, f))).equals(await readFile(join(b, f))), `${f} differs`);
}

test('dataset: layout, metadata, voxels; resume skips; same seed => identical bytes with 1 or 2 workers', async () => {
  const root = await mkdtemp(join(tmpdir(), 'dataset-'));
  try {
    const meshes = join(root, 'meshes');
    await mkdir(join(meshes, 'sub'), { recursive: true });
    await copyFile(join(ASSETS, 'chair.ply'), join(meshes, 'chair.ply'));
    await copyFile(join(ASSETS, 'mug.ply'), join(meshes, 'sub', 'mug.ply'));
    await writeFile(join(meshes, 'notes.txt'), 'not a mesh');
    const a = join(root, 'a');
    const progress: number[] = [];
    const s = await writeDataset([meshes], a, {
      ...SMALL,
      seed: 7,
      onProgress: (e) => progress.push(e.done),
    });
    assert.equal(s.total, 2);
    assert.equal(s.written, 2);
    assert.deepEqual(s.failed, []);
    assert.deepEqual(progress, [0, 1, 2]);
    const jobs = await collectMeshes([meshes]);
    assert.deepEqual(jobs.map((j) => j.fileIdentifier).sort(), ['chair.ply', 'sub/mug.ply']);
    for (const j of jobs) {
      const dir = join(a, 'renders', j.sha256);
      const files = (await readdir(dir)).sort();
      assert.deepEqual(files, viewFileNames(3, 'mesh.ply', 'transforms.json'));
      const tj = JSON.parse(await readFile(join(dir, 'transforms.json'), 'utf8'));
      assert.equal(tj.frames.length, 3);
      assert.equal(tj.occlusion.seed, objectSeed(7, j.sha256));
      // The voxel file is TRELLIS' voxelisation of the normalised mesh (voxelize.test.ts checks it against Open3D).
      const loaded = await readMesh(j.path);
      const vox = await readFile(join(a, 'voxels', `${j.sha256}.ply`));
      assert.ok(vox.equals(voxelPly(voxelizeMesh(loaded.mesh))));
      // mesh.ply is the normalised mesh.
      const m = parsePly(await readFile(join(dir, 'mesh.ply')));
      assert.deepEqual(m.positions, loaded.mesh.positions);
    }
    const csv = (await readFile(join(a, 'metadata.csv'), 'utf8')).trim().split('\n');
    assert.equal(csv.length, 3);
    assert.match(csv[0]!, /^sha256,file_identifier,num_vertices,num_faces,.*,num_voxels$/);
    const sorted = jobs.map((j) => j.sha256).sort();
    assert.deepEqual(
      csv.slice(1).map((l) => l.split(',')[0]),
      sorted,
    );
    const meta = JSON.parse(await readFile(join(a, 'metadata.json'), 'utf8'));
    assert.equal(meta.params.views, 3);
    assert.equal(meta.objects.length, 2);
    assert.equal(JSON.stringify(meta).includes(root), false, 'no absolute paths');
    // Nothing left over.
    assert.deepEqual((await readdir(a)).sort(), [
      'dataset.json',
      'manifest.jsonl',
      'metadata.csv',
      'metadata.json',
      'renders',
      'voxels',
    ]);

    // Re-run: both skipped, files untouched.
    const mtime = (await stat(join(a, 'renders', sorted[0]!, '000.png'))).mtimeMs;
    const again = await writeDataset([meshes], a, { ...SMALL, seed: 7 });
    assert.equal(again.skipped, 2);
    assert.equal(again.written, 0);
    assert.equal((await stat(join(a, 'renders', sorted[0]!, '000.png'))).mtimeMs, mtime);

    // A crash after the renders were renamed but before the manifest line: that object is redone, the other not.
    const manifest = (await readFile(join(a, 'manifest.jsonl'), 'utf8')).split('\n');
    await writeFile(join(a, 'manifest.jsonl'), `${manifest[0]}\n{"sha256": "torn`);
    await mkdir(join(a, '.partial', 'junk'), { recursive: true });
    const resumed = await writeDataset([meshes], a, { ...SMALL, seed: 7 });
    assert.equal(resumed.skipped, 1);
    assert.equal(resumed.written, 1);

    // Same seed, 2 worker processes, another folder: byte-identical.
    const b = join(root, 'b');
    const r = await runDataset(
      {
        meshes: [meshes],
        out: b,
        views: '3',
        resolution: '48',
        seed: '7',
        workers: '2',
        cpu: true,
        quiet: true,
      },
      () => {},
    );
    assert.ok(r.ok, r.lines.join('\n'));
    await assertSameFiles(a, b);

    // Another seed changes the masks.
    const c = join(root, 'c');
    await writeDataset([meshes], c, { ...SMALL, seed: 8 });
    const first = join('renders', sorted[0]!, '000_mask.png');
    assert.equal((await readFile(join(a, first))).equals(await readFile(join(c, first))), false);

    // Options pinned by dataset.json.
    await assert.rejects(
      writeDataset([meshes], a, { ...SMALL, seed: 7, views: 4 }),
      /was written with .*"views":3/,
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('dataset: bad meshes are reported and leave nothing; argument errors', async () => {
  const root = await mkdtemp(join(tmpdir(), 'dataset-bad-'));
  try {
    const meshes = join(root, 'meshes');
    await mkdir(meshes);
    await copyFile(join(ASSETS, 'chair.ply'), join(meshes, 'chair.ply'));
    await writeFile(
      join(meshes, 'points.ply'),
      writePlyBinary({ positions: new Float32Array(9), faces: new Uint32Array(0) }),
    );
    await writeFile(join(meshes, 'flat.obj'), 'v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n');
    await copyFile(join(ASSETS, 'toy.ply'), join(meshes, 'big.ply')); // 896 faces, above maxFaces
    // Non-manifold (three faces on one edge), a duplicated face and a degenerate one: usable, with a warning.
    await writeFile(
      join(meshes, 'fan.obj'),
      'v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nv 0 -1 0\nv 1 1 1\nf 1 2 3\nf 1 2 4\nf 2 1 5\nf 1 2 3\nf 1 1 6\n',
    );
    const out = join(root, 'out');
    const warnings: string[] = [];
    const s = await writeDataset([meshes], out, {
      ...SMALL,
      maxFaces: 600,
      onWarning: (l) => warnings.push(l),
    });
    assert.equal(s.written, 2);
    assert.equal(s.failed.length, 3);
    assert.match(warnings.join('\n'), /fan\.obj: dropped 1 degenerate face/);
    const text = warnings.join('\n');
    assert.match(text, /points\.ply: the mesh has no faces/);
    assert.match(text, /flat\.obj: all 1 faces are degenerate/);
    assert.match(text, /big\.ply: 896 triangles exceed the limit of 600/);
    assert.deepEqual((await readdir(join(out, 'renders'))).length, 2);
    assert.deepEqual((await readdir(join(out, 'voxels'))).length, 2);
    assert.equal((await readdir(out)).includes('.partial'), false);
    assert.equal((await readFile(join(out, 'metadata.csv'), 'utf8')).trim().split('\n').length, 3);
    const cli = await runDataset({
      meshes: [meshes],
      out,
      views: '3',
      resolution: '48',
      cpu: true,
      quiet: true,
      maxFaces: '600',
    });
    assert.equal(cli.ok, false);
    assert.match(cli.lines.join('\n'), /5 object\(s\): 0 written, 2 already done, 3 failed/);
    await assert.rejects(writeDataset([join(root, 'nope')], out), DatasetError);
    await mkdir(join(meshes, 'empty'));
    await assert.rejects(writeDataset([join(root, 'meshes', 'empty')], join(root, 'o2')), /no mesh files/);
    await assert.rejects(writeDataset([meshes], out, { workers: 0 }), /workers must be an integer/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
