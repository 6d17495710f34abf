/**
 * Element types of the runtime and the f32 <-> f16 conversions shared by the CPU twin and the uploader.
 *
 * CPU tensors always hold a Float32Array; an `f16` CPU tensor holds values already rounded to half precision,
 * so the CPU twin of an "f16 storage, f32 accumulation" kernel rounds exactly where the GPU stores.
 *
 * Speed notes (issue #7, weight loading; 2-core box under load, Node 20): `roundF16` was
 * `f16BitsToF32(f32ToF16Bits(x))` with the decode done by `2 ** e` arithmetic, ~130 ns a value: loading the
 * full-size stage-1 flow (660M f16 parameters) spent 65% of its 63 s on the CPU rounding already-half values.
 * Now the decode is a 64K-entry table (built once from the same arithmetic) and `roundToDType` rounds in the f32
 * bit pattern for the f16 normal range (add half an f16 ulp with ties-to-even, clear the 13 dropped bits), falling
 * back to the exact per-value path only for subnormals/overflow/inf/NaN. `Math.f16round` would do this natively
 * but needs Node 24 (we support 20.19). Both paths give bit-identical results (dtype.test.ts sweeps every case).
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

/** f32 value of IEEE binary16 bits, by arithmetic (builds the table `f16BitsToF32` reads). */
function f16BitsToF32Slow(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Number of f16 bit patterns (size of the decode table, 256 KiB as float32). */
const F16_PATTERNS = 65536;
let f16Table: Float32Array | null = null;

/**
 * float32 value of every f16 bit pattern, indexed by the bits; built once on first use (~2 ms). Shared with the
 * safetensors reader's F16 decode.
 * @example
 * const lut = f16DecodeTable(); const one = lut[0x3c00]; // 1
 */
export function f16DecodeTable(): Float32Array {
  if (!f16Table) {
    const t = new Float32Array(F16_PATTERNS);
    for (let h = 0; h < F16_PATTERNS; h++) t[h] = f16BitsToF32Slow(h);
    f16Table = t;
  }
  return f16Table;
}

/** f32 value of IEEE binary16 bits (the low 16 bits of `h`). */
export function f16BitsToF32(h: number): number {
  return (f16Table ?? f16DecodeTable())[h & 0xffff];
}

/** Rounds a number to the nearest f16 value (returned as a JS number). */
export function roundF16(value: number): number {
  return (f16Table ?? f16DecodeTable())[f32ToF16Bits(value)];
}

/**
 * f32 biased exponents whose values round to an f16 normal in the bit domain: f16 exponents 1..29 (f32 113..141).
 * Exponent 30 is left to the exact path because rounding its largest values up must give infinity, not 65536.
 */
const F16_FAST_EXP_MIN = 113;
const F16_FAST_EXP_MAX = 141;
/** The 13 low mantissa bits an f32 loses when rounded to f16. */
const F16_DROPPED_MASK = 0x1fff;

/** Rounds every element in place to the storage precision of `dtype`. */
export function roundToDType(data: Float32Array, dtype: DType): Float32Array {
  if (dtype !== 'f16') return data;
  const u = new Uint32Array(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < u.length; i++) {
    const x = u[i];
    const e = (x >>> 23) & 0xff;
    if (e >= F16_FAST_EXP_MIN && e <= F16_FAST_EXP_MAX) {
      // Round to nearest even at bit 13: add 0xfff plus the kept lsb, then clear the dropped bits. A carry out of
      // the mantissa bumps the exponent, which is the correct rounded value.
      u[i] = ((x + 0xfff + ((x >>> 13) & 1)) & ~F16_DROPPED_MASK) >>> 0;
    } else {
      data[i] = roundF16(data[i]);
    }
  }
  return data;
}

/** f16 exponent bias minus f32 exponent bias (127 - 15), in the f16 exponent field's position. */
const F16_REBIAS = 112 << 10;

/** Packs f32 values into f16 bits (round to nearest even; same bit-domain fast path as `roundToDType`). */
export function packF16(data: Float32Array): Uint16Array {
  const out = new Uint16Array(data.length);
  const u = new Uint32Array(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < u.length; i++) {
    const x = u[i];
    const e = (x >>> 23) & 0xff;
    if (e >= F16_FAST_EXP_MIN && e <= F16_FAST_EXP_MAX) {
      const r = (x & 0x7fffffff) + 0xfff + ((x >>> 13) & 1);
      out[i] = ((x >>> 16) & 0x8000) | ((r >>> 13) - F16_REBIAS);
    } else {
      out[i] = f32ToF16Bits(data[i]);
    }
  }
  return out;
}

/** Unpacks f16 bits into f32 values. */
export function unpackF16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = f16BitsToF32(bits[i]);
  return out;
}
