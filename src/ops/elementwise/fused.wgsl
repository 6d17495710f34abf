// Fused elementwise ops of the transformer blocks, f32 arithmetic with explicit rounding points:
//   gated residual   out = x + rnd(h * gate[b, c])     (gate [B, C] broadcast over the L tokens of batch item b)
//   plain residual   out = x + h
//   f16 quantise     out = round_f16(x)                (f32 storage of f16-rounded values)
// `rnd` rounds to the output dtype like a separate PyTorch op would (`h = h * gate; x = x + h`).
// x, h and out are bound at the chunk's element offset; the gate is bound whole and indexed with the global
// element index `base + i`.
struct Params {
  n: u32,
  nx: u32,
  base: u32,
  per_batch: u32,
  c: u32,
  inf: f32, // +inf from the host (WGSL constant expressions cannot spell it)
  _pad0: u32,
  _pad1: u32,
};

const ROUND16: bool = {{ROUND16}};

@group(0) @binding(0) var<storage, read> x: array<{{TX}}>;
@group(0) @binding(1) var<storage, read_write> out: array<{{TO}}>;
@group(0) @binding(2) var<uniform> p: Params;
{{AUX_DECL}}

// Nearest f16 value (ties to even) kept in f32. Compilers may fold `f32(f16(v))` to `v` (Mesa lavapipe does),
// so the rounding is spelled with round() on a power-of-two scaled value; subnormal f16 values use the
// quantum 2^-24, values beyond the f16 range become +-inf.
fn round_f16(v: f32) -> f32 {
  let a = abs(v);
  if (a >= 65520.0) {
    return sign(v) * p.inf;
  }
  let e = max(bitcast<u32>(a) >> 23u, 113u); // biased exponent, at least that of 2^-14 (smallest normal f16)
  let q = bitcast<f32>((e - 10u) << 23u); // f16 quantum at this exponent: 2^(e - 127 - 10)
  let qi = bitcast<f32>((264u - e) << 23u); // 1 / q, exact
  return round(v * qi) * q;
}

fn rnd(v: f32) -> f32 {
  if (ROUND16) {
    return round_f16(v);
  }
  return v;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * p.nx) * 256u + li;
  if (i >= p.n) {
    return;
  }
  let g = p.base + i;
  let xv = f32(x[i]);
  var y: f32;
  {{BODY}}
  out[i] = {{TO}}(y);
}
