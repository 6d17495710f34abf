/**
 * Float32 error function, the CPU twin of `erf_f32` in `src/ops/elementwise/unary.wgsl` (JavaScript has no
 * `Math.erf`). Same pieces, same coefficients, f32 rounding after every operation (`Math.fround`):
 *
 * - |x| < 1: `erf(x) = x * P(x^2)`, P of degree 7;
 * - 1 <= |x| < 4: `erf(x) = 1 - exp(-x^2) * Q(1/|x| - 0.625)`, Q of degree 9 (Q approximates erfc(x) e^(x^2));
 * - |x| >= 4: +-1 (erfc(4) = 1.5e-8 is below half an ulp of 1).
 *
 * Max absolute error 1.3e-7 (about 2 f32 ulp near erf = 0.84), checked in erf.test.ts against a double-precision
 * reference. Coefficients come from `erf_fit.py` next to this file (weighted least squares on Chebyshev nodes).
 * Notes on alternatives: Abramowitz-Stegun 7.1.26 (1.5e-7 absolute in exact arithmetic, but its error does not
 * shrink with x, so erf of tiny x has a large relative error) and a polynomial in x instead of 1/x for the tail
 * (degree 9: 1.7e-7) were worse.
 */

const f = Math.fround;

/** Coefficients of P (increasing powers of x^2), |x| < 1. */
export const ERF_P: readonly number[] = [
  1.128379225730896, -0.37612637877464294, 0.11283782124519348, -0.026865392923355103, 0.005220923572778702,
  -0.0008482509874738753, 0.0001125464987126179, -9.634997695684433e-6,
];

/** Coefficients of Q (increasing powers of 1/|x| - 0.625), 1 <= |x| < 4. */
export const ERF_Q: readonly number[] = [
  0.3059529960155487, 0.38228386640548706, -0.17239369451999664, 0.043759044259786606, 0.02326498180627823,
  -0.04674101620912552, 0.044585954397916794, -0.028835346922278404, -0.006826299242675304,
  0.032063111662864685,
];

function horner(coef: readonly number[], z: number): number {
  let r = f(coef[coef.length - 1]);
  for (let k = coef.length - 2; k >= 0; k--) r = f(f(r * z) + f(coef[k]));
  return r;
}

/**
 * erf(x) evaluated in float32 arithmetic (result is an f32 value).
 * @example
 * erfF32(0.5); // 0.52049988...
 */
export function erfF32(x: number): number {
  const xf = f(x);
  const a = Math.abs(xf);
  if (Number.isNaN(a)) return Number.NaN;
  if (a < 1) return f(xf * horner(ERF_P, f(a * a)));
  if (a >= 4) return Math.sign(xf);
  const q = horner(ERF_Q, f(f(1 / a) - 0.625));
  return Math.sign(xf) * f(1 - f(f(Math.exp(-f(a * a))) * q));
}
