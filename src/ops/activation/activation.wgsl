// Activation functions in f32, shared by the unary op and by any kernel that fuses an activation into its
// epilogue (splice `ACTIVATION_WGSL` from src/ops/activation/activation.ts into the shader, then call
// e.g. `gelu_tanh_f32(v)`). Helper source only: no bindings, no entry point.

// erf(x) to ~1.3e-7 absolute (about 2 f32 ulp). Two fitted pieces (weighted least squares on Chebyshev nodes,
// refined in f32; fit script described in src/ops/activation/erf.ts):
//   |x| < 1:  erf(x) = x * P(x^2)
//   1 <= |x| < 4:  erf(x) = 1 - exp(-x^2) * Q(1/|x| - 0.625)   (Q ~ erfc(x) * exp(x^2))
//   |x| >= 4: +-1 (erfc(4) = 1.5e-8 is below half an ulp of 1).
fn erf_f32(x: f32) -> f32 {
  let a = abs(x);
  if (a < 1.0) {
    let s = a * a;
    var r = -9.634997695684433e-06;
    r = r * s + 1.125464987126179e-04;
    r = r * s - 8.482509874738753e-04;
    r = r * s + 5.220923572778702e-03;
    r = r * s - 2.6865392923355103e-02;
    r = r * s + 1.1283782124519348e-01;
    r = r * s - 3.7612637877464294e-01;
    r = r * s + 1.128379225730896;
    return x * r;
  }
  if (a >= 4.0) {
    return sign(x);
  }
  let z = 1.0 / a - 0.625;
  var q = 3.2063111662864685e-02;
  q = q * z - 6.826299242675304e-03;
  q = q * z - 2.8835346922278404e-02;
  q = q * z + 4.4585954397916794e-02;
  q = q * z - 4.674101620912552e-02;
  q = q * z + 2.326498180627823e-02;
  q = q * z + 4.3759044259786606e-02;
  q = q * z - 1.7239369451999664e-01;
  q = q * z + 3.8228386640548706e-01;
  q = q * z + 3.059529960155487e-01;
  return sign(x) * (1.0 - exp(-(a * a)) * q);
}

// Overflow-free logistic function.
fn sigmoid_f32(x: f32) -> f32 {
  if (x >= 0.0) {
    return 1.0 / (1.0 + exp(-x));
  }
  let e = exp(x);
  return e / (1.0 + e);
}

// log(1 + e) without losing small e: log(u) * e / (u - 1) corrects the rounding of u = 1 + e.
fn log1p_f32(e: f32) -> f32 {
  let u = 1.0 + e;
  if (u == 1.0) {
    return e;
  }
  return log(u) * (e / (u - 1.0));
}

// tanh with its argument clamped: |x| > 10 gives +-1 in f32 anyway, and some drivers build tanh from exp and
// return NaN for large |x|.
fn tanh_f32(x: f32) -> f32 {
  return tanh(clamp(x, -10.0, 10.0));
}

// PyTorch GELU, tanh approximation: 0.5x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
fn gelu_tanh_f32(x: f32) -> f32 {
  return (0.5 * x) * (1.0 + tanh_f32(0.7978845834732056 * (x + 0.044714998453855515 * ((x * x) * x))));
}

// PyTorch GELU, exact: 0.5x (1 + erf(x / sqrt 2)).
fn gelu_erf_f32(x: f32) -> f32 {
  return (0.5 * x) * (1.0 + erf_f32(x * 0.7071067690849304));
}

fn silu_f32(x: f32) -> f32 {
  return x * sigmoid_f32(x);
}

// PyTorch softplus (beta 1, threshold 20).
fn softplus_f32(x: f32) -> f32 {
  if (x > 20.0) {
    return x;
  }
  return log1p_f32(exp(x));
}
