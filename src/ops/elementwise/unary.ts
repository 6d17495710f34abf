/**
 * Elementwise unary ops: activations (GELU tanh/erf, SiLU, sigmoid, tanh, softplus, ReLU), math (exp, log, sqrt,
 * neg, abs), `x * alpha + beta`, and dtype casts. One WGSL template (`unary.wgsl`) with the op's f32 expression
 * spliced in; the result is rounded once to the output dtype (the input's, unless `cast` or `dtype` says
 * otherwise). Large tensors are split into chunks under the storage-binding limit.
 *
 * Formulas follow PyTorch's kernels: GELU tanh = `0.5x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`, GELU exact =
 * `0.5x (1 + erf(x / sqrt 2))` with a fitted f32 erf (src/ops/activation/erf.ts), softplus with threshold 20.
 * SiLU is `x * sigmoid(x)` with an overflow-free sigmoid (PyTorch writes `x / (1 + exp(-x))`: within 1-2 ulp).
 *
 * @example
 * const h = gelu(x, { approximate: 'tanh' });
 * const y16 = cast(y, 'f16');
 */

import { alignedRows, binding, planRowChunks, splitWorkgroups } from '../../runtime/chunk.ts';
import { bytesPerElement, type DType } from '../../runtime/dtype.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { enablesFor, specialize, templateKey } from '../../runtime/wgsl.ts';
import { ACTIVATION_WGSL } from '../activation/activation.ts';
import { erfF32 } from '../activation/erf.ts';
import { WGSL } from '../wgsl.generated.ts';
import { geluErfF32, geluTanhF32, sigmoidF32, softplusF32, tanhF32, unaryCpu } from './unary.cpu.ts';

const WORKGROUP = 256;
const f = Math.fround;

export type UnaryOp =
  | 'geluTanh'
  | 'geluErf'
  | 'erf'
  | 'silu'
  | 'sigmoid'
  | 'tanh'
  | 'softplus'
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'neg'
  | 'abs'
  | 'relu'
  | 'scaleShift'
  | 'identity';

/** CPU formulas; `a`, `b` are alpha and beta of scaleShift. */
const CPU_FNS: Record<UnaryOp, (x: number, a: number, b: number) => number> = {
  geluTanh: geluTanhF32,
  geluErf: geluErfF32,
  erf: erfF32,
  silu: (x) => f(x * sigmoidF32(x)),
  sigmoid: sigmoidF32,
  tanh: tanhF32,
  softplus: softplusF32,
  exp: (x) => f(Math.exp(x)),
  log: (x) => f(Math.log(x)),
  sqrt: (x) => f(Math.sqrt(x)),
  neg: (x) => -x,
  abs: (x) => Math.abs(x),
  relu: (x) => Math.max(x, 0),
  scaleShift: (x, a, b) => f(f(x * a) + b),
  identity: (x) => x,
};

const WGSL_EXPRS: Record<UnaryOp, string> = {
  geluTanh: 'gelu_tanh_f32(x)',
  geluErf: 'gelu_erf_f32(x)',
  erf: 'erf_f32(x)',
  silu: 'silu_f32(x)',
  sigmoid: 'sigmoid_f32(x)',
  tanh: 'tanh_f32(x)',
  softplus: 'softplus_f32(x)',
  exp: 'exp(x)',
  log: 'log(x)',
  sqrt: 'sqrt(x)',
  neg: '-x',
  abs: 'abs(x)',
  relu: 'max(x, 0.0)',
  scaleShift: 'x * alpha + beta',
  identity: 'x',
};

export interface UnaryOptions {
  /** Output dtype; defaults to the input's. */
  dtype?: DType;
  /** `scaleShift` only: multiplier. */
  alpha?: number;
  /** `scaleShift` only: addend. */
  beta?: number;
}

/**
 * Applies a unary op elementwise (f32 arithmetic, one rounding to the output dtype).
 * @example
 * const y = unary('silu', x);
 */
export function unary(op: UnaryOp, x: Tensor, options: UnaryOptions = {}): Tensor {
  const dtype = options.dtype ?? x.dtype;
  const alpha = f(options.alpha ?? 1);
  const beta = f(options.beta ?? 0);
  if (!x.gpu) {
    const fn = CPU_FNS[op];
    return Tensor.fromArray(
      unaryCpu(x.data, dtype, (v) => fn(v, alpha, beta)),
      x.shape,
      { dtype },
    );
  }
  return unaryGpu(op, x, dtype, alpha, beta);
}

