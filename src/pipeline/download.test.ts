/**
 * downloadModel against a local HTTP server speaking the hub's API shape (tree listing, resolve with ranges,
 * ETag, EntryNotFound): full download, skip of complete files, resume of a .part through a range request, hash
 * mismatch detection (LFS sha256 and git blob sha1), and a pipeline.json that names a missing checkpoint.
 * No network: the server listens on 127.0.0.1 on a random port.
 */

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DownloadError, downloadModel } from './download.ts';

interface RepoFile {
  data: Uint8Array;
  lfs: boolean;
}

const REPO = 'Sm0kyWu/Amodal3R';
const DINO = 'facebook/dinov2-with-registers-large';

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

const pipeline = {
  name: 'Amodal3RImageTo3DPipeline',
  args: {
    models: {
      sparse_structure_flow_model: 'Amodal3R_ckpts/ss_flow',
      sparse_structure_decoder: 'Amodal3R_ckpts/ss_dec',
    },
  },
};

const repos = new Map<string, Map<string, RepoFile>>([
  [
    REPO,
    new Map([
      ['pipeline.json', { data: new TextEncoder().encode(JSON.stringify(pipeline)), lfs: false }],
      ['README.md', { data: new TextEncoder().encode('# not needed'), lfs: false }],
      [
        'Amodal3R_ckpts/ss_flow.json',
        { data: new TextEncoder().encode('{"name":"x","args":{}}'), lfs: false },
      ],
      ['Amodal3R_ckpts/ss_flow.safetensors', { data: bytes(300_001, 1), lfs: true }],
      [
        'Amodal3R_ckpts/ss_dec.json',
        { data: new TextEncoder().encode('{"name":"y","args":{}}'), lfs: false },
      ],
      ['Amodal3R_ckpts/ss_dec.safetensors', { data: bytes(70_000, 2), lfs: true }],
      ['Amodal3R_ckpts/unused.safetensors', { data: bytes(50_000, 3), lfs: true }],
    ]),
  ],
  [
    DINO,
    new Map([
      ['config.json', { data: new TextEncoder().encode('{"hidden_size":1024}'), lfs: false }],
      ['model.safetensors', { data: bytes(120_000, 4), lfs: true }],
    ]),
  ],
]);

/** Bytes served instead of the real content (to simulate corruption), by "repo/path". */
const corrupt = new Map<string, Uint8Array>();
const log: { path: string; range: string | null }[] = [];
let server: Server;
let hubUrl = '';
let work = '';

function gitOid(data: Uint8Array): string {
  return createHash('sha1').update(`blob ${data.byteLength}\0`).update(data).digest('hex');
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'amodal3r-dl-'));
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/.exec(url.pathname);
    if (tree) {
      const files = repos.get(tree[1]);
      if (!files) {
        res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"error":"Repository not found"}');
        return;
      }
      const list = [...files].map(([path, f]) => ({
        type: 'file',
        path,
        size: f.data.byteLength,
        oid: gitOid(f.data),
        ...(f.lfs && {
          lfs: {
            oid: createHash('sha256').update(f.data).digest('hex'),
            size: f.data.byteLength,
            pointerSize: 134,
          },
        }),
      }));
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(list));
      return;
    }
    const resolveM = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const file = resolveM ? repos.get(resolveM[1])?.get(decodeURIComponent(resolveM[3])) : undefined;
    if (!resolveM || !file) {
      res.writeHead(404, { 'X-Error-Code': 'EntryNotFound' }).end('not found');
      return;
    }
    const key = `${resolveM[1]}/${resolveM[3]}`;
    const data = corrupt.get(key) ?? file.data;
    const range = req.headers.range ?? null;
    log.push({ path: key, range });
    const etag = `"${gitOid(file.data)}"`;
    const m = range ? /^bytes=(\d+)-(\d*)$/.exec(range) : null;
    if (m) {
      const a = Number(m[1]);
      const b = m[2] ? Math.min(Number(m[2]), data.byteLength - 1) : data.byteLength - 1;
      res.writeHead(206, {
        'Content-Range': `bytes ${a}-${b}/${data.byteLength}`,
        'Content-Length': String(b - a + 1),
        ETag: etag,
        'Content-Type': 'application/octet-stream',
      });
      res.end(Buffer.from(data.subarray(a, b + 1)));
      return;
    }
    res.writeHead(200, { 'Content-Length': String(data.byteLength), ETag: etag });
    res.end(Buffer.from(data));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hubUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  if (work) await rm(work, { recursive: true, force: true });
});

