/** A `WeightStore` over one or more safetensors files (tensors read lazily, one at a time). */

import type { SafetensorsReader } from '../io/safetensors.ts';
import type { Tensor } from '../runtime/tensor.ts';
import { type LoadOptions, WeightError, type WeightStore } from './weights.ts';

export class SafetensorsWeightStore implements WeightStore {
  readonly source: string;
  private readonly reader: SafetensorsReader;

  constructor(reader: SafetensorsReader, source: string) {
    this.reader = reader;
    this.source = source;
  }

  names(): string[] {
    return this.reader.names;
  }

  shape(name: string): readonly number[] | undefined {
    return this.reader.has(name) ? this.reader.info(name).shape : undefined;
  }

  private check(name: string): void {
    if (!this.reader.has(name)) throw new WeightError(`${this.source}: no tensor named ${name}`);
  }

  async load(name: string, options: LoadOptions): Promise<Tensor> {
    this.check(name);
    return this.reader.loadTensor(name, { gpu: options.gpu ?? undefined, dtype: options.dtype });
  }

  async readFloat32(name: string): Promise<Float32Array> {
    this.check(name);
    return this.reader.readFloat32(name);
  }

  async close(): Promise<void> {
    await this.reader.close();
  }
}
