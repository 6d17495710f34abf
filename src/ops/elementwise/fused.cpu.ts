/** CPU twins of fused.wgsl (f32 arithmetic, rounding to the output dtype where the kernel rounds). */

import { type DType, roundF16 } from '../../runtime/dtype.ts';

const f = Math.fround;

function rounder(dtype: DType): (v: number) => number {
  return dtype === 'f16' ? roundF16 : f;
}

/** `x + rnd(h * gate[b, c])` (gate [B, C], `perBatch` = L * C elements per batch item) or `x + h` (gate null). */
export function gatedResidualCpu(
  x: Float32Array,
  h: Float32Array,
  gate: Float32Array | null,
  perBatch: number,
  C: number,
  dtype: DType,
): Float32Array {
  const r = rounder(dtype);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const gh = gate ? r(f(h[i] * gate[Math.floor(i / perBatch) * C + (i % C)])) : h[i];
    out[i] = r(f(x[i] + gh));
  }
  return out;
}
