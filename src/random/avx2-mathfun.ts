/**
 * One-lane float32 emulation of the AVX2 `log256_ps` and `sincos256_ps` that PyTorch's CPU `normal_` uses for
 * float32 tensors of >= 16 elements when ATen runs its AVX2 kernels (aten/src/ATen/native/cpu/avx_mathfun.h, a
 * port of Julien Pommier's Cephes-based sse_mathfun). Written from the algorithm: range reduction to a mantissa
 * in [sqrt(1/2), sqrt(2)) and a degree-9 polynomial for log; reduction modulo pi/4 in three parts (Cody-Waite)
 * and the Cephes sine/cosine polynomials for sincos.
 *
 * Rounding: every vector op rounds to float32 (`Math.fround`). GCC compiles those intrinsics as plain vector
 * arithmetic and, with its default `-ffp-contract=fast` and `-mfma` (ATen's AVX2 flags), contracts a multiply
 * whose only use is an add/subtract into a fused multiply-add, scanning statements in order. `contract: true`
 * reproduces that (Linux x86-64 wheels, built with GCC); `contract: false` is the uncontracted evaluation (a
 * compiler that keeps `_mm256_mul_ps`/`_mm256_add_ps` separate: MSVC, and clang, whose default contraction
 * stays within one statement). Which ops fuse was checked against PyTorch's own output (test/fixtures/torch_rng).
 *
 * Notes (alternatives tried, against the torch 1.13 AVX2 fixture): no contraction at all: 48 of 4316 stored
 * values and 31 of 104 calls differ; with the contraction modelled below: none, and none among 150M further
 * values of randn(2^24) for nine seeds.
 */

import { f32Bits, f32FromBits, fmaF32 } from './f32.ts';

const fr = Math.fround;

// Cephes constants as the header spells them (double literals stored as float); where the header has more
// digits than a double holds, the shortest literal of the same double is written (the header's in comments).
const SQRTHF = fr(Math.SQRT1_2); // 0.707106781186547524
const LOG_P = [
  7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
  2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(fr);
const LOG_Q1 = fr(-2.1219444e-4);
const LOG_Q2 = fr(0.693359375);
const MIN_NORM_BITS = 0x00800000;

const FOPI = fr(1.27323954473516); // 4 / pi
const MINUS_DP1 = fr(-0.78515625);
const MINUS_DP2 = fr(-2.4187564849853516e-4); // -2.4187564849853515625e-4
const MINUS_DP3 = fr(-3.774894977445941e-8); // -3.77489497744594108e-8
const SINCOF = [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1].map(fr);
const COSCOF = [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2].map(fr);

/** How the float32 vector code was compiled. */
export interface Avx2MathOptions {
  /** Multiply-add pairs fused into FMAs as GCC's `-ffp-contract=fast` does (default true). */
  contract: boolean;
}

/** Defaults: GCC-built Linux x86-64 PyTorch. */
export const AVX2_MATH_DEFAULTS: Avx2MathOptions = { contract: true };

/** `a*b + c` as the compiled code evaluates it: fused (one rounding) or two float32 roundings. */
function madd(a: number, b: number, c: number, contract: boolean): number {
  return contract ? fmaF32(a, b, c) : fr(fr(a * b) + c);
}

/**
 * Natural log of a float32, one lane of `log256_ps`. Returns NaN for x <= 0 (the header ORs an all-ones mask).
 * @example
 * log256Lane(Math.fround(0.5)); // -0.6931472 (float32)
 */
export function log256Lane(xIn: number, opts: Avx2MathOptions = AVX2_MATH_DEFAULTS): number {
  if (!(xIn > 0)) return Number.NaN;
  const c = opts.contract;
  let bits = f32Bits(xIn);
  if (bits < MIN_NORM_BITS) bits = MIN_NORM_BITS; // max(x, smallest normal): denormals cut off
  // exponent (biased) and mantissa scaled into [0.5, 1)
  let e = fr((bits >>> 23) - 127 + 1);
  let x = f32FromBits((bits & ~0x7f800000) | 0x3f000000);
  const below = x < SQRTHF;
  const tmp = below ? x : 0;
  x = fr(x - 1);
  if (below) e = fr(e - 1);
  x = fr(x + tmp);
  const z = fr(x * x);
  let y = LOG_P[0];
  for (let k = 1; k < LOG_P.length; k++) y = madd(y, x, LOG_P[k], c);
  y = fr(y * x);
  // y*z + e*q1: GCC fuses the first multiply met in statement order (y*z); e*q1 stays a rounded product
  y = c ? fmaF32(y, z, fr(e * LOG_Q1)) : fr(fr(y * z) + fr(e * LOG_Q1));
  y = fr(y - fr(z * 0.5)); // z*0.5 is exact, so fusing it changes nothing
  x = fr(x + y);
  x = fr(x + fr(e * LOG_Q2)); // e*q2 is exact (q2 has 9 significant bits, e is a small integer)
  return x;
}

/** Result of {@link sincos256Lane}. */
export interface SinCos {
  sin: number;
  cos: number;
}

/**
 * sin and cos of a float32, one lane of `sincos256_ps` (accurate for |x| < 8192, as the header notes).
 * @example
 * sincos256Lane(Math.fround(1)); // { sin: 0.84147096, cos: 0.5403023 } (float32)
 */
export function sincos256Lane(xIn: number, opts: Avx2MathOptions = AVX2_MATH_DEFAULTS): SinCos {
  const c = opts.contract;
  let signSin = xIn < 0 || Object.is(xIn, -0);
  const ax = Math.abs(xIn);
  // octant index j = (trunc(|x| * 4/pi) + 1) & ~1
  const scaled = fr(ax * FOPI);
  let j = scaled < 2147483648 ? Math.trunc(scaled) | 0 : -2147483648; // cvttps: out of range -> 0x80000000
  j = ((j + 1) & ~1) | 0;
  const yj = fr(j);
  if (j & 4) signSin = !signSin;
  const polySin = (j & 2) === 0; // first polynomial (sine) is the sine result
  const signCos = (~(j - 2) & 4) !== 0;
  // extended-precision reduction x - j*pi/4, pi/4 = DP1 + DP2 + DP3
  let x = madd(yj, MINUS_DP1, ax, c);
  x = madd(yj, MINUS_DP2, x, c);
  x = madd(yj, MINUS_DP3, x, c);
  const z = fr(x * x);
  // cosine polynomial: 1 - z/2 + z^2 (c0 z^2 + c1 z + c2)
  let yc = madd(COSCOF[0], z, COSCOF[1], c);
  yc = madd(yc, z, COSCOF[2], c);
  yc = fr(yc * z);
  const half = fr(z * 0.5);
  yc = c ? fmaF32(yc, z, -half) : fr(fr(yc * z) - half);
  yc = fr(yc + 1);
  // sine polynomial: x + x z (s0 z^2 + s1 z + s2)
  let ys = madd(SINCOF[0], z, SINCOF[1], c);
  ys = madd(ys, z, SINCOF[2], c);
  ys = fr(ys * z);
  ys = madd(ys, x, x, c);
  // select without branches, as the vector code does (keeps its signed-zero behaviour)
  const sinFromS = polySin ? ys : 0;
  const sinFromC = polySin ? 0 : yc;
  const cosFromS = fr(ys - sinFromS);
  const cosFromC = fr(yc - sinFromC);
  let s = fr(sinFromC + sinFromS);
  let co = fr(cosFromC + cosFromS);
  if (signSin) s = -s;
  if (signCos) co = -co;
  return { sin: s, cos: co };
}
