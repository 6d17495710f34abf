/**
 * safetensors reading and serialisation (https://github.com/huggingface/safetensors, format section).
 *
 * Layout: 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {str: str}}`, then the data section;
 * offsets are relative to the start of the data section, entries tile it exactly (no gaps, no overlaps, the last
 * one ends at the end of the file). Everything the header says is checked before any tensor is read, so a
 * corrupt or hostile file fails at `open()` with a `SafetensorsError` that names the file, the problem and a fix.
 *
 * Notes
 * - Reads go through a `ByteSource` (file, Blob, memory) one tensor at a time; `loadTensor` streams a tensor in
 *   `LOAD_CHUNK_BYTES` pieces through one reused buffer (`ByteSource.readInto` where the source has it), so host
 *   memory holds at most one chunk (plus its conversion) rather than the checkpoint or even the whole tensor, and
 *   CPU tensors are decoded straight into their own array. Reusing the buffer matters (issue #7): fresh 16 MiB
 *   arrays per chunk cost a page fault per 4 KiB on first touch, ~0.23 GB/s on the 2-core test VM against
 *   ~10 GB/s into touched memory; with that, the F16 -> f16 rounding fix in runtime/dtype.ts and the shortcut
 *   re-read dropped, the full-size stage-1 flow (1.32 GB) loads in 11.6 s instead of 65 s on the CPU backend and
 *   7-10 s instead of 15 s on lavapipe, where Dawn's writeBuffer (0.27 GB/s here) is now two thirds of it.
 * - Same-format uploads (F32 -> f32, F16 -> f16) copy the file bytes to the GPU untouched; other float dtypes
 *   are converted on the CPU (F16 -> f32 through a 64K-entry table, BF16 by a 16-bit shift).
 * - The serialiser reproduces the reference writer's bytes: entries sorted by descending dtype (the reference's
 *   enum order, which keeps every tensor aligned to its element size) then by name, compact JSON with
 *   `__metadata__` first, header padded with spaces to a multiple of 8. The tests check this against byte
 *   vectors from the reference implementation and a file written by Python's `safetensors`.
 * - Measured on lavapipe (2 shared cores, load ~14, file in page cache), 8M-element tensors: F16 -> GPU f16
 *   (raw copy) 4 ms; F32 -> f32 (raw) 87 ms; F16/BF16 -> f32 ~60 ms; F32 -> f16 (packF16) 184 ms; writing a
 *   64 MiB file (F32 + F16 + BF16) 1.0 s. Building BF16 bits with a fresh typed array per value made the same
 *   write take 14 s, hence the scratch arrays in `f32ToBf16Bits`.
 * - Big-endian hosts are rejected (the format is little-endian; every WebGPU platform is little-endian).
 *
 * This module is browser-safe; file writing is in `safetensors.node.ts`.
 */

import {
  bytesPerElement,
  type DType,
  f16DecodeTable,
  f32ToF16Bits,
  packF16,
  roundToDType,
} from '../runtime/dtype.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { type Shape, sameShape, shapeStr } from '../runtime/shape.ts';
import { Tensor } from '../runtime/tensor.ts';
import type { ByteSource } from './byte-source.ts';

/** Element types a safetensors header may name. */
export type SafetensorsDType =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U8'
  | 'BOOL'
  | 'U64'
  | 'U32'
  | 'U16'
  | 'F8_E5M2'
  | 'F8_E4M3';

/** Bytes per element of each dtype. */
export const SAFETENSORS_DTYPE_SIZE: Readonly<Record<SafetensorsDType, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  F8_E5M2: 1,
  F8_E4M3: 1,
};

/** The reference implementation's dtype order (its writer sorts by it, descending). */
const DTYPE_ORDER: readonly SafetensorsDType[] = [
  'BOOL',
  'U8',
  'I8',
  'F8_E5M2',
  'F8_E4M3',
  'I16',
  'U16',
  'F16',
  'BF16',
  'I32',
  'U32',
  'F32',
  'F64',
  'I64',
  'U64',
];

