/**
 * WGSL activation helpers for kernels that fuse an activation into their epilogue (e.g. bias + GELU after a
 * matmul, SiLU before a conv). Splice `ACTIVATION_WGSL` into the shader source (it declares only functions:
 * `erf_f32`, `sigmoid_f32`, `log1p_f32`, `tanh_f32`, `gelu_tanh_f32`, `gelu_erf_f32`, `silu_f32`, `softplus_f32`,
 * all f32 -> f32) and call `activationCall(kind, 'v')`. The formulas, and their CPU twins in
 * `src/ops/elementwise/unary.cpu.ts`, are tested through the unary op.
 *
 * @example
 * const code = `${ACTIVATION_WGSL}\n${myKernel.replace('{{ACT}}', activationCall('geluTanh', 'acc'))}`;
 */

import { WGSL } from '../wgsl.generated.ts';

/** Source of src/ops/activation/activation.wgsl (functions only). */
export const ACTIVATION_WGSL: string = WGSL['ops/activation/activation'];

export type ActivationKind =
  | 'geluTanh'
  | 'geluErf'
  | 'silu'
  | 'sigmoid'
  | 'tanh'
  | 'softplus'
  | 'relu'
  | 'none';

const CALLS: Record<ActivationKind, (v: string) => string> = {
  geluTanh: (v) => `gelu_tanh_f32(${v})`,
  geluErf: (v) => `gelu_erf_f32(${v})`,
  silu: (v) => `silu_f32(${v})`,
  sigmoid: (v) => `sigmoid_f32(${v})`,
  tanh: (v) => `tanh_f32(${v})`,
  softplus: (v) => `softplus_f32(${v})`,
  relu: (v) => `max(${v}, 0.0)`,
  none: (v) => `(${v})`,
};

/**
 * A WGSL f32 expression applying `kind` to the f32 expression `v`.
 * @example
 * activationCall('silu', 'acc'); // 'silu_f32(acc)'
 */
export function activationCall(kind: ActivationKind, v: string): string {
  return CALLS[kind](v);
}
