/**
 * Activation functions, gathered in one place. The kernels live in `src/ops/elementwise/unary.*`; the f32 erf
 * used by exact GELU (on the CPU twin and, with the same coefficients, in WGSL) lives in `./erf.ts`.
 *
 * @example
 * import { gelu, silu } from './ops/activation/index.ts';
 * const h = gelu(x, { approximate: 'tanh' });
 */

export {
  erf,
  type GeluOptions,
  gelu,
  relu,
  sigmoid,
  silu,
  softplus,
  tanh,
} from '../elementwise/unary.ts';
export { erfF32 } from './erf.ts';