/** Dtypes `readFloat32` and `loadTensor` convert (FP8 is listed by the format but not supported here). */
const FLOAT_DTYPES: ReadonlySet<SafetensorsDType> = new Set(['F64', 'F32', 'F16', 'BF16']);
/** Dtypes `readInt32` converts. */
const INT_DTYPES: ReadonlySet<SafetensorsDType> = new Set([
  'I64',
  'I32',
  'I16',
  'I8',
  'U8',
  'BOOL',
  'U64',
  'U32',
  'U16',
]);

/** Largest header accepted, as in the reference implementation (a guard against hostile lengths). */
export const MAX_HEADER_BYTES = 100_000_000;
/**
 * Upper bound on the bytes read per step when streaming a tensor to the GPU. Steps hold `LOAD_CHUNK_BYTES / 8`
 * elements: whole elements of any dtype, and an even count so packed-f16 writes start on 4-byte boundaries.
 */
export const LOAD_CHUNK_BYTES = 16 << 20;

const METADATA_KEY = '__metadata__';
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A problem with a safetensors file or a request against it; the message names the file, the problem and a fix. */
export class SafetensorsError extends Error {
  readonly file: string;
  constructor(file: string, problem: string, fix: string) {
    super(`${file}: ${problem} — ${fix}`);
    this.name = 'SafetensorsError';
    this.file = file;
  }
}

const FIX_REDOWNLOAD = 're-download it';
const FIX_CORRUPT = 'the file is corrupt or not a safetensors file; re-download or re-export it';

/** One tensor's entry in the header. */
export interface SafetensorsTensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Element count. */
  readonly numel: number;
  /** Absolute byte offset of the data in the file. */
  readonly byteOffset: number;
  readonly byteLength: number;
}

/** Options for `SafetensorsReader.loadTensor`. */
export interface LoadTensorOptions {
  /** Upload to this GPU context; omitted/null = a CPU tensor. */
  gpu?: GpuContext | null;
  /** Storage dtype of the resulting tensor. */
  dtype?: DType;
  /** Fail unless the stored shape equals this. */
  expectShape?: Shape;
  /** Bytes read per step when streaming to a GPU (a positive multiple of 16; tests lower it). */
  chunkBytes?: number;
}

export const LOAD_TENSOR_DEFAULTS: Required<Pick<LoadTensorOptions, 'dtype'>> = { dtype: 'f32' };

/**
 * A validated safetensors header over a `ByteSource`; tensors are read on demand.
 *
 * @example
 * const reader = await SafetensorsReader.open(await FileByteSource.open('ss_flow.safetensors'));
 * const w = await reader.loadTensor('blocks.0.attn.to_qkv.weight', { gpu, dtype: 'f16', expectShape: [3072, 1024] });
 * await reader.close();
 */
export class SafetensorsReader {
  readonly source: ByteSource;
  /** `__metadata__` (empty when absent). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Byte offset of the data section. */
  readonly dataStart: number;
  private readonly entries: Map<string, SafetensorsTensorInfo>;
  private scratchBuf: Uint8Array | null = null;
  private scratchF32: Float32Array | null = null;

  private constructor(
    source: ByteSource,
    entries: Map<string, SafetensorsTensorInfo>,
    metadata: Record<string, string>,
    dataStart: number,
  ) {
    this.source = source;
    this.entries = entries;
    this.metadata = Object.freeze(metadata);
    this.dataStart = dataStart;
  }

  /** Reads and validates the header of `source`. Throws `SafetensorsError` on any inconsistency. */
  static async open(source: ByteSource): Promise<SafetensorsReader> {
    const file = source.name;
    if (!HOST_IS_LITTLE_ENDIAN) {
      throw new SafetensorsError(file, 'this host is big-endian', 'read it on a little-endian machine');
    }
    if (source.size < 8) {
      throw new SafetensorsError(
        file,
        `file is truncated: expected at least 8 bytes (the header length), found ${source.size}`,
        FIX_REDOWNLOAD,
      );
    }
    const head = await source.read(0, 8);
    const n64 = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
    if (n64 > BigInt(MAX_HEADER_BYTES)) {
      throw new SafetensorsError(
        file,
        `header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit`,
        FIX_CORRUPT,
      );
    }
    const n = Number(n64);
    if (8 + n > source.size) {
      throw new SafetensorsError(
        file,
        `file is truncated: expected at least ${8 + n} bytes (8 + a ${n}-byte header), found ${source.size}`,
        FIX_REDOWNLOAD,
      );
    }
    const headerBytes = await source.read(8, n);
    const { entries, metadata } = parseHeader(file, headerBytes, 8 + n, source.size);
    return new SafetensorsReader(source, entries, metadata, 8 + n);
  }

