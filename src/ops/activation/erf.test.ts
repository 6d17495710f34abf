import assert from 'node:assert/strict';
import { test } from 'node:test';
import { erfF32 } from './erf.ts';

/**
 * Double-precision reference erf: the all-positive series erf(x) = 2/sqrt(pi) e^(-x^2) sum (2x^2)^n x / (2n+1)!!
 * for |x| < 3 (no cancellation), the continued fraction of erfc for |x| >= 3. Relative error < 1e-14 here.
 */
function erfRef(x: number): number {
  const a = Math.abs(x);
  if (a < 3) {
    let term = a;
    let sum = a;
    for (let n = 1; n < 200 && term > 1e-18 * sum; n++) {
      term *= (2 * a * a) / (2 * n + 1);
      sum += term;
    }
    return Math.sign(x) * ((2 / Math.sqrt(Math.PI)) * Math.exp(-a * a) * sum);
  }
  // erfc(a) = e^(-a^2)/sqrt(pi) * 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + ...)))), evaluated bottom-up.
  let cf = a;
  for (let k = 60; k >= 1; k--) cf = a + k / 2 / cf;
  return Math.sign(x) * (1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / cf);
}

test('reference erf matches published values', () => {
  // Values from tables (Abramowitz & Stegun table 7.1 / mpmath).
  const known: [number, number][] = [
    [0.5, 0.5204998778130465],
    [1, 0.8427007929497149],
    [2, 0.9953222650189527],
    [3, 1 - 2.209049699858544e-5],
    [3.5, 1 - 7.430983723414127e-7],
  ];
  for (const [x, v] of known) assert.ok(Math.abs(erfRef(x) - v) < 1e-14, `erfRef(${x})`);
});

test('erfF32 is within 1.5e-7 of erf on [-6, 6]', () => {
  // 1.5e-7 = 2.5 f32 ulp at 0.84 (ulp 6e-8) and 1.3 ulp near 1; the fit reports 1.22e-7 max.
  let worst = 0;
  for (let i = 0; i <= 120000; i++) {
    const x = Math.fround(-6 + i * 1e-4);
    const d = Math.abs(erfF32(x) - erfRef(x));
    if (d > worst) worst = d;
  }
  assert.ok(worst < 1.5e-7, `max |erfF32 - erf| = ${worst}`);
  assert.equal(erfF32(0), 0);
  assert.equal(erfF32(10), 1);
  assert.equal(erfF32(-10), -1);
  assert.ok(Number.isNaN(erfF32(Number.NaN)));
});

test('erfF32 is odd and monotone near the piece boundaries', () => {
  for (const b of [1, 4]) {
    const below = erfF32(Math.fround(b - 1e-6));
    const at = erfF32(b);
    assert.ok(below <= at, `monotone at ${b}: ${below} > ${at}`);
    assert.equal(erfF32(-b), -at);
  }
});