test('downloads pipeline.json, the listed checkpoints and DINOv2; verified; skips what is complete', async () => {
  const to = join(work, 'full');
  const r = await downloadModel({ to, hubUrl, accessToken: '' });
  const got = r.files.map((f) => `${f.status}:${f.verified}:${f.path}`);
  assert.deepEqual(got, [
    'downloaded:git-sha1:pipeline.json',
    'downloaded:git-sha1:Amodal3R_ckpts/ss_flow.json',
    'downloaded:sha256:Amodal3R_ckpts/ss_flow.safetensors',
    'downloaded:git-sha1:Amodal3R_ckpts/ss_dec.json',
    'downloaded:sha256:Amodal3R_ckpts/ss_dec.safetensors',
    'downloaded:git-sha1:config.json',
    'downloaded:sha256:model.safetensors',
  ]);
  assert.deepEqual(
    new Uint8Array(await readFile(join(to, 'Amodal3R_ckpts/ss_flow.safetensors'))),
    repos.get(REPO)?.get('Amodal3R_ckpts/ss_flow.safetensors')?.data,
  );
  assert.deepEqual(
    new Uint8Array(await readFile(join(to, 'dinov2/model.safetensors'))),
    repos.get(DINO)?.get('model.safetensors')?.data,
  );
  // Files the pipeline does not need are not fetched.
  assert.equal(existsSync(join(to, 'README.md')), false);
  assert.equal(existsSync(join(to, 'Amodal3R_ckpts/unused.safetensors')), false);
  const size = (repo: string, p: string) => repos.get(repo)?.get(p)?.data.byteLength ?? 0;
  const expected = r.files.reduce((a, f) => a + size(f.repo, f.path), 0);
  assert.equal(r.bytes, expected);
  const again = await downloadModel({ to, hubUrl, accessToken: '' });
  assert.ok(again.files.every((f) => f.status === 'skipped'));
  assert.equal(again.bytes, 0);
});

test('resumes a .part with a range request', async () => {
  const to = join(work, 'resume');
  const path = 'Amodal3R_ckpts/ss_flow.safetensors';
  const full = repos.get(REPO)!.get(path)!.data;
  await mkdir(join(to, 'Amodal3R_ckpts'), { recursive: true });
  await writeFile(join(to, `${path}.part`), full.subarray(0, 123_457));
  log.length = 0;
  const r = await downloadModel({ to, hubUrl, accessToken: '', skipDinov2: true });
  const f = r.files.find((x) => x.path === path)!;
  assert.equal(f.status, 'resumed');
  assert.equal(f.verified, 'sha256');
  assert.equal(f.bytes, full.byteLength - 123_457);
  assert.ok(
    log.some((l) => l.path === `${REPO}/${path}` && l.range === `bytes=123457-${full.byteLength - 1}`),
  );
  assert.deepEqual(new Uint8Array(await readFile(join(to, path))), full);
  assert.equal(existsSync(join(to, `${path}.part`)), false);
});

test('a corrupted transfer is detected, named, and leaves no file', async () => {
  const to = join(work, 'corrupt');
  const path = 'Amodal3R_ckpts/ss_dec.safetensors';
  const bad = Uint8Array.from(repos.get(REPO)!.get(path)!.data);
  bad[777] ^= 1;
  corrupt.set(`${REPO}/${path}`, bad);
  try {
    await assert.rejects(
      downloadModel({ to, hubUrl, accessToken: '', skipDinov2: true }),
      (e: Error) =>
        e instanceof DownloadError && /ss_dec\.safetensors: sha256 .* does not match/.test(e.message),
    );
  } finally {
    corrupt.delete(`${REPO}/${path}`);
  }
  assert.equal(existsSync(join(to, path)), false);
  assert.equal(existsSync(join(to, `${path}.part`)), false);
  // A small (non-LFS) file is checked against its git blob id.
  corrupt.set(
    `${REPO}/pipeline.json`,
    new TextEncoder().encode(JSON.stringify(pipeline).replace('ss_dec', 'ss_dex')),
  );
  try {
    await assert.rejects(
      downloadModel({ to: join(work, 'corrupt2'), hubUrl, accessToken: '' }),
      /pipeline\.json: git blob id/,
    );
  } finally {
    corrupt.delete(`${REPO}/pipeline.json`);
  }
});

test('unknown repository and a pipeline.json naming a missing checkpoint fail clearly', async () => {
  await assert.rejects(
    downloadModel({ to: join(work, 'x'), hubUrl, accessToken: '', repo: 'nobody/nothing' }),
    /cannot list nobody\/nothing/,
  );
  const files = repos.get(REPO)!;
  const saved = files.get('pipeline.json')!;
  const p2 = {
    ...pipeline,
    args: { models: { ...pipeline.args.models, slat_flow_model: 'Amodal3R_ckpts/gone' } },
  };
  files.set('pipeline.json', { data: new TextEncoder().encode(JSON.stringify(p2)), lfs: false });
  try {
    await assert.rejects(
      downloadModel({ to: join(work, 'y'), hubUrl, accessToken: '', skipDinov2: true }),
      /slat_flow_model = Amodal3R_ckpts\/gone but Amodal3R_ckpts\/gone\.json is not in the repository/,
    );
  } finally {
    files.set('pipeline.json', saved);
  }
});
