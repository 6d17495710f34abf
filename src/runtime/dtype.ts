/**
 * Element types of the runtime and the f32 <-> f16 conversions shared by the CPU twin and the uploader.
 *
 * CPU tensors always hold a Float32Array; an `f16` CPU tensor holds values already rounded to half precision,
 * so the CPU twin of an "f16 storage, f32 accumulation" kernel rounds exactly where the GPU stores.
 */

export type DType = 'f32' | 'f16';

/** Bytes one element takes in GPU storage. */
export function bytesPerElement(dtype: DType): number {
  return dtype === 'f16' ? 2 : 4;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE binary16 bits of an f32 value, round to nearest even (what GPUs and `Float16Array` do). */
export function f32ToF16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0); // inf / nan
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> inf
  if (e <= 0) {
    if (e < -10) return sign; // underflows to zero even after rounding
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let r = mant >>> shift;
    if (rest > half || (rest === half && (r & 1) === 1)) r += 1;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1) === 1)) r += 1; // may carry into the exponent: correct
  return sign | r;
}

/** f32 value of IEEE binary16 bits. */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Rounds a number to the nearest f16 value (returned as a JS number). */
export function roundF16(value: number): number {
  return f16BitsToF32(f32ToF16Bits(value));
}

/** Rounds every element in place to the storage precision of `dtype`. */
export function roundToDType(data: Float32Array, dtype: DType): Float32Array {
  if (dtype === 'f16') for (let i = 0; i < data.length; i++) data[i] = roundF16(data[i]);
  return data;
}

/** Packs f32 values into f16 bits. */
export function packF16(data: Float32Array): Uint16Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = f32ToF16Bits(data[i]);
  return out;
}

/** Unpacks f16 bits into f32 values. */
export function unpackF16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = f16BitsToF32(bits[i]);
  return out;
}
