/**
 * A dense, contiguous, row-major tensor on the CPU or on a WebGPU device.
 *
 * - CPU storage is always a Float32Array; `f16` CPU tensors hold half-rounded values (see dtype.ts).
 * - GPU storage is a pooled GPUBuffer holding `array<f32>` or packed `array<f16>`; the buffer may be larger
 *   than the tensor (pool buckets). Ops return new tensors; release intermediates with `dispose()`.
 *
 * Views (permute, slice) are materialised by ops, so every tensor is contiguous: kernels index with plain
 * row-major strides and stay simple.
 *
 * @example
 * const gpu = await GpuContext.create();
 * const a = Tensor.fromArray([1, 2, 3, 4], [2, 2], { gpu });
 * console.log(await a.toArray()); // Float32Array [1, 2, 3, 4]
 */

import { bytesPerElement, type DType, packF16, roundToDType, unpackF16 } from './dtype.ts';
import type { GpuContext } from './gpu.ts';
import { assertValidShape, numel, type Shape, ShapeError, shapeStr } from './shape.ts';

export type DeviceKind = 'cpu' | 'webgpu';

export interface TensorInit {
  dtype?: DType;
  /** Put the tensor on this GPU context; omitted = CPU. */
  gpu?: GpuContext | null;
}

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly size: number;
  private cpuData: Float32Array | null;
  private gpuBuffer: GPUBuffer | null;
  readonly gpu: GpuContext | null;
  private disposed = false;

  private constructor(
    shape: Shape,
    dtype: DType,
    cpu: Float32Array | null,
    gpu: GpuContext | null,
    buffer: GPUBuffer | null,
  ) {
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = numel(shape);
    this.cpuData = cpu;
    this.gpu = gpu;
    this.gpuBuffer = buffer;
  }

  get device(): DeviceKind {
    return this.gpu ? 'webgpu' : 'cpu';
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Bytes the elements occupy in GPU storage. */
  get byteLength(): number {
    return this.size * bytesPerElement(this.dtype);
  }

  /** CPU values (shared, not copied). Throws for GPU tensors: use `toArray()`. */
  get data(): Float32Array {
    this.assertLive();
    if (!this.cpuData)
      throw new Error(`Tensor ${shapeStr(this.shape)} lives on the GPU; read it with toArray()`);
    return this.cpuData;
  }

  /** The GPU buffer. Throws for CPU tensors. */
  get buffer(): GPUBuffer {
    this.assertLive();
    if (!this.gpuBuffer)
      throw new Error(`Tensor ${shapeStr(this.shape)} lives on the CPU; it has no GPU buffer`);
    return this.gpuBuffer;
  }

  private assertLive(): void {
    if (this.disposed) throw new Error(`Tensor ${shapeStr(this.shape)} was used after dispose()`);
  }

  /** A tensor from values; values are rounded to `dtype`. */
  static fromArray(values: Float32Array | readonly number[], shape: Shape, init: TensorInit = {}): Tensor {
    assertValidShape('Tensor.fromArray', shape);
    const dtype = init.dtype ?? 'f32';
    const n = numel(shape);
    if (values.length !== n) {
      throw new ShapeError(
        'Tensor.fromArray',
        `${values.length} values do not fill shape ${shapeStr(shape)} (${n})`,
      );
    }
    if (!init.gpu) return new Tensor(shape, dtype, roundToDType(copyF32(values), dtype), null, null);
    // upload() rounds f16 while packing and copies through writeBuffer: no CPU-side copy needed here.
    const t = Tensor.empty(shape, { dtype, gpu: init.gpu });
    t.upload(values instanceof Float32Array ? values : Float32Array.from(values));
    return t;
  }

  /** A tensor with unspecified contents (zeros on the CPU). */
  static empty(shape: Shape, init: TensorInit = {}): Tensor {
    assertValidShape('Tensor.empty', shape);
    const dtype = init.dtype ?? 'f32';
    const n = numel(shape);
    if (!init.gpu) return new Tensor(shape, dtype, new Float32Array(n), null, null);
    const buffer = init.gpu.allocBuffer(Math.max(4, n * bytesPerElement(dtype)));
    return new Tensor(shape, dtype, null, init.gpu, buffer);
  }

  static zeros(shape: Shape, init: TensorInit = {}): Tensor {
    return Tensor.fromArray(new Float32Array(numel(shape)), shape, init);
  }

  /** Wraps an existing GPU buffer (ownership passes to the tensor). */
  static fromBuffer(buffer: GPUBuffer, shape: Shape, dtype: DType, gpu: GpuContext): Tensor {
    assertValidShape('Tensor.fromBuffer', shape);
    if (numel(shape) * bytesPerElement(dtype) > buffer.size) {
      throw new ShapeError(
        'Tensor.fromBuffer',
        `buffer of ${buffer.size} bytes is too small for ${shapeStr(shape)}`,
      );
    }
    return new Tensor(shape, dtype, null, gpu, buffer);
  }

  /** Overwrites GPU contents with `values` (already in this tensor's element order). */
  upload(values: Float32Array, elementOffset = 0): void {
    const gpu = this.gpu;
    if (!gpu) {
      this.data.set(roundToDType(copyF32(values), this.dtype), elementOffset);
      return;
    }
    if (this.dtype === 'f16') {
      // Packed f16 pairs share a 32-bit word; writes must start on an even element.
      if (elementOffset % 2 !== 0)
        throw new Error('Tensor.upload: f16 uploads must start at an even element');
      gpu.writeBuffer(this.buffer, elementOffset * 2, packF16(values));
    } else {
      gpu.writeBuffer(this.buffer, elementOffset * 4, values);
    }
  }

  /** Copies the values to a new Float32Array (reads back from the GPU). */
  async toArray(): Promise<Float32Array> {
    this.assertLive();
    if (!this.gpu) return Float32Array.from(this.data);
    const bytes = await this.gpu.readBuffer(this.buffer, 0, this.byteLength);
    if (this.dtype === 'f16') return unpackF16(new Uint16Array(bytes, 0, this.size));
    return new Float32Array(bytes, 0, this.size);
  }

  /** Same data under another shape with the same element count (no copy; shares storage). */
  reshape(shape: Shape): Tensor {
    this.assertLive();
    const resolved = resolveReshape(this.shape, shape);
    return new Tensor(resolved, this.dtype, this.cpuData, this.gpu, this.gpuBuffer);
  }

  /** Copies the tensor to the CPU. */
  async toCpu(): Promise<Tensor> {
    if (!this.gpu) return this;
    return new Tensor(this.shape, this.dtype, await this.toArray(), null, null);
  }

  /** Copies the tensor to a GPU context. */
  toGpu(gpu: GpuContext): Tensor {
    if (this.gpu === gpu) return this;
    if (this.gpu) throw new Error('Tensor.toGpu: moving between GPU contexts is not supported');
    return Tensor.fromArray(this.data, this.shape, { dtype: this.dtype, gpu });
  }

  /**
   * Releases the storage (GPU buffer back to the pool). Reshaped aliases share storage: dispose only one of them.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.gpu && this.gpuBuffer) this.gpu.releaseBuffer(this.gpuBuffer);
    this.gpuBuffer = null;
    this.cpuData = null;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  toString(): string {
    return `Tensor(${shapeStr(this.shape)}, ${this.dtype}, ${this.device})`;
  }
}

/** Resolves a reshape target (one -1 allowed) against a source shape. */
export function resolveReshape(from: Shape, to: Shape): number[] {
  const n = numel(from);
  const out = [...to];
  const neg = out.indexOf(-1);
  if (neg >= 0) {
    const rest = numel(out.filter((_, i) => i !== neg));
    if (rest === 0 || n % rest !== 0) {
      throw new ShapeError('reshape', `cannot reshape ${shapeStr(from)} to ${shapeStr(to)}`);
    }
    out[neg] = n / rest;
  }
  assertValidShape('reshape', out);
  if (numel(out) !== n)
    throw new ShapeError('reshape', `cannot reshape ${shapeStr(from)} to ${shapeStr(to)}`);
  return out;
}

/**
 * A fresh Float32Array copy. `slice()` for typed arrays: `Float32Array.from` goes through the iterator protocol
 * and was ~3x slower on 64 MiB arrays (issue #7 weight-loading profile).
 */
function copyF32(values: Float32Array | readonly number[]): Float32Array {
  return values instanceof Float32Array ? values.slice() : Float32Array.from(values);
}