  /** Tensor names in file order. */
  get names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The header entry of `name`; throws a SafetensorsError naming the tensor when absent. */
  info(name: string): SafetensorsTensorInfo {
    const e = this.entries.get(name);
    if (e) return e;
    const near = this.names.filter((k) => k.includes(name.split('.').pop() ?? name)).slice(0, 5);
    throw new SafetensorsError(
      this.source.name,
      `no tensor named '${name}' (the file has ${this.entries.size} tensors${near.length ? `; similar: ${near.join(', ')}` : ''})`,
      'check the checkpoint matches this model and config',
    );
  }

  /** The stored bytes of `name` (little-endian, row-major). */
  readRaw(name: string): Promise<Uint8Array> {
    const e = this.info(name);
    return this.source.read(e.byteOffset, e.byteLength);
  }

  /** Values of a floating-point tensor (F64/F32/F16/BF16) as float32. */
  async readFloat32(name: string): Promise<Float32Array> {
    const e = this.info(name);
    this.assertFloat(e, 'readFloat32', 'use readInt32() or readRaw()');
    return decodeFloats(e.dtype, await this.readRaw(name));
  }

  /** Values of an integer or BOOL tensor as int32; throws when a value does not fit in int32. */
  async readInt32(name: string): Promise<Int32Array> {
    const e = this.info(name);
    if (!INT_DTYPES.has(e.dtype)) {
      throw new SafetensorsError(
        this.source.name,
        `readInt32: tensor '${name}' is ${e.dtype}, not an integer type`,
        'use readFloat32() or readRaw()',
      );
    }
    const out = decodeInts(e.dtype, await this.readRaw(name));
    if (!out) {
      throw new SafetensorsError(
        this.source.name,
        `readInt32: tensor '${name}' (${e.dtype}) holds values outside the int32 range`,
        'read it with readRaw()',
      );
    }
    return out;
  }

  /**
   * A floating-point tensor as a runtime `Tensor` on the CPU or a GPU, converted to `dtype`. On a GPU the data is
   * streamed in chunks straight into the device buffer.
   */
  async loadTensor(name: string, options: LoadTensorOptions = {}): Promise<Tensor> {
    const e = this.info(name);
    const dtype = options.dtype ?? LOAD_TENSOR_DEFAULTS.dtype;
    this.assertFloat(e, 'loadTensor', 'weights must be floating point; read indices with readInt32()');
    if (options.expectShape && !sameShape(e.shape, options.expectShape)) {
      throw new SafetensorsError(
        this.source.name,
        `tensor '${name}' has shape ${shapeStr(e.shape)} but ${shapeStr(options.expectShape)} is expected`,
        'check the checkpoint matches this model and config',
      );
    }
    const gpu = options.gpu ?? null;
    const chunkBytes = options.chunkBytes ?? LOAD_CHUNK_BYTES;
    if (!Number.isSafeInteger(chunkBytes) || chunkBytes <= 0 || chunkBytes % 16 !== 0) {
      throw new Error(`loadTensor: chunkBytes ${chunkBytes} must be a positive multiple of 16`);
    }
    const srcSize = SAFETENSORS_DTYPE_SIZE[e.dtype];
    const chunkElems = chunkBytes / 8;
    const t = Tensor.empty(e.shape, { dtype, gpu });
    try {
      const scratch = this.scratch(Math.min(chunkElems, e.numel) * srcSize);
      for (let first = 0; first < e.numel; first += chunkElems) {
        const count = Math.min(chunkElems, e.numel - first);
        const raw = await this.readChunk(e.byteOffset + first * srcSize, count * srcSize, scratch);
        if (gpu) {
          // writeBuffer copies `raw` before returning (WebGPU spec), so the scratch can be refilled next step.
          gpu.writeBuffer(
            t.buffer,
            first * bytesPerElement(dtype),
            this.encodeForDevice(e.dtype, raw, dtype),
          );
        } else {
          decodeFloatsInto(e.dtype, raw, t.data.subarray(first, first + count));
        }
      }
      // F16/BF16 values are exact in f16 storage only for F16; anything else stored as f16 is rounded once.
      if (!gpu && dtype === 'f16' && e.dtype !== 'F16') roundToDType(t.data, 'f16');
    } catch (err) {
      t.dispose();
      throw err;
    }
    return t;
  }

