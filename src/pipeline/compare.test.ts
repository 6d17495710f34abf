import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeSafetensors } from '../io/safetensors.node.ts';
import { compareDumps, formatCompareReport } from './compare.ts';

test('compare reports relative errors, coordinate IoU and missing tensors', async () => {
  const root = await mkdtemp(join(tmpdir(), 'amodal3r-compare-'));
  try {
    const a = join(root, 'a');
    const b = join(root, 'b');
    await mkdir(a);
    await mkdir(b);
    const coordsA = Int32Array.from([0, 1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9]);
    const coordsB = Int32Array.from([0, 1, 2, 3, 0, 4, 5, 6, 0, 9, 9, 9]);
    await writeSafetensors(join(a, 'ss.safetensors'), {
      latent: { dtype: 'F32', shape: [4], data: Float32Array.from([1, 2, 3, 4]) },
      coords: { dtype: 'I32', shape: [3, 4], data: coordsA },
      extra: { dtype: 'F32', shape: [1], data: Float32Array.from([0]) },
    });
    await writeSafetensors(join(b, 'ss.safetensors'), {
      latent: { dtype: 'F32', shape: [4], data: Float32Array.from([1, 2, 3, 4.002]) },
      coords: { dtype: 'I32', shape: [3, 4], data: coordsB },
    });
    const loose = await compareDumps(a, b, { rtol: 1e-3, iou: 0.4 });
    const latent = loose.rows.find((r) => r.name === 'latent')!;
    assert.ok(Math.abs(latent.rel! - 0.002 / 4.002) < 1e-6);
    assert.equal(latent.ok, true);
    const coords = loose.rows.find((r) => r.name === 'coords')!;
    assert.equal(coords.iou, 2 / 4);
    assert.equal(coords.ok, true);
    assert.equal(loose.rows.find((r) => r.name === 'extra')!.kind, 'missing');
    assert.equal(loose.ok, false, 'a tensor missing on one side fails the comparison');
    const strict = await compareDumps(a, b, { rtol: 1e-4, iou: 0.99 });
    assert.equal(strict.rows.find((r) => r.name === 'latent')!.ok, false);
    assert.equal(strict.rows.find((r) => r.name === 'coords')!.ok, false);
    assert.match(formatCompareReport(strict), /FAIL/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
