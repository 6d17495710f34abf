/**
 * Where model weights come from, and the up-front key/shape check every model runs before loading.
 *
 * A `WeightStore` is anything that can list tensors with shapes and load one at a time (a safetensors file, a
 * fixture's regenerated weights, an in-memory map). Models declare the exact key -> shape table the official
 * PyTorch module has (strict `load_state_dict`), and `checkWeights` reports every missing, unexpected and
 * mis-shaped key in one error, so a user sees the whole problem at once.
 */

import type { DType } from '../runtime/dtype.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { numel, shapeStr } from '../runtime/shape.ts';
import { Tensor } from '../runtime/tensor.ts';

export interface LoadOptions {
  gpu: GpuContext | null;
  dtype: DType;
}

export interface WeightStore {
  /** Human-readable origin (file path) for error messages. */
  readonly source: string;
  names(): string[];
  shape(name: string): readonly number[] | undefined;
  /** Loads one tensor to the CPU or GPU in the requested dtype. */
  load(name: string, options: LoadOptions): Promise<Tensor>;
  /** Raw f32 values (for tensors a model folds or preprocesses on the CPU at load time). */
  readFloat32(name: string): Promise<Float32Array>;
}

export class WeightError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WeightError';
  }
}

/** Throws one WeightError listing every missing, unexpected and mis-shaped key. */
export function checkWeights(
  store: WeightStore,
  expected: ReadonlyMap<string, readonly number[]>,
  what: string,
): void {
  const have = new Set(store.names());
  const missing = [...expected.keys()].filter((k) => !have.has(k));
  const unexpected = [...have].filter((k) => !expected.has(k));
  const mismatched: string[] = [];
  for (const [k, shape] of expected) {
    const s = store.shape(k);
    if (s && (s.length !== shape.length || s.some((d, i) => d !== shape[i]))) {
      mismatched.push(`${k}: file has ${shapeStr(s)}, ${what} expects ${shapeStr(shape)}`);
    }
  }
  if (missing.length + unexpected.length + mismatched.length === 0) return;
  const list = (title: string, xs: string[]) =>
    xs.length
      ? `\n  ${title} (${xs.length}):\n    ${xs.slice(0, 40).join('\n    ')}${xs.length > 40 ? '\n    ...' : ''}`
      : '';
  throw new WeightError(
    `${store.source}: the weights do not match ${what}.` +
      list('missing keys', missing) +
      list('unexpected keys', unexpected) +
      list('shape mismatches', mismatched) +
      '\n  Check that the checkpoint and its .json config belong together (same stem), and that the file is complete.',
  );
}

/** An in-memory store (fixtures, tests, converted checkpoints). */
export class MapWeightStore implements WeightStore {
  readonly source: string;
  private readonly tensors: Map<string, { shape: readonly number[]; data: Float32Array }>;

  constructor(
    tensors: Map<string, { shape: readonly number[]; data: Float32Array }>,
    source = 'in-memory weights',
  ) {
    this.tensors = tensors;
    this.source = source;
    for (const [k, t] of tensors) {
      if (numel(t.shape) !== t.data.length)
        throw new WeightError(`${source}: ${k} has ${t.data.length} values for ${shapeStr(t.shape)}`);
    }
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  shape(name: string): readonly number[] | undefined {
    return this.tensors.get(name)?.shape;
  }

  private get(name: string): { shape: readonly number[]; data: Float32Array } {
    const t = this.tensors.get(name);
    if (!t) throw new WeightError(`${this.source}: no tensor named ${name}`);
    return t;
  }

  async load(name: string, options: LoadOptions): Promise<Tensor> {
    const t = this.get(name);
    return Tensor.fromArray(t.data, t.shape, { dtype: options.dtype, gpu: options.gpu });
  }

  async readFloat32(name: string): Promise<Float32Array> {
    return this.get(name).data;
  }
}
