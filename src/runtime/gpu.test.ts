import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requireGpu } from '../../test/helpers/gpu.ts';
import { gpuStatsDelta } from './gpu.ts';

const NOOP_SHADER =
  '@group(0) @binding(0) var<storage, read_write> o: array<u32>;\n@compute @workgroup_size(1) fn main() { o[0] = 1u; }';

test('GpuContext.stats counts pipeline compilations and pool misses, not cache or pool hits', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  const s0 = { ...gpu.stats };
  const key = `stats-test-${Math.random()}`;
  const p = gpu.pipeline(key, NOOP_SHADER);
  assert.equal(gpu.pipeline(key, NOOP_SHADER), p);
  // A size no other test uses, so the pool has none free.
  const bytes = 3 * 1024 * 1024 + 256;
  const a = gpu.allocBuffer(bytes);
  gpu.releaseBuffer(a);
  const b = gpu.allocBuffer(bytes);
  assert.equal(b, a);
  gpu.dispatch(p, [b], [1]);
  await gpu.readBuffer(b, 0, 4);
  const d = gpuStatsDelta(s0, gpu.stats);
  assert.equal(d.pipelinesCompiled, 1);
  assert.equal(d.buffersCreated, 1);
  assert.equal(d.bufferBytesCreated, 4 * 1024 * 1024);
  assert.equal(d.dispatches, 1);
  assert.equal(d.submits, 1);
  assert.equal(d.readbacks, 1);
  gpu.releaseBuffer(b);
});
