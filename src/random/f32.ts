/**
 * Exact float32 arithmetic helpers for emulating compiled float32 code in JavaScript doubles.
 *
 * `fmaF32(a, b, c)` is the correctly rounded float32 fused multiply-add (what `vfmadd*ps` computes):
 * for float32 inputs `a*b` is exact in a double (24 + 24 = 48 significant bits); the sum `a*b + c` is then taken
 * in round-to-odd double precision (TwoSum gives the exact error of the double addition; when it is non-zero the
 * double result is moved to the odd neighbour on the error's side), and rounding that to float32 is correct
 * because 53 >= 24 + 2 (Boldo and Melquiond, "When double rounding is odd", 2005). Plain `Math.fround(a*b + c)`
 * would round twice and differ whenever the double sum lands exactly on a float32 tie.
 */

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

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
  const bits = u64[0];
  if ((bits & 1n) === 1n) return s; // already odd: the exact value lies between s and an even neighbour
  // Move one double ulp towards the exact value (magnitude grows when err has the sign of s).
  const grow = s > 0 === err > 0;
  u64[0] = grow ? bits + 1n : bits - 1n;
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
