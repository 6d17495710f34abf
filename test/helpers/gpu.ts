/**
 * GPU access for tests. Kernel tests run on the real adapter (lavapipe in CI). With CI=true a missing adapter is
 * a failure, not a skip; locally it is reported as a skip with the install line.
 */

import type { TestContext } from 'node:test';
import { GPU_HELP, GpuContext, type GpuContextOptions } from '../../src/runtime/gpu.ts';

const contexts = new Map<string, Promise<GpuContext | null>>();

/** A shared context per option set (device creation is slow on lavapipe). */
export function sharedGpu(options: GpuContextOptions = {}): Promise<GpuContext | null> {
  const key = JSON.stringify(options);
  let p = contexts.get(key);
  if (!p) {
    p = GpuContext.create(options);
    contexts.set(key, p);
  }
  return p;
}

/** Small binding limit used to force the splitting paths (1 MiB). */
export const FORCED_SMALL_BINDING = 1 << 20;

/**
 * Returns a GPU context or skips the test (locally) / throws (CI=true) when there is no adapter.
 * @example
 * test('matmul on gpu', async (t) => { const gpu = await requireGpu(t); if (!gpu) return; ... });
 */
export async function requireGpu(
  t: TestContext,
  options: GpuContextOptions = {},
): Promise<GpuContext | null> {
  const gpu = await sharedGpu(options);
  if (gpu) return gpu;
  if (process.env.CI === 'true') throw new Error(`CI=true but ${GPU_HELP}`);
  t.skip(GPU_HELP);
  return null;
}
