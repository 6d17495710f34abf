/**
 * `amodal3r occlusion-mask`: the shipped binary example pair gives exactly the shipped 3-level mask; an RGBA cut-out
 * gives the same through its alpha; bad argument combinations fail with a message.
 */

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readImage, writePng } from '../io/image.ts';
import { readMask } from '../preprocess/mask.ts';
import { runOcclusionMask } from './occlusion-mask.ts';

let work = '';
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'occmask-'));
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

test('--object + --occluder reproduce the shipped 3-level mask', async () => {
  const out = join(work, 'mask.png');
  const c = await runOcclusionMask({
    object: 'assets/examples/ball_object.png',
    occluder: 'assets/examples/ball_occluder.png',
    out,
    threshold: '128',
  });
  const got = await readMask(out);
  const want = await readMask('assets/examples/ball_mask.png');
  assert.deepEqual(got.data, want.data);
  assert.ok(c.visible > 0 && c.occluded > 0 && c.background > 0);
});

test('--rgba uses the alpha channel as the object mask', async () => {
  const obj = await readImage('assets/examples/mug_object.png');
  const img = await readImage('assets/examples/mug.png');
  const n = img.width * img.height;
  const rgba = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) rgba[i * 4 + c] = img.data[i * img.channels + c];
    rgba[i * 4 + 3] = obj.data[i * obj.channels];
  }
  const cut = join(work, 'cut.png');
  await writePng(cut, { width: img.width, height: img.height, channels: 4, data: rgba });
  const out = join(work, 'mug_mask.png');
  await runOcclusionMask({ rgba: cut, occluder: 'assets/examples/mug_occluder.png', out, threshold: '128' });
  assert.deepEqual((await readMask(out)).data, (await readMask('assets/examples/mug_mask.png')).data);
});

test('argument errors', async () => {
  const base = { occluder: 'assets/examples/ball_occluder.png', out: join(work, 'x.png'), threshold: '128' };
  await assert.rejects(runOcclusionMask(base), /exactly one of --object/);
  await assert.rejects(
    runOcclusionMask({ ...base, object: 'assets/examples/ball_object.png', rgba: 'a.png' }),
    /exactly one of --object/,
  );
  await assert.rejects(
    runOcclusionMask({ ...base, rgba: 'assets/examples/ball.png' }),
    /needs an image with an alpha channel/,
  );
  await assert.rejects(
    runOcclusionMask({ ...base, object: 'assets/examples/ball_object.png', threshold: '0' }),
    /--threshold must be an integer in 1\.\.255/,
  );
  // The occluder covering everything leaves nothing visible.
  await assert.rejects(
    runOcclusionMask({
      ...base,
      object: 'assets/examples/ball_object.png',
      occluder: 'assets/examples/ball_object.png',
    }),
    /no visible object pixel/,
  );
});
