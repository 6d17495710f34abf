/**
 * Elementwise binary arithmetic with broadcasting: add, sub, mul, div, and `x * (1 + y)` (adaLN scale).
 *
 * The result takes the dtype of `a` (pass `dtype` to override); arithmetic is f32 on both backends, the result
 * is rounded to the output dtype. Large tensors are split into chunks under the storage-binding limit; broadcast
 * operands are bound whole (they are small in every model here: biases, modulation vectors).
 *
 * @example
 * const y = add(x, bias); // x [B, L, C] + bias [C]
 */

import { alignedRows, binding, planRowChunks, splitWorkgroups } from '../../runtime/chunk.ts';
import { bytesPerElement, type DType } from '../../runtime/dtype.ts';
import {
  broadcastShapes,
  broadcastStrides,
  type Shape,
  ShapeError,
  sameShape,
  shapeStr,
} from '../../runtime/shape.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { enablesFor, specialize, templateKey } from '../../runtime/wgsl.ts';
import { WGSL } from '../wgsl.generated.ts';
import { type BinaryFn, binaryCpu } from './binary.cpu.ts';

const MAX_RANK = 8;
const WORKGROUP = 256;

export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'mulOnePlus';

const CPU_FNS: Record<BinaryOp, BinaryFn> = {
  add: (x, y) => x + y,
  sub: (x, y) => x - y,
  mul: (x, y) => x * y,
  div: (x, y) => x / y,
  mulOnePlus: (x, y) => x * (1 + y),
};

const WGSL_EXPRS: Record<BinaryOp, string> = {
  add: 'x + y',
  sub: 'x - y',
  mul: 'x * y',
  div: 'x / y',
  mulOnePlus: 'x * (1.0 + y)',
};

export interface BinaryOptions {
  /** Output dtype; defaults to the dtype of `a`. */
  dtype?: DType;
}

export function binary(op: BinaryOp, a: Tensor, b: Tensor, options: BinaryOptions = {}): Tensor {
  if (a.device !== b.device) {
    throw new ShapeError(op, `operands are on different devices (${a.device} and ${b.device})`);
  }
  const outShape = broadcastShapes(op, a.shape, b.shape);
  if (outShape.length > MAX_RANK) throw new ShapeError(op, `rank ${outShape.length} exceeds ${MAX_RANK}`);
  const dtype = options.dtype ?? a.dtype;
  if (!a.gpu) {
    const data = binaryCpu(a.data, a.shape, b.data, b.shape, outShape, dtype, CPU_FNS[op]);
    return Tensor.fromArray(data, outShape, { dtype });
  }
  return binaryGpu(op, a, b, outShape, dtype);
}

function packDims(v: readonly number[]): Uint32Array {
  const out = new Uint32Array(MAX_RANK);
  out.set(v);
  return out;
}

function binaryGpu(op: BinaryOp, a: Tensor, b: Tensor, outShape: Shape, dtype: DType): Tensor {
  const gpu = a.gpu!;
  if ((a.dtype === 'f16' || b.dtype === 'f16' || dtype === 'f16') && !gpu.features.f16) {
    throw new Error(`${op}: f16 tensors need the shader-f16 feature, which this adapter lacks`);
  }
  const out = Tensor.empty(outShape, { dtype, gpu });
  const aB = !sameShape(a.shape, outShape);
  const bB = !sameShape(b.shape, outShape);
  const vars = {
    TA: a.dtype,
    TB: b.dtype,
    TO: dtype,
    EXPR: WGSL_EXPRS[op],
    A_BCAST: aB,
    B_BCAST: bB,
  };
  const code = specialize(WGSL['ops/elementwise/binary'], vars, enablesFor(a.dtype, b.dtype, dtype));
  const pipeline = gpu.pipeline(templateKey('binary', vars), code);
  for (const [t, bc] of [
    [a, aB],
    [b, bB],
  ] as const) {
    if (bc && t.byteLength > gpu.maxBinding) {
      throw new ShapeError(op, `broadcast operand ${shapeStr(t.shape)} exceeds the storage binding limit`);
    }
  }
  const n = out.size;
  const sizes = [dtype, ...(aB ? [] : [a.dtype]), ...(bB ? [] : [b.dtype])].map(bytesPerElement);
  const align = Math.max(...sizes.map((s) => alignedRows(s, gpu.offsetAlignment)));
  const chunks = planRowChunks(op, n, sizes, gpu.maxBinding, align);
  const header = new Uint32Array(4);
  const aStr = packDims(broadcastStrides(a.shape, outShape));
  const bStr = packDims(broadcastStrides(b.shape, outShape));
  const shp = packDims(outShape);
  for (const c of chunks) {
    if (c.count === 0) continue;
    const [nx, ny] = splitWorkgroups(
      Math.ceil(c.count / WORKGROUP),
      gpu.limits.maxComputeWorkgroupsPerDimension,
    );
    header.set([c.count, c.start, outShape.length, nx]);
    const params = new Uint32Array(4 + 3 * MAX_RANK);
    params.set(header, 0);
    params.set(shp, 4);
    params.set(aStr, 4 + MAX_RANK);
    params.set(bStr, 4 + 2 * MAX_RANK);
    const window = (t: Tensor, bc: boolean) => (bc ? binding(t) : binding(t, c.start, c.count));
    gpu.dispatch(pipeline, [window(a, aB), window(b, bB), window(out, false), gpu.uniform(params)], [nx, ny]);
  }
  return out;
}

export const add = (a: Tensor, b: Tensor, o?: BinaryOptions): Tensor => binary('add', a, b, o);
export const sub = (a: Tensor, b: Tensor, o?: BinaryOptions): Tensor => binary('sub', a, b, o);
export const mul = (a: Tensor, b: Tensor, o?: BinaryOptions): Tensor => binary('mul', a, b, o);
export const div = (a: Tensor, b: Tensor, o?: BinaryOptions): Tensor => binary('div', a, b, o);
/** `a * (1 + b)`: the adaLN scale modulation. */
export const mulOnePlus = (a: Tensor, b: Tensor, o?: BinaryOptions): Tensor => binary('mulOnePlus', a, b, o);
