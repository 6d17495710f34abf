// Elementwise binary op with NumPy broadcasting, computed in f32.
// A full-shape operand is bound at the chunk's offset and read at the local index; a broadcast operand is bound
// whole and read through its broadcast strides from the global index (base + local).
struct Params {
  n: u32,
  base: u32,
  rank: u32,
  nx: u32,
  out_shape: array<vec4<u32>, 2>,
  a_strides: array<vec4<u32>, 2>,
  b_strides: array<vec4<u32>, 2>,
};

@group(0) @binding(0) var<storage, read> a: array<{{TA}}>;
@group(0) @binding(1) var<storage, read> b: array<{{TB}}>;
@group(0) @binding(2) var<storage, read_write> out: array<{{TO}}>;
@group(0) @binding(3) var<uniform> p: Params;

fn dim(v: array<vec4<u32>, 2>, i: u32) -> u32 {
  return v[i / 4u][i % 4u];
}

fn bcast_index(g: u32, strides: array<vec4<u32>, 2>) -> u32 {
  var rem = g;
  var idx = 0u;
  for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
    let s = dim(p.out_shape, u32(d));
    let c = rem % s;
    rem = rem / s;
    idx = idx + c * dim(strides, u32(d));
  }
  return idx;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * p.nx) * 256u + li;
  if (i >= p.n) {
    return;
  }
  let g = p.base + i;
  var ia = i;
  var ib = i;
  if ({{A_BCAST}}) {
    ia = bcast_index(g, p.a_strides);
  }
  if ({{B_BCAST}}) {
    ib = bcast_index(g, p.b_strides);
  }
  let x = f32(a[ia]);
  let y = f32(b[ib]);
  out[i] = {{TO}}({{EXPR}});
}
