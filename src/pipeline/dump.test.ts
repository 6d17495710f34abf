import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSafetensorsFile, writeSafetensors } from '../io/safetensors.node.ts';
import { compareDumps, parseTolerances, toleranceFor } from './compare.ts';
import { checkInjection, stepName } from './dump.ts';
import { DumpWriter, parseTensorRef, readInjectedFloat, readInjectedInt } from './dump-writer.ts';

const SHAPES = { ssNoiseShape: [1, 8, 16, 16, 16], slatChannels: 8, gridSide: 64 };
const coords = (rows: number[][]) => ({
  data: Int32Array.from(rows.flat()),
  shape: [rows.length, 4],
  source: 'c.safetensors:coords',
});

test('checkInjection refuses wrong shapes, naming the file', () => {
  const bad = {
    data: new Float32Array(8 * 8 * 8 * 8),
    shape: [1, 8, 8, 8, 8],
    source: 'n.safetensors:noise',
  };
  assert.throws(
    () => checkInjection({ noiseSs: bad }, SHAPES),
    /n\.safetensors:noise.*\[1,8,8,8,8\].*\[1,8,16,16,16\]/,
  );
  assert.throws(() => checkInjection({ coords: coords([[0, 1, 2, 64]]) }, SHAPES), /outside the 64\^3 grid/);
  assert.throws(() => checkInjection({ coords: coords([[1, 1, 2, 3]]) }, SHAPES), /batch 1/);
  assert.throws(
    () =>
      checkInjection(
        {
          coords: coords([
            [0, 1, 2, 3],
            [0, 1, 2, 3],
          ]),
        },
        SHAPES,
      ),
    /listed twice \(row 1\)/,
  );
  const noiseSlat = { data: new Float32Array(24), shape: [3, 8], source: 's.safetensors:noise_feats' };
  assert.throws(
    () =>
      checkInjection(
        {
          coords: coords([
            [0, 1, 2, 3],
            [0, 1, 2, 4],
          ]),
          noiseSlat,
        },
        SHAPES,
      ),
    (e: Error) =>
      e.name === 'InputError' &&
      /s\.safetensors:noise_feats\) has 3 rows.*c\.safetensors:coords\) hold 2 voxels/.test(e.message),
  );
  checkInjection(
    {
      coords: coords([
        [0, 1, 2, 3],
        [0, 1, 2, 4],
        [0, 9, 9, 9],
      ]),
      noiseSlat,
    },
    SHAPES,
  );
  assert.equal(stepName(3), 'step_03');
});

test('DumpWriter writes one file per group atomically; readInjected reads FILE[:NAME]', async () => {
  const root = await mkdtemp(join(tmpdir(), 'amodal3r-dump-'));
  try {
    const dir = join(root, 'dump');
    const w = DumpWriter.check(dir, { metadata: { seed: '1' } });
    await w.sink('stage1/noise', Float32Array.from([1, 2, 3, 4]), [1, 4], 'f32');
    await w.sink('stage2/coords', Int32Array.from([0, 1, 2, 3]), [1, 4], 'i32');
    assert.deepEqual(await w.finish(), ['stage1.safetensors', 'stage2.safetensors']);
    assert.deepEqual((await readdir(root)).sort(), ['dump'], 'no temporary folder left behind');
    const r = await openSafetensorsFile(join(dir, 'stage1.safetensors'));
    assert.equal(r.metadata?.status, 'complete');
    await r.close();
    assert.throws(() => DumpWriter.check(dir), /already exists.*--force/);
    const n = await readInjectedFloat(join(dir, 'stage1.safetensors'), 'noise', '--noise-ss');
    assert.deepEqual([...n.data], [1, 2, 3, 4]);
    assert.deepEqual(n.shape, [1, 4]);
    const c = await readInjectedInt(`${join(dir, 'stage2.safetensors')}:coords`, 'x', '--coords');
    assert.deepEqual([...c.data], [0, 1, 2, 3]);
    await assert.rejects(
      readInjectedFloat(join(dir, 'stage1.safetensors'), 'noise_feats', '--noise-slat'),
      /--noise-slat .* has no tensor 'noise_feats' \(it holds: noise\)/,
    );
    await assert.rejects(
      readInjectedFloat(join(root, 'nope.safetensors'), 'noise', '--noise-ss'),
      /no such file/,
    );
    assert.deepEqual(parseTensorRef('a/b.safetensors:n', 'd'), { file: 'a/b.safetensors', name: 'n' });
    assert.deepEqual(parseTensorRef('a/b.safetensors', 'd'), { file: 'a/b.safetensors', name: 'd' });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('compare: per-group tolerances (longest key wins) and ignored tensors', async () => {
  const root = await mkdtemp(join(tmpdir(), 'amodal3r-cmp-tol-'));
  try {
    const a = join(root, 'a');
    const b = join(root, 'b');
    for (const [d, v] of [
      [a, 1.01],
      [b, 1],
    ] as const) {
      const w = DumpWriter.check(d);
      await w.sink('stage2/slat', Float32Array.from([v]), [1], 'f32');
      await w.sink('stage2/samples', Float32Array.from([v]), [1], 'f32');
      if (d === a) await w.sink('encode/cond', Float32Array.from([0]), [1], 'f32');
      await w.finish();
    }
    const tolerances = parseTolerances(['stage2=0.02', 'stage2/samples=1e-3']);
    const o = { rtol: 1e-6, iou: 0.99, tolerances, ignore: ['encode'] };
    assert.equal(toleranceFor('stage2.safetensors', 'slat', o), 0.02);
    const rep = await compareDumps(a, b, o);
    assert.equal(rep.rows.length, 2, 'encode is ignored');
    assert.equal(rep.rows.find((r) => r.name === 'slat')?.ok, true);
    assert.equal(rep.rows.find((r) => r.name === 'samples')?.ok, false);
    assert.throws(() => parseTolerances(['stage2']), /GROUP\[\/TENSOR\]=RTOL/);
    await writeSafetensors(join(b, 'extra.safetensors'), {
      x: { dtype: 'F32', shape: [1], data: Float32Array.from([0]) },
    });
    assert.equal(
      (await compareDumps(a, b, o)).rows.some((r) => r.kind === 'missing'),
      true,
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
