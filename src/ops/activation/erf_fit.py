"""Fits the two polynomial pieces of erf_f32 (src/ops/elementwise/unary.wgsl, src/ops/activation/erf.ts).

Run: python3 src/ops/activation/erf_fit.py  (needs numpy + mpmath). It prints the coefficients and the max
absolute error of the f32 evaluation (Horner, f32 rounding at each step) against mpmath on a dense grid.
Weighted (relative) least squares on Chebyshev nodes; not true minimax, but within ~2 f32 ulp everywhere.
Alternatives tried: degree 6 for |x| < 1 (1.34e-7), a polynomial in x instead of 1/x for 1 <= |x| < 4
(degree 10: 8.9e-8, degree 9: 1.7e-7); 1/x degree 9 gave 5.1e-8.
"""

import mpmath as mp
import numpy as np

mp.mp.dps = 40
f32 = np.float32


def horner32(coef, z):
    r = np.full_like(z, coef[-1])
    for c in coef[-2::-1]:
        r = (r * z + c).astype(f32)
    return r


def rel_fit(z, target, deg):
    v = np.vander(z, deg + 1, increasing=True)
    c, *_ = np.linalg.lstsq(v / target[:, None], np.ones_like(z), rcond=None)
    return c.astype(f32)


# |x| < 1: erf(x) = x * P(x^2)
s = np.cos(np.linspace(0, np.pi, 2000)) * 0.5 + 0.5
tp = np.array([float(mp.erf(mp.sqrt(v)) / mp.sqrt(v)) if v > 0 else float(2 / mp.sqrt(mp.pi)) for v in s])
pa = rel_fit(s, tp, 7)
xa = np.linspace(0, 1, 1001).astype(f32)
ea = np.abs((xa * horner32(pa, (xa * xa).astype(f32))).astype(f32) - [float(mp.erf(v)) for v in xa]).max()
print("P", [float(c) for c in pa], "max abs err", ea)

# 1 <= |x| < 4: erf(x) = 1 - exp(-x^2) * Q(1/x - 0.625)
xs = np.cos(np.linspace(0, np.pi, 3000)) * 1.5 + 2.5
tq = np.array([float(mp.erfc(v) * mp.exp(v * v)) for v in xs])
pb = rel_fit(1 / xs - 0.625, tq, 9)
xb = np.linspace(1, 4, 3001).astype(f32)
q = horner32(pb, ((f32(1) / xb) - f32(0.625)).astype(f32))
vb = (f32(1) - (np.exp(-(xb * xb).astype(f32)).astype(f32) * q).astype(f32)).astype(f32)
print("Q", [float(c) for c in pb], "max abs err", np.abs(vb - [float(mp.erf(v)) for v in xb]).max())
