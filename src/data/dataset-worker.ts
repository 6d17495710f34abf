/**
 * Child process of `writeDataset` with `workers > 1` (forked with tsx's loader): builds the objects the parent sends,
 * one at a time, with its own WebGPU device (or the CPU twin). Protocol: `init` -> `ready`; `job` -> `done` (with the
 * record) or `error` (with `input: true` for mesh input errors); `warning` lines any time; `exit` ends the process.
 */

import type { GpuContext } from '../runtime/gpu.ts';
import { buildObject, type DatasetParams, type WorkerRequest } from './dataset.ts';
import { MeshInputError } from './mesh-io.ts';

let gpu: GpuContext | null = null;
let out = '';
let params: DatasetParams | null = null;
let maxFaces = 0;

function reply(m: Record<string, unknown>): void {
  process.send?.(m);
}

process.on('message', (m: WorkerRequest) => {
  void (async () => {
    if (m.type === 'init') {
      out = m.out ?? '';
      params = m.params ?? null;
      maxFaces = m.maxFaces ?? 0;
      if (!m.cpu) {
        const { GpuContext: Ctx } = await import('../runtime/gpu.ts');
        gpu = await Ctx.create();
        if (!gpu)
          reply({
            type: 'warning',
            message: `worker ${process.pid}: no WebGPU adapter; rendering on the CPU`,
          });
      }
      reply({ type: 'ready' });
    } else if (m.type === 'job' && m.job && params) {
      try {
        const record = await buildObject(m.job, out, params, {
          gpu,
          maxFaces,
          warn: (line) => reply({ type: 'warning', message: line }),
        });
        reply({ type: 'done', record });
      } catch (e) {
        reply({ type: 'error', message: (e as Error).message, input: e instanceof MeshInputError });
      }
    } else if (m.type === 'exit') {
      gpu?.destroy();
      process.disconnect?.();
      process.exit(0);
    }
  })();
});
