// Numerically stable softmax over the last dimension, f32 internally: one workgroup per row.
// Three sweeps over the row (max, sum of exp, write); each sweep is a strided loop plus a tree reduction in
// workgroup memory, so any row length works. Rows are bound per chunk at a byte offset; `x_base`/`o_base` are the
// elements between the (aligned) binding start and the chunk's first row.
struct Params {
  rows: u32,
  n: u32,
  nx: u32,
  x_base: u32,
  o_base: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
};

const WG: u32 = {{WG}}u;

@group(0) @binding(0) var<storage, read> x: array<{{TX}}>;
@group(0) @binding(1) var<storage, read_write> out: array<{{TO}}>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> red: array<f32, WG>;

fn reduce_max(v: f32, li: u32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (li < s) {
      red[li] = max(red[li], red[li + s]);
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn reduce_sum(v: f32, li: u32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (li < s) {
      red[li] = red[li] + red[li + s];
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = wg.x + wg.y * p.nx;
  if (row >= p.rows) {
    return;
  }
  let xb = row * p.n + p.x_base;
  let ob = row * p.n + p.o_base;
  var m = -3.0e38;
  for (var i = li; i < p.n; i = i + WG) {
    m = max(m, f32(x[xb + i]));
  }
  m = reduce_max(m, li);
  var s = 0.0;
  for (var i = li; i < p.n; i = i + WG) {
    s = s + exp(f32(x[xb + i]) - m);
  }
  s = reduce_sum(s, li);
  let inv = 1.0 / s;
  for (var i = li; i < p.n; i = i + WG) {
    out[ob + i] = {{TO}}(exp(f32(x[xb + i]) - m) * inv);
  }
}
