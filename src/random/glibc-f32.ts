/**
 * float32 `logf`, `sinf`, `cosf` computed the way GNU libc (2.27 and later, x86-64) computes them, so the scalar
 * normal_ path of PyTorch (which calls the C library) can be reproduced bit for bit. glibc's versions are not
 * correctly rounded (logf: up to 0.82 ulp; sinf/cosf: 0.56 ulp): each evaluates a short polynomial in double and
 * rounds once, so the same double evaluation is reproduced here.
 * - logf: x = 2^k z with z in [0x3f330000, 2 * 0x3f330000] as float bits, a 16-entry table of (1/c, log c) picked
 *   by the top 4 mantissa bits of z, log x = log1p(z/c - 1) + log c + k ln 2 with a degree-4 polynomial.
 * - sinf/cosf: |x| < pi/4 direct; |x| < 120 one-step reduction by pi/2 in double (quadrant from a 2^24-scaled
 *   product, as x86-64 builds do without rounding intrinsics); larger |x| would need the 192-bit 4/pi table and
 *   is not needed here (Box-Muller angles are in [0, 2 pi)), so it throws.
 * The FMA-enabled variants glibc picks on FMA hardware round the double intermediates differently; that can
 * change the float result only when a double result lies within ~1e-16 relative of a float rounding boundary.
 *
 * Notes: a correctly rounded stand-in (`Math.fround(Math.log(x))` etc.) was tried first: 84 of 4316 checked
 * values of the torch 1.13 no-AVX fixture differed by 1 ulp; with these ports none differ.
 */

import { f32Bits, f32FromBits } from './f32.ts';

/** Parses a C hexadecimal floating literal such as `-0x1.57bf7808caadep-2` exactly. */
function hexf(lit: string): number {
  const m = /^(-?)0x([0-9a-f]+)(?:\.([0-9a-f]*))?p([+-]?\d+)$/i.exec(lit);
  if (!m) throw new Error(`glibc-f32: bad hex float ${lit}`);
  const frac = m[3] ?? '';
  const mant = Number.parseInt(m[2] + frac, 16); // <= 53 significant bits in every constant below: exact
  const v = mant * 2 ** (Number(m[4]) - 4 * frac.length);
  return m[1] === '-' ? -v : v;
}

const LOGF_TAB: ReadonlyArray<readonly [number, number]> = (
  [
    ['0x1.661ec79f8f3bep+0', '-0x1.57bf7808caadep-2'],
    ['0x1.571ed4aaf883dp+0', '-0x1.2bef0a7c06ddbp-2'],
    ['0x1.49539f0f010bp+0', '-0x1.01eae7f513a67p-2'],
    ['0x1.3c995b0b80385p+0', '-0x1.b31d8a68224e9p-3'],
    ['0x1.30d190c8864a5p+0', '-0x1.6574f0ac07758p-3'],
    ['0x1.25e227b0b8eap+0', '-0x1.1aa2bc79c81p-3'],
    ['0x1.1bb4a4a1a343fp+0', '-0x1.a4e76ce8c0e5ep-4'],
    ['0x1.12358f08ae5bap+0', '-0x1.1973c5a611cccp-4'],
    ['0x1.0953f419900a7p+0', '-0x1.252f438e10c1ep-5'],
    ['0x1p+0', '0x0p+0'],
    ['0x1.e608cfd9a47acp-1', '0x1.aa5aa5df25984p-5'],
    ['0x1.ca4b31f026aap-1', '0x1.c5e53aa362eb4p-4'],
    ['0x1.b2036576afce6p-1', '0x1.526e57720db08p-3'],
    ['0x1.9c2d163a1aa2dp-1', '0x1.bc2860d22477p-3'],
    ['0x1.886e6037841edp-1', '0x1.1058bc8a07ee1p-2'],
    ['0x1.767dcf5534862p-1', '0x1.4043057b6ee09p-2'],
  ] as const
).map(([a, b]) => [hexf(a), hexf(b)] as const);
const LOGF_LN2 = hexf('0x1.62e42fefa39efp-1');
const LOGF_A = ['-0x1.00ea348b88334p-2', '0x1.5575b0be00b6ap-2', '-0x1.ffffef20a4123p-2'].map(hexf);
const LOGF_OFF = 0x3f330000;

/**
 * glibc `logf` for float32 input (result is a float32 value).
 * @example
 * glibcLogf(Math.fround(0.3)); // -1.2039728 (float32)
 */
