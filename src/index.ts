/**
 * amodal3r library entry: the runtime (Tensor, GpuContext), the ops and safetensors reading.
 *
 * This entry is browser-safe. Node-only helpers (files by path, atomic writes) live in `src/io/*.node.ts` and
 * `src/io/atomic-write.ts` and are imported from there.
 *
 * @example
 * import { GpuContext, Tensor, add, SafetensorsReader, blobSource } from 'amodal3r';
 * const gpu = await GpuContext.create();
 * const reader = await SafetensorsReader.open(blobSource(file));
 * const w = await reader.loadTensor('out_layer.weight', { gpu, dtype: 'f16' });
 */

// I/O
export { type ByteSource, blobSource, bytesSource } from './io/byte-source.ts';
export {
  type LoadTensorOptions,
  type SafetensorsDType,
  SafetensorsError,
  SafetensorsReader,
  type SafetensorsTensorInfo,
  serializeSafetensors,
  type WritableTensor,
} from './io/safetensors.ts';
// Ops
export {
  add,
  type BinaryOp,
  type BinaryOptions,
  binary,
  div,
  mul,
  mulOnePlus,
  sub,
} from './ops/elementwise/binary.ts';
export {
  abs,
  cast,
  erf,
  exp,
  type GeluOptions,
  gelu,
  log,
  neg,
  relu,
  scaleShift,
  sigmoid,
  silu,
  softplus,
  sqrt,
  tanh,
  type UnaryOp,
  type UnaryOptions,
  unary,
} from './ops/elementwise/unary.ts';
export { type SoftmaxOptions, softmax } from './ops/softmax/softmax.ts';
// Runtime
export { bytesPerElement, type DType, packF16, roundF16, unpackF16 } from './runtime/dtype.ts';
export {
  GPU_CONTEXT_DEFAULTS,
  GPU_HELP,
  GpuContext,
  type GpuContextOptions,
  type GpuFeatures,
  getGpu,
  type SubgroupMatrixConfig,
} from './runtime/gpu.ts';
export { numel, type Shape, ShapeError, shapeStr } from './runtime/shape.ts';
export { type DeviceKind, Tensor, type TensorInit } from './runtime/tensor.ts';
