/**
 * Exact float32 arithmetic helpers for emulating compiled float32 code in JavaScript doubles.
 *
 * `fmaF32(a, b, c)` is the correctly rounded float32 fused multiply-add (what `vfmadd*ps` computes):
 * for float32 inputs `a*b` is exact in a double (24 + 24 = 48 significant bits); the sum `a*b + c` is then taken
 * in round-to-odd double precision (TwoSum gives the exact error of the double addition; when it is non-zero the
 * double result is moved to the odd neighbour on the error's side), and rounding that to float32 is correct
 * because 53 >= 24 + 2 (Boldo and Melquiond, "When double rounding is odd", 2005). Plain `Math.fround(a*b + c)`
 * would round twice and differ whenever the double sum lands exactly on a float32 tie.
 *
 * Notes: the first version stepped the double with BigInt bit arithmetic; it now uses the two 32-bit words of
 * the double (no BigInt). No speed difference was measurable on the loaded test machine; both are exact.
 */

const f64 = new Float64Array(1);
const f64Words = new Uint32Array(f64.buffer); // [low, high] on little-endian hosts (checked below)
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
f64[0] = 1;
if (f64Words[1] !== 0x3ff00000) throw new Error('f32.ts: big-endian hosts are not supported');

/** float32 bit pattern of `x` (after rounding to float32). */
export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0];
}

/** The float32 whose bit pattern is `bits` (low 32 bits used). */
export function f32FromBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0];
}

/** Round-to-odd of the exact sum `s + err`, where `s = fl(x + y)` and `err` the exact rounding error. */
function roundToOdd(s: number, err: number): number {
  if (err === 0 || !Number.isFinite(s)) return s;
  f64[0] = s;
  const lo = f64Words[0];
  if (lo & 1) return s; // already odd: the exact value lies between s and an even neighbour
  // Move one double ulp towards the exact value (the magnitude grows when err has the sign of s). lo is even,
  // so +1 never carries; -1 borrows from the high word only when lo is 0.
  if (s > 0 === err > 0) f64Words[0] = lo + 1;
  else if (lo !== 0) f64Words[0] = lo - 1;
  else {
    f64Words[0] = 0xffffffff;
    f64Words[1] = f64Words[1] - 1;
  }
  return f64[0];
}

/**
 * Correctly rounded float32 fused multiply-add `round_f32(a*b + c)` for float32 inputs.
 * @example
 * fmaF32(Math.fround(1 + 2 ** -23), Math.fround(1 - 2 ** -23), -1); // -2^-46 exactly (a plain multiply would give 0)
 */
export function fmaF32(a: number, b: number, c: number): number {
  const p = a * b; // exact: both are float32
  const s = p + c;
  const bb = s - p;
  const err = p - (s - bb) + (c - bb);
  return Math.fround(roundToOdd(s, err));
}

/** float32 product. */
export function mulF32(a: number, b: number): number {
  return Math.fround(a * b);
}

/** float32 sum. */
export function addF32(a: number, b: number): number {
  return Math.fround(a + b);
}

/** float32 difference. */
export function subF32(a: number, b: number): number {
  return Math.fround(a - b);
}
