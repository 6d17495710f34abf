import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ModelDirError, openModelDir } from '../../src/pipeline/model-dir.ts';
import { serve } from '../test/harness.ts';
import {
  countingModelFiles,
  fileListModelFiles,
  type ReadCounter,
  relFilesFromInput,
  urlModelFiles,
} from './browser-model-files.ts';

const BYTES = new Uint8Array(Array.from({ length: 300 }, (_, i) => i % 251));

function picked(path: string, bytes: Uint8Array | string): File {
  const f = new File([bytes as Uint8Array<ArrayBuffer> | string], path.split('/').pop()!);
  Object.defineProperty(f, 'webkitRelativePath', { value: path });
  return f;
}

test('relFilesFromInput strips the picked folder name; fileListModelFiles reads and ranges', async () => {
  const { root, files } = relFilesFromInput([
    picked('tiny/pipeline.json', '{"a":1}'),
    picked('tiny/dinov2/w.safetensors', BYTES),
  ]);
  assert.equal(root, 'tiny');
  assert.deepEqual(
    files.map((f) => f.path),
    ['pipeline.json', 'dinov2/w.safetensors'],
  );
  const mf = fileListModelFiles(files, root);
  assert.equal(await mf.kind(''), 'dir');
  assert.equal(await mf.kind('dinov2'), 'dir');
  assert.equal(await mf.kind('pipeline.json'), 'file');
  assert.equal(await mf.kind('missing.json'), null);
  assert.equal(await mf.readText('pipeline.json'), '{"a":1}');
  const sub = mf.sub('dinov2');
  assert.equal(sub.display('w.safetensors'), 'tiny/dinov2/w.safetensors');
  const src = await sub.open('w.safetensors');
  assert.equal(src.size, 300);
  assert.deepEqual([...(await src.read(250, 10))], [...BYTES.subarray(250, 260)]);
  await assert.rejects(src.read(295, 10), /runs past the end/);
  await assert.rejects(mf.readText('nope.json'), /tiny\/nope\.json: no such file/);
});

test('an incomplete picked folder is refused with the missing files named', async () => {
  const { root, files } = relFilesFromInput([picked('m/dinov2/config.json', '{}')]);
  await assert.rejects(openModelDir(fileListModelFiles(files, root)), (e: Error) => {
    assert.ok(e instanceof ModelDirError, String(e));
    assert.match(e.message, /pipeline\.json is missing/);
    return true;
  });
});

test('urlModelFiles streams by Range from a static server and counts weight bytes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'amodal3r-urlfiles-'));
  await mkdir(join(dir, 'sub'));
  await writeFile(join(dir, 'sub', 'w.safetensors'), BYTES);
  await writeFile(join(dir, 'pipeline.json'), '{"x":2}');
  const { server, url } = await serve({ '/m/': dir });
  try {
    const counter: ReadCounter = { read: 0, total: 0 };
    let calls = 0;
    const mf = countingModelFiles(urlModelFiles(`${url}/m`), counter, () => calls++);
    assert.equal(await mf.kind('sub'), 'dir');
    assert.equal(await mf.kind('pipeline.json'), 'file');
    assert.equal(await mf.kind('absent.json'), null);
    assert.equal(await mf.readText('pipeline.json'), '{"x":2}');
    const src = await mf.sub('sub').open('w.safetensors');
    assert.equal(src.size, 300);
    assert.deepEqual([...(await src.read(7, 100))], [...BYTES.subarray(7, 107)]);
    assert.deepEqual(counter, { read: 100, total: 300 });
    assert.equal(calls, 1);
    await assert.rejects(mf.open('absent.safetensors'), /HTTP 404/);
  } finally {
    server.close();
  }
});

test('urlModelFiles falls back to one whole download when the server ignores Range, and warns', async () => {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': BYTES.length }).end(Buffer.from(BYTES));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const warnings: string[] = [];
    const mf = urlModelFiles(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, {
      onWarning: (w) => warnings.push(w),
    });
    const src = await mf.open('a.safetensors');
    assert.equal(src.size, 300);
    assert.deepEqual([...(await src.read(290, 10))], [...BYTES.subarray(290, 300)]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /ignores Range requests/);
  } finally {
    server.close();
  }
});
