/**
 * Conditioning files (Node): `amodal3r encode` writes the condition once so several runs can reuse it. Layout:
 * `cond` F32 [V, 4112, 1024] and `visible_fraction` F32 [V], safetensors.
 */

import { openSafetensorsFile, writeSafetensors } from '../io/safetensors.node.ts';
import { COND_CHANNELS, COND_TOKENS } from '../preprocess/preprocess.ts';
import { type Conditioning, InputError } from './encode.ts';

/**
 * Writes a condition as safetensors (`cond` [V, 4112, 1024] F32, `visible_fraction` [V] F32), atomically.
 * @example
 * await writeConditioning('cond.safetensors', cond);
 */
export async function writeConditioning(path: string, c: Conditioning): Promise<void> {
  await writeSafetensors(
    path,
    {
      cond: { dtype: 'F32', shape: [c.views, COND_TOKENS, COND_CHANNELS], data: c.tokens },
      visible_fraction: { dtype: 'F32', shape: [c.views], data: Float32Array.from(c.visibleFractions) },
    },
    { format: 'pt', producer: 'amodal3r encode' },
  );
}

/**
 * Reads a condition written by {@link writeConditioning}.
 * @example
 * const cond = await readConditioning('cond.safetensors');
 */
export async function readConditioning(path: string): Promise<Conditioning> {
  const r = await openSafetensorsFile(path);
  try {
    if (!r.has('cond')) throw new InputError(`${path}: no 'cond' tensor; write it with \`amodal3r encode\``);
    const shape = r.info('cond').shape;
    if (shape.length !== 3 || shape[1] !== COND_TOKENS || shape[2] !== COND_CHANNELS)
      throw new InputError(
        `${path}: 'cond' is [${shape.join(', ')}], expected [V, ${COND_TOKENS}, ${COND_CHANNELS}]`,
      );
    const V = shape[0];
    const vis = r.has('visible_fraction')
      ? Array.from(await r.readFloat32('visible_fraction'))
      : new Array(V).fill(1);
    return { tokens: await r.readFloat32('cond'), views: V, visibleFractions: vis, warnings: [] };
  } finally {
    await r.close();
  }
}
