// Shared part of every matmul kernel (prepended to matmul.tiled / matmul.tiled_f16 / matmul.sgmat):
// bindings, parameters, bounds-checked operand loads and the epilogue (alpha, bias, activation, store).
//
// Element (m, k) of a and (k, n) of b are addressed through an element offset into the bound window, a batch
// stride (0 for a broadcast operand) and a row stride; trans_a / trans_b swap the roles of row and column. They
// are uniforms, not template constants, to keep the pipeline count (and lavapipe compile time) down.
// K may be split into several dispatches: mode 1 writes the raw sum to `acc`, mode 2 adds to it, mode 3 adds the
// last partial sum and runs the epilogue; mode 0 is the unsplit case. `acc` is f32 so a split output is still
// rounded once to its dtype.
struct Params {
  M: u32,
  N: u32,
  K: u32,
  mode: u32,
  a_off: u32,
  b_off: u32,
  o_off: u32,
  bias_off: u32,
  a_bs: u32,
  b_bs: u32,
  o_bs: u32,
  acc_bs: u32,
  lda: u32,
  ldb: u32,
  ldo: u32,
  acc_ld: u32,
  alpha: f32,
  has_bias: u32,
  trans_a: u32,
  trans_b: u32,
  act: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
};

@group(0) @binding(0) var<storage, read> a: array<{{TA}}>;
@group(0) @binding(1) var<storage, read> b: array<{{TB}}>;
@group(0) @binding(2) var<storage, read_write> out: array<{{TO}}>;
@group(0) @binding(3) var<storage, read_write> acc: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<{{TBIAS}}>;
@group(0) @binding(5) var<uniform> p: Params;

fn load_a(batch: u32, m: u32, k: u32) -> {{TA}} {
  if (m >= p.M || k >= p.K) {
    return {{TA}}(0.0);
  }
  return a[p.a_off + batch * p.a_bs + select(m * p.lda + k, k * p.lda + m, p.trans_a != 0u)];
}

fn load_b(batch: u32, k: u32, n: u32) -> {{TB}} {
  if (k >= p.K || n >= p.N) {
    return {{TB}}(0.0);
  }
  return b[p.b_off + batch * p.b_bs + select(k * p.ldb + n, n * p.ldb + k, p.trans_b != 0u)];
}

// Abramowitz & Stegun 7.1.26: |error| <= 1.5e-7 on all of R (WGSL has no erf). The CPU twin uses the same form.
fn erf_approx(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * z);
  let poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
  return sign(x) * (1.0 - poly * exp(-z * z));
}

// Activation codes: 0 none, 1 GELU (tanh form), 2 GELU (erf form), 3 SiLU. A uniform switch rather than a
// template constant: one pipeline serves every activation (lavapipe spends 1-3 s compiling each pipeline), and
// the branch is uniform, so it costs a few instructions per output element.
fn activate(x: f32) -> f32 {
  switch p.act {
    case 1u: {
      // tanh's argument is clamped: tanh(15) is 1 in f32, and some drivers compute tanh via exp, which overflows.
      let u = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0);
      return 0.5 * x * (1.0 + tanh(u));
    }
    case 2u: {
      return 0.5 * x * (1.0 + erf_approx(x * 0.7071067811865476));
    }
    case 3u: {
      return x / (1.0 + exp(-x));
    }
    default: {
      return x;
    }
  }
}

// Called once per in-bounds output element with its f32 partial sum over this dispatch's K range.
fn epilogue_store(batch: u32, m: u32, n: u32, sum: f32) {
  let ai = batch * p.acc_bs + m * p.acc_ld + n;
  var v = sum;
  if (p.mode == 1u) {
    acc[ai] = v;
    return;
  }
  if (p.mode >= 2u) {
    v = v + acc[ai];
  }
  if (p.mode == 2u) {
    acc[ai] = v;
    return;
  }
  v = v * p.alpha;
  if (p.has_bias != 0u) {
    v = v + f32(bias[p.bias_off + n]);
  }
  out[p.o_off + batch * p.o_bs + m * p.ldo + n] = {{TO}}(activate(v));
}
