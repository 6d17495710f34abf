// Materialised axis permutation (rank <= 6). One invocation per output element of the current output chunk; the
// source element's global index comes from the output coordinates and the permuted input strides. When the input
// is bound in several windows (binding limit), elements whose source lies outside the current window are skipped
// and written by the dispatch that binds it.
struct Params {
  n: u32,
  base: u32,
  rank: u32,
  nx: u32,
  in_start: u32,
  in_count: u32,
  x_shift: u32,
  o_shift: u32,
  out_shape: array<vec4<u32>, 2>,
  src_strides: array<vec4<u32>, 2>,
};

@group(0) @binding(0) var<storage, read> x: array<{{TX}}>;
@group(0) @binding(1) var<storage, read_write> out: array<{{TO}}>;
@group(0) @binding(2) var<uniform> p: Params;

fn dim(v: array<vec4<u32>, 2>, i: u32) -> u32 {
  return v[i / 4u][i % 4u];
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * p.nx) * 256u + li;
  if (i >= p.n) {
    return;
  }
  var rem = p.base + i;
  var src = 0u;
  for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
    let s = dim(p.out_shape, u32(d));
    src = src + (rem % s) * dim(p.src_strides, u32(d));
    rem = rem / s;
  }
  if (src < p.in_start || src - p.in_start >= p.in_count) {
    return;
  }
  out[p.o_shift + i] = {{TO}}(f32(x[p.x_shift + src - p.in_start]));
}