  /**
   * A reusable read buffer of at least `bytes` (kept for the reader's life, at most one chunk): fresh multi-MiB
   * allocations cost a page fault per 4 KiB on first touch, which on the 2-core test VM made every 16 MiB read
   * ~4x slower than the copy itself.
   */
  private scratch(bytes: number): Uint8Array {
    if (!this.scratchBuf || this.scratchBuf.byteLength < bytes) this.scratchBuf = new Uint8Array(bytes);
    return this.scratchBuf;
  }

  /**
   * Element bytes for the GPU buffer of a `target` tensor from stored bytes of `dtype`: the stored bytes
   * themselves when the formats match, else converted (into a reused f32 scratch when the target is f32).
   */
  private encodeForDevice(dtype: SafetensorsDType, raw: Uint8Array, target: DType): ArrayBufferView {
    if ((dtype === 'F32' && target === 'f32') || (dtype === 'F16' && target === 'f16')) return raw;
    const n = raw.byteLength / SAFETENSORS_DTYPE_SIZE[dtype];
    if (!this.scratchF32 || this.scratchF32.length < n) this.scratchF32 = new Float32Array(n);
    const f32 = this.scratchF32.subarray(0, n);
    decodeFloatsInto(dtype, raw, f32);
    return target === 'f16' ? packF16(f32) : f32;
  }

  /** `length` bytes at `offset`, read into `scratch` when the source supports it (else a fresh array). */
  private async readChunk(offset: number, length: number, scratch: Uint8Array): Promise<Uint8Array> {
    if (!this.source.readInto) return this.source.read(offset, length);
    const view = scratch.subarray(0, length);
    await this.source.readInto(offset, view);
    return view;
  }

  /** Closes the underlying source. */
  async close(): Promise<void> {
    await this.source.close?.();
  }

  private assertFloat(e: SafetensorsTensorInfo, op: string, fix: string): void {
    if (!FLOAT_DTYPES.has(e.dtype)) {
      throw new SafetensorsError(
        this.source.name,
        `${op}: tensor '${e.name}' is ${e.dtype}, not floating point (F64/F32/F16/BF16)`,
        fix,
      );
    }
  }
}

/** `raw` itself when its offset suits typed views of `elementSize`, else an aligned copy. */
function aligned(raw: Uint8Array, elementSize: number): { buf: ArrayBuffer; at: number } {
  if (raw.byteOffset % elementSize === 0) return { buf: raw.buffer as ArrayBuffer, at: raw.byteOffset };
  return { buf: raw.slice().buffer as ArrayBuffer, at: 0 };
}

/** Writes the float32 values of little-endian stored floats into `out` (`raw.byteLength / size` elements). */
export function decodeFloatsInto(dtype: SafetensorsDType, raw: Uint8Array, out: Float32Array): void {
  const size = SAFETENSORS_DTYPE_SIZE[dtype];
  const n = raw.byteLength / size;
  if (out.length !== n) throw new Error(`decodeFloatsInto: ${n} stored values but room for ${out.length}`);
  const { buf, at } = aligned(raw, size);
  switch (dtype) {
    case 'F32':
      out.set(new Float32Array(buf, at, n));
      return;
    case 'F64':
      out.set(new Float64Array(buf, at, n));
      return;
    case 'F16': {
      const bits = new Uint16Array(buf, at, n);
      const lut = f16DecodeTable();
      for (let i = 0; i < n; i++) out[i] = lut[bits[i]];
      return;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const bits = new Uint16Array(buf, at, n);
      const o = new Uint32Array(out.buffer, out.byteOffset, n);
      for (let i = 0; i < n; i++) o[i] = bits[i] << 16;
      return;
    }
    default:
      throw new Error(`decodeFloats: ${dtype} is not a floating-point dtype`);
  }
}

