/** Numeric comparison helpers that report where and by how much arrays differ. */

import assert from 'node:assert/strict';

export interface CloseOptions {
  /** Absolute tolerance. */
  atol?: number;
  /** Relative tolerance (times |expected|). */
  rtol?: number;
  label?: string;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return Number.POSITIVE_INFINITY;
    if (d > m) m = d;
  }
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Asserts |actual - expected| <= atol + rtol * |expected| elementwise; the message names the first failure. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  o: CloseOptions = {},
): void {
  const atol = o.atol ?? 1e-6;
  const rtol = o.rtol ?? 0;
  const label = o.label ? `${o.label}: ` : '';
  assert.equal(actual.length, expected.length, `${label}length ${actual.length} vs ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const tol = atol + rtol * Math.abs(expected[i]);
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= tol)) {
      assert.fail(
        `${label}element ${i}: got ${actual[i]}, expected ${expected[i]} (|diff| ${d} > tol ${tol}); max |diff| ${maxAbsDiff(actual, expected)}`,
      );
    }
  }
}

/** Deterministic pseudo-random values in [-1, 1) (mulberry32), for kernel-vs-twin tests. */
export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}
