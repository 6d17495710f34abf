/**
 * CPU twins of layernorm.wgsl. Row statistics are accumulated in f64 and rounded to f32 (the GPU sums in f32 in a
 * tree order; the twin is the more exact of the two, tests bound the difference). Everything after the statistics
 * follows the kernel's f32 operations and rounding points.
 */

import { type DType, roundF16 } from '../../runtime/dtype.ts';

const f = Math.fround;

/** Rounding to a storage dtype as a function (identity for f32 values). */
export function rounder(dtype: DType): (v: number) => number {
  return dtype === 'f16' ? roundF16 : f;
}

/** f32 mean and 1 / sqrt(var + eps) of `n` values from `x[base]`, two-pass like the kernel. */
export function rowStats(x: Float32Array, base: number, n: number, eps: number): [number, number] {
  let s = 0;
  for (let i = 0; i < n; i++) s += x[base + i];
  const mean = f(s / n);
  let q = 0;
  for (let i = 0; i < n; i++) {
    const d = f(x[base + i] - mean);
    q += d * d;
  }
  const rstd = f(1 / f(Math.sqrt(f(f(q / n) + eps))));
  return [mean, rstd];
}

/** LayerNorm over rows of length `n`, optional affine weight/bias (length n), one rounding to `outDtype`. */
export function layerNormCpu(
  x: Float32Array,
  n: number,
  weight: Float32Array | null,
  bias: Float32Array | null,
  eps: number,
  outDtype: DType,
): Float32Array {
  const out = new Float32Array(x.length);
  const r = rounder(outDtype);
  for (let base = 0; base < x.length; base += n) {
    const [mean, rstd] = rowStats(x, base, n, eps);
    for (let c = 0; c < n; c++) {
      let y = f(f(x[base + c] - mean) * rstd);
      if (weight) y = f(y * weight[c]);
      if (bias) y = f(y + bias[c]);
      out[base + c] = r(y);
    }
  }
  return out;
}

/**
 * adaLN: `rnd(rnd(rnd(LN(x)) * rnd(1 + scale[b])) + shift[b])` with `rnd` the rounding to `dtype` (x's dtype),
 * for x [B, L, C] and shift/scale [B, C].
 */
export function modulatedLayerNormCpu(
  x: Float32Array,
  L: number,
  C: number,
  shift: Float32Array,
  scale: Float32Array,
  eps: number,
  dtype: DType,
): Float32Array {
  const out = new Float32Array(x.length);
  const r = rounder(dtype);
  for (let row = 0; row * C < x.length; row++) {
    const base = row * C;
    const b = Math.floor(row / L);
    const [mean, rstd] = rowStats(x, base, C, eps);
    for (let c = 0; c < C; c++) {
      const v = r(f(f(x[base + c] - mean) * rstd));
      const onePlus = r(f(1 + scale[b * C + c]));
      out[base + c] = r(f(r(f(v * onePlus)) + shift[b * C + c]));
    }
  }
  return out;
}
