import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requireGpu } from '../../test/helpers/gpu.ts';
import { absolutePositionEmbedding } from '../nn/embeddings.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { Tensor } from '../runtime/tensor.ts';
import { SparseTensor } from '../sparse/sparse-tensor.ts';
import { slatPositionEmbedding } from './slat-decoder-base.ts';

/** Two batch items of scattered voxels (coordinates up to 63, some axes never reaching the maximum). */
function voxels(gpu: GpuContext | null): SparseTensor {
  const c: number[] = [];
  for (let i = 0; i < 37; i++) c.push(0, (i * 7) % 64, (i * 13) % 41, (i * 29) % 64);
  for (let i = 0; i < 20; i++) c.push(1, (i * 5) % 17, 63 - i, (i * 3) % 64);
  const coords = Int32Array.from(c);
  return SparseTensor.create(Tensor.zeros([coords.length / 4, 8], { gpu }), coords);
}

async function check(gpu: GpuContext | null): Promise<void> {
  const x = voxels(gpu);
  const xyz = new Int32Array(x.n * 3);
  for (let i = 0; i < x.n; i++) for (let a = 0; a < 3; a++) xyz[3 * i + a] = x.coords[4 * i + 1 + a];
  // 768 = 6 x 128 (released width, no padding); 256 and 64 end in zero channels (6 x 42 + 4, 6 x 10 + 4).
  for (const C of [768, 256, 64]) {
    const got = slatPositionEmbedding(x, C);
    assert.deepEqual([...got.shape], [x.n, C]);
    // The gathered table holds the very values the per-voxel embedding computes: exact equality.
    assert.deepEqual(await got.toArray(), absolutePositionEmbedding(xyz, C), `C = ${C}`);
    got.dispose();
  }
  x.feats.dispose();
  x.disposeCache();
}

test('decoder APE (per-value table gathered per voxel and axis) equals the per-voxel embedding, CPU', async () => {
  await check(null);
});

test('decoder APE (per-value table gathered per voxel and axis) equals the per-voxel embedding, GPU', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  await check(gpu);
});