/** float32 values of little-endian stored floats. */
export function decodeFloats(dtype: SafetensorsDType, raw: Uint8Array): Float32Array {
  const size = SAFETENSORS_DTYPE_SIZE[dtype];
  const n = raw.byteLength / size;
  const { buf, at } = aligned(raw, size);
  switch (dtype) {
    case 'F32':
      return new Float32Array(buf, at, n);
    case 'F64':
      return Float32Array.from(new Float64Array(buf, at, n));
    case 'F16': {
      const bits = new Uint16Array(buf, at, n);
      const lut = f16DecodeTable();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = lut[bits[i]];
      return out;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const bits = new Uint16Array(buf, at, n);
      const out = new Uint32Array(n);
      for (let i = 0; i < n; i++) out[i] = bits[i] << 16;
      return new Float32Array(out.buffer);
    }
    default:
      throw new Error(`decodeFloats: ${dtype} is not a floating-point dtype`);
  }
}

/** int32 values of stored integers, or null when one does not fit. */
function decodeInts(dtype: SafetensorsDType, raw: Uint8Array): Int32Array | null {
  const size = SAFETENSORS_DTYPE_SIZE[dtype];
  const n = raw.byteLength / size;
  const { buf, at } = aligned(raw, size);
  switch (dtype) {
    case 'I32':
      return new Int32Array(buf, at, n);
    case 'I16':
      return Int32Array.from(new Int16Array(buf, at, n));
    case 'U16':
      return Int32Array.from(new Uint16Array(buf, at, n));
    case 'I8':
      return Int32Array.from(new Int8Array(buf, at, n));
    case 'U8':
    case 'BOOL':
      return Int32Array.from(new Uint8Array(buf, at, n));
    case 'U32': {
      const v = new Uint32Array(buf, at, n);
      for (let i = 0; i < n; i++) if (v[i] > 0x7fffffff) return null;
      return Int32Array.from(v);
    }
    case 'I64':
    case 'U64': {
      const v = dtype === 'I64' ? new BigInt64Array(buf, at, n) : new BigUint64Array(buf, at, n);
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const x = v[i];
        if (x < -2147483648n || x > 2147483647n) return null;
        out[i] = Number(x);
      }
      return out;
    }
    default:
      return null;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Top-level keys of a JSON object text in order, duplicates included (JSON.parse keeps only the last one, so a
 * duplicated tensor name would otherwise go unnoticed). `text` must already be valid JSON.
 */
export function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    else if (c === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
      if (depth !== 1) continue;
      let j = i + 1;
      while (j < text.length && (text[j] === ' ' || text[j] === '\n' || text[j] === '\r' || text[j] === '\t'))
        j++;
      if (text[j] === ':') keys.push(JSON.parse(text.slice(start, i + 1)) as string);
    }
  }
  return keys;
}

interface ParsedHeader {
  entries: Map<string, SafetensorsTensorInfo>;
  metadata: Record<string, string>;
}

