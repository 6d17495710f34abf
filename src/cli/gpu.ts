/**
 * GPU acquisition shared by the CLI subcommands: honours `AMODAL3R_DISABLE_GPU` (to force the CPU backend, and
 * to test the no-adapter paths on machines that have one) and turns failures into a reason string instead of a
 * crash, so commands can fall back to the CPU.
 */

import { DAWN_TOGGLES_BASE, GpuContext, type GpuContextOptions } from '../runtime/gpu.ts';

/** Environment variable that makes the CLI behave as if no WebGPU adapter existed ("1" or "true"). */
export const DISABLE_GPU_ENV = 'AMODAL3R_DISABLE_GPU';

/** True when `AMODAL3R_DISABLE_GPU` asks for the CPU backend. */
export function gpuDisabledByEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env[DISABLE_GPU_ENV] ?? '').trim().toLowerCase();
  return v === '1' || v === 'true' || v === 'yes';
}

/**
 * The Dawn toggles the runtime passes to `webgpu.create()` in Node for a robustness setting.
 * (Mirrors src/runtime/gpu.ts, which keeps the list private; see the CLI report.)
 */
export function dawnToggles(robustness: boolean): string[] {
  return [...DAWN_TOGGLES_BASE, ...(robustness ? [] : ['disable_robustness'])];
}

export interface CliGpu {
  gpu: GpuContext | null;
  /** Why there is no GPU (null when there is one). */
  reason: string | null;
}

/**
 * A GPU context for a CLI command, or null with the reason.
 * @example
 * const { gpu, reason } = await acquireCliGpu({ robustness: false });
 * if (!gpu) console.error(`warning: ${reason}`);
 */
export async function acquireCliGpu(options: GpuContextOptions = {}): Promise<CliGpu> {
  if (gpuDisabledByEnv()) return { gpu: null, reason: `WebGPU disabled by ${DISABLE_GPU_ENV}` };
  try {
    const gpu = await GpuContext.create(options);
    return gpu ? { gpu, reason: null } : { gpu: null, reason: 'no WebGPU adapter found' };
  } catch (e) {
    return { gpu: null, reason: `WebGPU device creation failed: ${(e as Error).message}` };
  }
}
