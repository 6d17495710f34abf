import assert from 'node:assert/strict';
import { test } from 'node:test';
import { f16BitsToF32, f16DecodeTable, f32ToF16Bits, packF16, roundF16, roundToDType } from './dtype.ts';

/**
 * The fast f16 paths (bit-domain rounding in roundToDType/packF16, the decode table) checked bit for bit against an
 * independent IEEE binary16 round-to-nearest-even written with float64 arithmetic from the definition.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The f16 value nearest to the float32 `x` (ties to even), from the definition. */
function referenceF16(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  const sign = x < 0 || Object.is(x, -0) ? -1 : 1;
  const a = Math.abs(x);
  if (a === Number.POSITIVE_INFINITY) return sign * a;
  f32[0] = a;
  const exp = Math.max(((u32[0] >>> 23) & 0xff) - 127, -14); // subnormals share the 2^-14 binade's step
  const step = 2 ** (exp - 10);
  const q = a / step; // exact: a power-of-two division of a float32 in float64
  let r = Math.floor(q);
  if (q - r > 0.5 || (q - r === 0.5 && r % 2 === 1)) r += 1;
  const v = r * step;
  return sign * (v > 65504 ? Number.POSITIVE_INFINITY : v);
}

/** Float32 test values: every f16, every midpoint between neighbours and one f32 ulp either side, a bit sweep. */
function cases(): Float32Array {
  const out: number[] = [];
  const tbl = f16DecodeTable();
  const near = (v: number) => {
    f32[0] = v;
    const b = u32[0];
    for (const d of [-1, 0, 1]) {
      u32[0] = (b + d) >>> 0;
      out.push(f32[0]);
    }
  };
  for (let h = 0; h < 0x7c00; h++) {
    for (const s of [0, 0x8000]) {
      near(tbl[h | s]);
      near((tbl[h | s] + tbl[(h + 1) | s]) / 2);
    }
  }
  near(65520); // midpoint between the largest f16 (65504) and 65536 (infinity)
  out.push(Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, -0, 2 ** -30, 1e-10, 1e10);
  for (let b = 0; b < 2 ** 32; b += 4099) {
    u32[0] = b;
    out.push(f32[0]);
  }
  return Float32Array.from(out);
}

const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

test('f16 decode table and f16BitsToF32 match the definition for every bit pattern', () => {
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    const want =
      e === 0
        ? sign * m * 2 ** -24
        : e === 31
          ? m
            ? Number.NaN
            : sign * Infinity
          : sign * (1024 + m) * 2 ** (e - 25);
    assert.ok(same(f16BitsToF32(h), want), `bits 0x${h.toString(16)}`);
  }
});

test('roundToDType f16, roundF16 and packF16 round like IEEE binary16 (ties to even) on every case', () => {
  const xs = cases();
  const rounded = roundToDType(xs.slice(), 'f16');
  const packed = packF16(xs);
  for (let i = 0; i < xs.length; i++) {
    const want = referenceF16(xs[i]);
    if (!same(rounded[i], want)) assert.fail(`roundToDType(${xs[i]}) = ${rounded[i]}, want ${want}`);
    if (!same(roundF16(xs[i]), want)) assert.fail(`roundF16(${xs[i]}) = ${roundF16(xs[i])}, want ${want}`);
    const got = f16BitsToF32(packed[i]);
    if (!same(got, want)) assert.fail(`packF16(${xs[i]}) decodes to ${got}, want ${want}`);
    if (!Number.isNaN(want) && packed[i] !== f32ToF16Bits(xs[i]))
      assert.fail(`packF16(${xs[i]}) bits differ`);
  }
});

test('roundToDType f32 leaves values untouched', () => {
  const xs = Float32Array.from([1.0001, -3.3e-9, 7e30]);
  assert.deepEqual(roundToDType(xs.slice(), 'f32'), xs);
});
