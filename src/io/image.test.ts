/** readImage / writePng: layouts, round trips, atomic writes and the error messages users see. */

import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ImageInputError, MAX_IMAGE_SIDE, type RawImage, readImage, writePng } from './image.ts';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'amodal3r-image-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function pattern(width: number, height: number, channels: 1 | 2 | 3 | 4): RawImage {
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + (i >> 5)) & 255;
  return { width, height, channels, data };
}

for (const channels of [1, 2, 3, 4] as const) {
  test(`writePng + readImage round trip keeps ${channels}-channel pixels exactly`, async () => {
    const img = pattern(13, 7, channels);
    const p = join(dir, `rt${channels}.png`);
    await writePng(p, img);
    const back = await readImage(p);
    assert.equal(back.width, 13);
    assert.equal(back.height, 7);
    assert.equal(back.channels, channels);
    assert.deepEqual([...back.data], [...img.data]);
  });
}

test('writePng leaves no temporary file behind and replaces an existing file', async () => {
  const p = join(dir, 'atomic.png');
  await writePng(p, pattern(4, 4, 3));
  await writePng(p, pattern(5, 3, 3));
  assert.equal((await readImage(p)).width, 5);
  const left = (await readdir(dir)).filter((f) => f.endsWith('.tmp'));
  assert.deepEqual(left, []);
});

test('writePng rejects inconsistent data and unwritable folders with the path in the message', async () => {
  await assert.rejects(
    writePng(join(dir, 'bad.png'), { width: 3, height: 3, channels: 3, data: new Uint8Array(5) }),
    (e: Error) => e instanceof ImageInputError && /5 bytes/.test(e.message) && /3x3x3/.test(e.message),
  );
  const p = join(dir, 'no-such-folder', 'x.png');
  await assert.rejects(
    writePng(p, pattern(2, 2, 3)),
    (e: Error) => e instanceof ImageInputError && e.message.includes(p),
  );
});

test('readImage: missing file', async () => {
  const p = join(dir, 'missing.png');
  await assert.rejects(
    readImage(p),
    (e: Error) => e instanceof ImageInputError && e.message.includes(p) && /ENOENT/.test(e.message),
  );
});

test('readImage: a directory', async () => {
  await assert.rejects(
    readImage(dir),
    (e: Error) => e instanceof ImageInputError && /not a regular file/.test(e.message),
  );
});

test('readImage: not an image', async () => {
  const p = join(dir, 'notes.png');
  await writeFile(p, 'this is text, not a PNG\n');
  await assert.rejects(
    readImage(p),
    (e: Error) =>
      e instanceof ImageInputError && e.message.includes(p) && /not a readable image/.test(e.message),
  );
});

test('readImage: truncated PNG', async () => {
  const good = join(dir, 'whole.png');
  await writePng(good, pattern(64, 64, 3));
  const { readFile } = await import('node:fs/promises');
  const bytes = await readFile(good);
  const p = join(dir, 'truncated.png');
  await writeFile(p, bytes.subarray(0, Math.floor(bytes.length / 2)));
  await assert.rejects(readImage(p), (e: Error) => e instanceof ImageInputError && e.message.includes(p));
});

test('readImage: larger than the limit (checked from the header)', async () => {
  const p = join(dir, 'wide.png');
  await writePng(p, pattern(40, 10, 3));
  await assert.rejects(
    readImage(p, { maxSide: 32 }),
    (e: Error) => e instanceof ImageInputError && /40x10/.test(e.message) && /32x32 limit/.test(e.message),
  );
  assert.equal(MAX_IMAGE_SIDE, 8192);
});
