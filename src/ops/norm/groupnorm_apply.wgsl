// GroupNorm pass 3: y = (x - mean[b, g]) * rstd[b, g] [* w[c]] [+ bias[c]] in f32, one rounding to the output.
// x and out are bound at the chunk's element offset; `base` is the chunk's first element in the whole tensor.
struct Params {
  n: u32,
  nx: u32,
  base: u32,
  c: u32,
  cpg: u32,
  groups: u32,
  per_batch: u32, // elements per batch item (N * C)
  _pad: u32,
};

@group(0) @binding(0) var<storage, read> x: array<{{TX}}>;
@group(0) @binding(1) var<storage, read_write> out: array<{{TO}}>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> stats: array<vec2<f32>>;
{{AUX_DECL}}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * p.nx) * 256u + li;
  if (i >= p.n) {
    return;
  }
  let gi = p.base + i;
  let c = gi % p.c;
  let st = stats[(gi / p.per_batch) * p.groups + c / p.cpg];
  var y = (f32(x[i]) - st.x) * st.y;
  {{EPILOGUE}}
  out[i] = {{TO}}(y);
}