export function glibcLogf(x: number): number {
  let ix = f32Bits(x);
  if (ix === 0x3f800000) return 0;
  if (ix - 0x00800000 >= 0x7f800000 - 0x00800000 || ix < 0x00800000) {
    if ((ix & 0x7fffffff) === 0) return Number.NEGATIVE_INFINITY;
    if (ix === 0x7f800000) return x;
    if (ix & 0x80000000 || (ix & 0x7fffffff) > 0x7f800000) return Number.NaN;
    ix = (f32Bits(x * 2 ** 23) - (23 << 23)) >>> 0; // subnormal: normalise
  }
  const tmp = (ix - LOGF_OFF) >>> 0;
  const i = (tmp >>> 19) & 15;
  const k = (tmp | 0) >> 23;
  const iz = (ix - ((tmp & 0xff800000) >>> 0)) >>> 0;
  const [invc, logc] = LOGF_TAB[i];
  const z = f32FromBits(iz);
  const r = z * invc - 1;
  const y0 = logc + k * LOGF_LN2;
  const r2 = r * r;
  let y = LOGF_A[1] * r + LOGF_A[2];
  y = LOGF_A[0] * r2 + y;
  y = y * r2 + (y0 + r);
  return Math.fround(y);
}

interface SinCosTable {
  hpiInv: number;
  hpi: number;
  c: readonly number[];
  s: readonly number[];
}
const SIGN = [1, -1, -1, 1];
const HPI_INV_2P24 = hexf('0x1.45F306DC9C883p+23');
const HPI = hexf('0x1.921FB54442D18p0');
const COS_POLY = ['0x1p0', '-0x1.ffffffd0c621cp-2', '0x1.55553e1068f19p-5', '-0x1.6c087e89a359dp-10'];
const COS_C4 = '0x1.99343027bf8c3p-16';
const SIN_POLY = ['-0x1.555545995a603p-3', '0x1.1107605230bc4p-7', '-0x1.994eb3774cf24p-13'].map(hexf);
const TABLES: readonly [SinCosTable, SinCosTable] = [
  { hpiInv: HPI_INV_2P24, hpi: HPI, c: [...COS_POLY, COS_C4].map(hexf), s: SIN_POLY },
  // second entry evaluates -cos(x), which gives the negation of quadrants 2 and 3 for free
  { hpiInv: HPI_INV_2P24, hpi: HPI, c: [...COS_POLY, COS_C4].map((v) => -hexf(v)), s: SIN_POLY },
];

function abstop12(x: number): number {
  return (f32Bits(x) >>> 20) & 0x7ff;
}
const TOP_PIO4 = abstop12(hexf('0x1.921FB6p-1'));
const TOP_TINY = abstop12(2 ** -12);
const TOP_120 = abstop12(120);

/** sin (n even) or cos (n odd) polynomial of the reduced argument x, x2 = x * x. */
function sinfPoly(x: number, x2: number, p: SinCosTable, n: number): number {
  if ((n & 1) === 0) {
    const x3 = x * x2;
    const s1 = p.s[1] + x2 * p.s[2];
    const x7 = x3 * x2;
    const s = x + x3 * p.s[0];
    return Math.fround(s + x7 * s1);
  }
  const x4 = x2 * x2;
  const c2 = p.c[3] + x2 * p.c[4];
  const c1 = p.c[0] + x2 * p.c[1];
  const x6 = x4 * x2;
  const c = c1 + x4 * p.c[2];
  return Math.fround(c + x6 * c2);
}

function sinOrCos(y: number, wantCos: boolean): number {
  const x = y;
  const top = abstop12(y);
  if (top < TOP_PIO4) {
    if (top < TOP_TINY) return wantCos ? 1 : y;
    return sinfPoly(x, x * x, TABLES[0], wantCos ? 1 : 0);
  }
  if (top < TOP_120) {
    const r = x * HPI_INV_2P24;
    const n = (Math.trunc(r) + 0x800000) >> 24;
    const xr = x - n * HPI;
    const s = SIGN[n & 3];
    const p = n & 2 ? TABLES[1] : TABLES[0];
    return sinfPoly(xr * s, xr * xr, p, wantCos ? n ^ 1 : n);
  }
  if (Number.isNaN(y) || !Number.isFinite(y)) return Number.NaN;
  throw new RangeError(`glibc-f32: |x| >= 120 (x = ${y}) needs the large-argument reduction, not ported`);
}

/**
 * glibc `sinf` for float32 input with |x| < 120.
 * @example
 * glibcSinf(Math.fround(1)); // 0.84147096 (float32)
 */
export function glibcSinf(x: number): number {
  return sinOrCos(x, false);
}

/**
 * glibc `cosf` for float32 input with |x| < 120.
 * @example
 * glibcCosf(Math.fround(1)); // 0.5403023 (float32)
 */
export function glibcCosf(x: number): number {
  return sinOrCos(x, true);
}
