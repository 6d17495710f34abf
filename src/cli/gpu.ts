/**
 * GPU acquisition shared by the CLI subcommands: honours `AMODAL3R_DISABLE_GPU` (to force the CPU backend, and
 * to test the no-adapter paths on machines that have one) and turns failures into a reason string instead of a
 * crash, so commands can fall back to the CPU.
 */

import {
  DISABLE_GPU_ENV,
  dawnToggles,
  GpuContext,
  type GpuContextOptions,
  gpuDisabledByEnv,
} from '../runtime/gpu.ts';

export { DISABLE_GPU_ENV, dawnToggles, gpuDisabledByEnv };

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
