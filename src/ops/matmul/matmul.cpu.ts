/**
 * CPU twin of the matmul kernels: the oracle in tests and the fallback without a GPU.
 *
 * Accumulation is in f64 (plain JS numbers), not f32: as an oracle the twin should sit as close to the exact
 * product as is cheap, so a test measures the GPU's f32 accumulation error against (almost) the truth instead of
 * against another f32 summation order. The epilogue (alpha, bias, activation) also runs in f64 and the result is
 * rounded once to the output dtype, where the GPU rounds its f32 value once.
 *
 * Loop order: for b [K, N] (no transB) the inner loop runs along n over a contiguous row of b into an f64 row
 * accumulator (i-k-j order); for b [N, K] (transB) it is a contiguous dot product along k. Both stream memory.
 */

import { type DType, roundToDType } from '../../runtime/dtype.ts';
import { broadcastStrides, contiguousStrides, numel, type Shape } from '../../runtime/shape.ts';

export type MatmulActivation = 'none' | 'gelu_tanh' | 'gelu_erf' | 'silu';

/** Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7), the same form the kernels use (WGSL has no erf). */
export function erfApprox(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * z);
  const poly =
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
  return Math.sign(x) * (1 - poly * Math.exp(-z * z));
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** The epilogue activations, as PyTorch defines them (GELU tanh form, GELU erf form, SiLU). */
export const ACTIVATIONS: Record<MatmulActivation, (x: number) => number> = {
  none: (x) => x,
  gelu_tanh: (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))),
  gelu_erf: (x) => 0.5 * x * (1 + erfApprox(x * Math.SQRT1_2)),
  silu: (x) => x / (1 + Math.exp(-x)),
};

export interface MatmulCpuArgs {
  a: Float32Array;
  aShape: Shape;
  b: Float32Array;
  bShape: Shape;
  /** Broadcast batch shape of the output (without M, N). */
  batchShape: Shape;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  alpha: number;
  bias: Float32Array | null;
  activation: MatmulActivation;
  outDtype: DType;
}

/** Element offset of batch `i` (flattened over `batchShape`) in an operand whose batch dims are `opBatch`. */
function batchOffsets(opBatch: Shape, batchShape: Shape, matSize: number): number[] {
  const strides = broadcastStrides(opBatch, batchShape);
  const n = numel(batchShape);
  const outStrides = contiguousStrides(batchShape);
  const offs = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let o = 0;
    for (let d = 0; d < batchShape.length; d++) {
      const c = Math.floor(rem / outStrides[d]);
      rem -= c * outStrides[d];
      o += c * strides[d];
    }
    offs[i] = o * matSize;
  }
  return offs;
}

/** Batched `alpha * op(a) @ op(b) + bias`, then the activation; returns [...batchShape, M, N] row-major. */
export function matmulCpu(args: MatmulCpuArgs): Float32Array {
  const { a, b, M, N, K, transA, transB, alpha, bias } = args;
  const act = ACTIVATIONS[args.activation];
  const batches = numel(args.batchShape);
  const out = new Float32Array(batches * M * N);
  const aOffs = batchOffsets(args.aShape.slice(0, -2), args.batchShape, M * K);
  const bOffs = batchOffsets(args.bShape.slice(0, -2), args.batchShape, K * N);
  const row = new Float64Array(N);
  const aRow = new Float64Array(K);
  for (let bi = 0; bi < batches; bi++) {
    const ao = aOffs[bi];
    const bo = bOffs[bi];
    for (let m = 0; m < M; m++) {
      // Gather row m of op(a) once (a strided column when transA).
      for (let k = 0; k < K; k++) aRow[k] = transA ? a[ao + k * M + m] : a[ao + m * K + k];
      if (transB) {
        for (let n = 0; n < N; n++) {
          const base = bo + n * K;
          let s = 0;
          for (let k = 0; k < K; k++) s += aRow[k] * b[base + k];
          row[n] = s;
        }
      } else {
        row.fill(0);
        for (let k = 0; k < K; k++) {
          const av = aRow[k];
          const base = bo + k * N;
          for (let n = 0; n < N; n++) row[n] += av * b[base + n];
        }
      }
      const o = (bi * M + m) * N;
      for (let n = 0; n < N; n++) {
        let v = alpha * row[n];
        if (bias) v += bias[n];
        out[o + n] = act(v);
      }
    }
  }
  return roundToDType(out, args.outDtype);
}