/** Validates a header; `dataStart` is 8 + N and `fileSize` the whole file's size. */
function parseHeader(file: string, bytes: Uint8Array, dataStart: number, fileSize: number): ParsedHeader {
  const fail = (problem: string, fix = FIX_CORRUPT): never => {
    throw new SafetensorsError(file, problem, fix);
  };
  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    fail('header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(json)) fail('header is not a JSON object');
  const root = json as Record<string, unknown>;

  const seen = new Set<string>();
  for (const k of topLevelKeys(text)) {
    if (seen.has(k)) fail(`header lists '${k}' more than once`);
    seen.add(k);
  }

  const metadata: Record<string, string> = {};
  const raw: { name: string; dtype: SafetensorsDType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(root)) {
    if (name === METADATA_KEY) {
      if (!isPlainObject(value)) fail(`${METADATA_KEY} is not an object of strings`);
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`${METADATA_KEY} value '${k}' is ${JSON.stringify(v)}, not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    if (!isPlainObject(value)) fail(`entry '${name}' is not an object`);
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (typeof dtype !== 'string' || !Object.hasOwn(SAFETENSORS_DTYPE_SIZE, dtype)) {
      fail(
        `tensor '${name}' has unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(SAFETENSORS_DTYPE_SIZE).join(', ')})`,
        'convert the checkpoint to a supported dtype',
      );
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(
        `tensor '${name}' has invalid shape ${JSON.stringify(shape)} (need a list of non-negative integers)`,
      );
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      fail(
        `tensor '${name}' has invalid data_offsets ${JSON.stringify(offsets)} (need [begin, end], begin <= end)`,
      );
    }
    const dims = shape as number[];
    const [begin, end] = offsets as number[];
    let count = 1;
    for (const d of dims) {
      count *= d;
      if (!Number.isSafeInteger(count)) fail(`tensor '${name}' shape ${shapeStr(dims)} overflows`);
    }
    const size = SAFETENSORS_DTYPE_SIZE[dtype as SafetensorsDType];
    if (!Number.isSafeInteger(count * size) || count * size !== end - begin) {
      fail(
        `tensor '${name}' (${dtype} ${shapeStr(dims)}) needs ${count * size} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`,
      );
    }
    raw.push({ name, dtype: dtype as SafetensorsDType, shape: dims, begin, end });
  }

  // The entries must tile the data section exactly: sorted by offset, each begins where the previous ended.
  raw.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const dataSize = fileSize - dataStart;
  let cursor = 0;
  let prev = '';
  for (const r of raw) {
    if (r.begin !== cursor) {
      const what = r.begin < cursor ? 'overlaps' : `leaves a gap of ${r.begin - cursor} bytes after`;
      fail(
        `tensor '${r.name}' at data bytes [${r.begin}, ${r.end}] ${what} ${prev ? `tensor '${prev}' (ends at ${cursor})` : 'the start of the data section'}`,
      );
    }
    cursor = r.end;
    prev = r.name;
  }
  if (cursor > dataSize) {
    fail(`file is truncated: expected ${dataStart + cursor} bytes, found ${fileSize}`, FIX_REDOWNLOAD);
  }
  if (cursor < dataSize) {
    fail(`${dataSize - cursor} bytes after the last tensor are not described by the header`);
  }

  const entries = new Map<string, SafetensorsTensorInfo>();
  for (const r of raw) {
    entries.set(r.name, {
      name: r.name,
      dtype: r.dtype,
      shape: Object.freeze([...r.shape]),
      numel: (r.end - r.begin) / SAFETENSORS_DTYPE_SIZE[r.dtype],
      byteOffset: dataStart + r.begin,
      byteLength: r.end - r.begin,
    });
  }
  return { entries, metadata };
}

// ---------------------------------------------------------------------------------------------------------------
// Serialisation

/** A tensor to serialise; `data` is row-major with `numel(shape)` elements. */
export type WritableTensor =
  | { dtype: 'F64'; shape: Shape; data: Float64Array }
  | { dtype: 'F32'; shape: Shape; data: Float32Array }
  /** Float32Array values are rounded to half (nearest even); a Uint16Array is taken as f16 bits. */
  | { dtype: 'F16'; shape: Shape; data: Float32Array | Uint16Array }
  /** Float32Array values are rounded to bfloat16 (nearest even); a Uint16Array is taken as bf16 bits. */
  | { dtype: 'BF16'; shape: Shape; data: Float32Array | Uint16Array }
  | { dtype: 'I64'; shape: Shape; data: BigInt64Array }
  | { dtype: 'I32'; shape: Shape; data: Int32Array }
  | { dtype: 'I16'; shape: Shape; data: Int16Array }
  | { dtype: 'I8'; shape: Shape; data: Int8Array }
  | { dtype: 'U16'; shape: Shape; data: Uint16Array }
  | { dtype: 'U8'; shape: Shape; data: Uint8Array }
  /** Values must be 0 or 1. */
  | { dtype: 'BOOL'; shape: Shape; data: Uint8Array };

const bf16Scratch = new Float32Array(1);
const bf16ScratchBits = new Uint32Array(bf16Scratch.buffer);

/** bfloat16 bits of a float32 value, round to nearest even (NaN stays a quiet NaN). */
export function f32ToBf16Bits(value: number): number {
  bf16Scratch[0] = value;
  const u = bf16ScratchBits[0];
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

function tensorBytes(name: string, t: WritableTensor): Uint8Array {
  const bad = (msg: string): never => {
    throw new Error(`serializeSafetensors: tensor '${name}' ${msg}`);
  };
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) bad(`has invalid shape ${shapeStr(t.shape)}`);
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== n) bad(`has ${t.data.length} values for shape ${shapeStr(t.shape)} (${n})`);
  let view: ArrayBufferView = t.data;
  if ((t.dtype === 'F16' || t.dtype === 'BF16') && t.data instanceof Float32Array) {
    const bits = new Uint16Array(n);
    const conv = t.dtype === 'F16' ? f32ToF16Bits : f32ToBf16Bits;
    for (let i = 0; i < n; i++) bits[i] = conv(t.data[i]);
    view = bits;
  } else if (t.dtype === 'BOOL') {
    for (let i = 0; i < n; i++) if (t.data[i] > 1) bad(`BOOL value ${t.data[i]} at ${i} is not 0 or 1`);
  }
  const expected = n * SAFETENSORS_DTYPE_SIZE[t.dtype];
  if (view.byteLength !== expected) bad(`${t.dtype} data has ${view.byteLength} bytes, expected ${expected}`);
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function compareUtf8(a: string, b: string): number {
  // The reference sorts names by UTF-8 bytes; JS compares UTF-16 units, which differ above U+FFFF.
  const ea = new TextEncoder().encode(a);
  const eb = new TextEncoder().encode(b);
  for (let i = 0; i < Math.min(ea.length, eb.length); i++) if (ea[i] !== eb[i]) return ea[i] - eb[i];
  return ea.length - eb.length;
}

/** A serialised file as its parts: the 8-byte length + padded header, then each tensor's bytes in order. */
export interface SafetensorsParts {
  header: Uint8Array;
  tensors: Uint8Array[];
  totalBytes: number;
}

/** Lays out a file (header and tensor byte order) without concatenating the data. */
export function planSafetensors(
  tensors: Record<string, WritableTensor>,
  metadata?: Record<string, string>,
): SafetensorsParts {
  if (!HOST_IS_LITTLE_ENDIAN) throw new Error('serializeSafetensors: big-endian hosts are not supported');
  if (Object.hasOwn(tensors, METADATA_KEY)) {
    throw new Error(`serializeSafetensors: '${METADATA_KEY}' is reserved and cannot name a tensor`);
  }
  const items = Object.entries(tensors).map(([name, t]) => ({ name, t, bytes: tensorBytes(name, t) }));
  items.sort(
    (a, b) => DTYPE_ORDER.indexOf(b.t.dtype) - DTYPE_ORDER.indexOf(a.t.dtype) || compareUtf8(a.name, b.name),
  );
  const fields: string[] = [];
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`serializeSafetensors: metadata '${k}' is not a string`);
    }
    fields.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  for (const it of items) {
    const end = offset + it.bytes.byteLength;
    fields.push(
      `${JSON.stringify(it.name)}:{"dtype":"${it.t.dtype}","shape":[${it.t.shape.join(',')}],"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = new TextEncoder().encode(`{${fields.join(',')}}`);
  const n = Math.ceil(json.byteLength / 8) * 8;
  const header = new Uint8Array(8 + n).fill(0x20, 8);
  new DataView(header.buffer).setBigUint64(0, BigInt(n), true);
  header.set(json, 8);
  return { header, tensors: items.map((it) => it.bytes), totalBytes: header.byteLength + offset };
}

/**
 * The bytes of a safetensors file holding `tensors` (and `metadata` as `__metadata__`), laid out as the
 * reference writer does. For files on disk use `writeSafetensors` (safetensors.node.ts), which streams.
 * @example
 * const bytes = serializeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } });
 */
export function serializeSafetensors(
  tensors: Record<string, WritableTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const plan = planSafetensors(tensors, metadata);
  const out = new Uint8Array(plan.totalBytes);
  out.set(plan.header, 0);
  let at = plan.header.byteLength;
  for (const t of plan.tensors) {
    out.set(t, at);
    at += t.byteLength;
  }
  return out;
}