function unaryGpu(op: UnaryOp, x: Tensor, dtype: DType, alpha: number, beta: number): Tensor {
  const gpu = x.gpu!;
  if ((x.dtype === 'f16' || dtype === 'f16') && !gpu.features.f16) {
    throw new Error(`${op}: f16 tensors need the shader-f16 feature, which this adapter lacks`);
  }
  const out = Tensor.empty(x.shape, { dtype, gpu });
  const vars = { TI: x.dtype, TO: dtype, EXPR: WGSL_EXPRS[op] };
  const code = specialize(
    WGSL['ops/elementwise/unary'],
    { ...vars, ACTIVATIONS: ACTIVATION_WGSL },
    enablesFor(x.dtype, dtype),
  );
  const pipeline = gpu.pipeline(templateKey('unary', vars), code);
  const sizes = [x.dtype, dtype].map(bytesPerElement);
  const align = Math.max(...sizes.map((s) => alignedRows(s, gpu.offsetAlignment)));
  const params = new ArrayBuffer(16);
  const u32 = new Uint32Array(params);
  const f32 = new Float32Array(params);
  for (const c of planRowChunks(op, x.size, sizes, gpu.maxBinding, align)) {
    if (c.count === 0) continue;
    const [nx, ny] = splitWorkgroups(
      Math.ceil(c.count / WORKGROUP),
      gpu.limits.maxComputeWorkgroupsPerDimension,
    );
    u32[0] = c.count;
    u32[1] = nx;
    f32[2] = alpha;
    f32[3] = beta;
    gpu.dispatch(
      pipeline,
      [binding(x, c.start, c.count), binding(out, c.start, c.count), gpu.uniform(params)],
      [nx, ny],
    );
  }
  return out;
}

export interface GeluOptions {
  /** 'tanh' (TRELLIS/Amodal3R MLPs) or 'none' = exact erf (DINOv2). Default 'none', like PyTorch. */
  approximate?: 'tanh' | 'none';
  dtype?: DType;
}

/**
 * GELU, PyTorch semantics.
 * @example
 * const h = gelu(x, { approximate: 'tanh' });
 */
export function gelu(x: Tensor, options: GeluOptions = {}): Tensor {
  const op = (options.approximate ?? 'none') === 'tanh' ? 'geluTanh' : 'geluErf';
  return unary(op, x, { dtype: options.dtype });
}

/** Converts to another storage dtype (one rounding). @example const h = cast(x, 'f16'); */
export function cast(x: Tensor, dtype: DType): Tensor {
  return unary('identity', x, { dtype });
}

/** `x * alpha + beta` in f32. @example const y = scaleShift(x, 2, -1); */
export function scaleShift(x: Tensor, alpha: number, beta: number, options: { dtype?: DType } = {}): Tensor {
  if (!Number.isFinite(alpha) || !Number.isFinite(beta)) {
    throw new Error(`scaleShift: alpha and beta must be finite (got ${alpha}, ${beta})`);
  }
  return unary('scaleShift', x, { ...options, alpha, beta });
}

type Simple = (x: Tensor, options?: { dtype?: DType }) => Tensor;
const simple =
  (op: UnaryOp): Simple =>
  (x, options = {}) =>
    unary(op, x, options);

/** `x * sigmoid(x)`. @example const y = silu(x); */
export const silu: Simple = simple('silu');
/** `1 / (1 + exp(-x))`. @example const y = sigmoid(x); */
export const sigmoid: Simple = simple('sigmoid');
/** @example const y = tanh(x); */
export const tanh: Simple = simple('tanh');
/** `log(1 + exp(x))`, `x` above 20 (PyTorch default). @example const y = softplus(x); */
export const softplus: Simple = simple('softplus');
/** @example const y = exp(x); */
export const exp: Simple = simple('exp');
/** Natural log. @example const y = log(x); */
export const log: Simple = simple('log');
/** @example const y = sqrt(x); */
export const sqrt: Simple = simple('sqrt');
/** @example const y = neg(x); */
export const neg: Simple = simple('neg');
/** @example const y = abs(x); */
export const abs: Simple = simple('abs');
/** `max(x, 0)`. @example const y = relu(x); */
export const relu: Simple = simple('relu');
/** Error function (f32 fit, 1.3e-7 abs). @example const y = erf(x); */
export const erf: Simple = simple('erf');
