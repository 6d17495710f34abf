/**
 * Sorting failures into the kinds the page explains, and the explanations. Pure functions (no DOM), tested in
 * Node.
 *
 * Detection is by error class where the library has one (`ModelDirError`, `InputError`, `MaskInputError`,
 * `ImageInputError`, `WeightError`) and by message for what comes from the browser (WebGPU out-of-memory and
 * device loss, `RangeError: Array buffer allocation failed`), since those have no stable class across browsers.
 */

import { ImageInputError } from '../../src/io/raw-image.ts';
import { WeightError } from '../../src/nn/weights.ts';
import { InputError } from '../../src/pipeline/encode.ts';
import { ModelDirError } from '../../src/pipeline/model-dir.ts';
import { MaskInputError } from '../../src/preprocess/mask.ts';
import type { ErrorKind } from './protocol.ts';

/** Messages that mean the GPU or the tab ran out of memory (Chrome, Firefox, Safari and Dawn wordings). */
const OOM_PATTERN =
  /out of memory|out-of-memory|OOM|allocation failed|Array buffer allocation|exceeds the adapter's maxBufferSize|device lost|Device was lost/i;

/**
 * The kind of a failure and its message.
 * @example
 * const { kind, message } = classifyError(e); // kind 'model' for an incomplete model folder
 */
export function classifyError(e: unknown): { kind: ErrorKind; message: string } {
  const err = e instanceof Error ? e : new Error(String(e));
  const message = err.message || err.name || String(e);
  if (err instanceof ModelDirError || err instanceof WeightError) return { kind: 'model', message };
  if (err instanceof InputError || err instanceof MaskInputError || err instanceof ImageInputError)
    return { kind: 'input', message };
  if (err.name === 'AbortError') return { kind: 'cancelled', message: 'Cancelled.' };
  if (err instanceof RangeError || OOM_PATTERN.test(message)) return { kind: 'oom', message };
  return { kind: 'other', message };
}

/** What to do about each kind, shown under the message. */
export const ERROR_ADVICE: Record<ErrorKind, string> = {
  'no-webgpu':
    'WebGPU is needed for a fast run. Use Chrome or Edge 113+ (Windows, macOS, ChromeOS; Android 121+), Safari 26+, ' +
    'or Firefox 141+ on Windows. On Linux, Chrome needs chrome://flags/#enable-unsafe-webgpu and ' +
    '#enable-vulkan (or start it with --enable-unsafe-webgpu --enable-features=Vulkan). WebGPU also needs a secure ' +
    'page (https:// or localhost). Or choose "CPU" as the device: it works everywhere but is much slower.',
  model:
    'The model folder is incomplete or not the Amodal3R layout. Pick the folder that holds pipeline.json, ' +
    'Amodal3R_ckpts/ and dinov2/ (made by `npx amodal3r download --to DIR`, or `npx amodal3r make-test-model ' +
    '--config tiny --out DIR` for a small test model).',
  oom:
    'The GPU or the tab ran out of memory. Close other tabs and GPU programs, use fewer or smaller views, or ' +
    'choose "CPU" as the device. The released model needs several GB of GPU memory.',
  input: 'Check the images and masks of the views listed in the message.',
  cancelled: 'The run was cancelled; nothing was kept.',
  other: 'An unexpected error. The browser console has details.',
};
