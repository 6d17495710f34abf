/**
 * CPU twin of unary.wgsl: the same f32 formulas (f32 rounding after each operation via `Math.fround`), so the GPU
 * kernel differs only by the accuracy of its builtins (exp, log, tanh, sqrt: a few ulp in WGSL).
 */

import { type DType, roundToDType } from '../../runtime/dtype.ts';
import { erfF32 } from '../activation/erf.ts';

const f = Math.fround;

/** PyTorch's tanh-GELU constants: sqrt(2/pi) and the cubic coefficient. */
export const GELU_TANH_BETA = f(Math.sqrt(2 / Math.PI));
export const GELU_TANH_KAPPA = f(0.044715);
export const SQRT1_2 = f(Math.SQRT1_2);
/** PyTorch softplus default threshold (beta 1): above it softplus(x) = x. */
export const SOFTPLUS_THRESHOLD = 20;

export function sigmoidF32(x: number): number {
  if (x >= 0) return f(1 / f(1 + f(Math.exp(-x))));
  const e = f(Math.exp(x));
  return f(e / f(1 + e));
}

export function log1pF32(e: number): number {
  const u = f(1 + e);
  if (u === 1) return e;
  return f(f(Math.log(u)) * f(e / f(u - 1)));
}

export function tanhF32(x: number): number {
  return f(Math.tanh(Math.min(10, Math.max(-10, x))));
}

export function geluTanhF32(x: number): number {
  const inner = f(GELU_TANH_BETA * f(x + f(GELU_TANH_KAPPA * f(f(x * x) * x))));
  return f(f(0.5 * x) * f(1 + tanhF32(inner)));
}

export function geluErfF32(x: number): number {
  return f(f(0.5 * x) * f(1 + erfF32(f(x * SQRT1_2))));
}

export function softplusF32(x: number): number {
  return x > SOFTPLUS_THRESHOLD ? x : log1pF32(f(Math.exp(x)));
}

/** Applies `fn` to every element and rounds to the output dtype. */
export function unaryCpu(x: Float32Array, outDtype: DType, fn: (v: number) => number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = fn(x[i]);
  return roundToDType(out, outDtype);
}
