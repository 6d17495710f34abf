// Multi-head RMS norm (TRELLIS `MultiHeadRMSNorm`): for each row of D values (one head of one token),
//   y = (x / max(||x||_2, 1e-12)) * gamma[head, d] * sqrt(D)     in f32, one rounding to the output type.
// RT threads per row, WG / RT rows per workgroup; the row's values stay in registers (PT per thread).
struct Params {
  rows: u32,
  d: u32,
  nx: u32,
  heads: u32,
  row0: u32,
  scale: f32,
  _pad0: u32,
  _pad1: u32,
};

const WG: u32 = {{WG}}u;
const RT: u32 = {{RT}}u;
const RPW: u32 = WG / RT;
const PT: u32 = {{PT}}u;

@group(0) @binding(0) var<storage, read> x: array<{{TX}}>;
@group(0) @binding(1) var<storage, read_write> out: array<{{TO}}>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> gamma: array<{{TG}}>;

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let slot = li / RT;
  let t = li % RT;
  let row = (wg.x + wg.y * p.nx) * RPW + slot;
  let live = row < p.rows;
  let d = p.d;
  let base = row * d;
  var vals: array<f32, PT>;
  var s = 0.0;
  if (live) {
    for (var k = 0u; k < PT; k = k + 1u) {
      let i = t + k * RT;
      var v = 0.0;
      if (i < d) {
        v = f32(x[base + i]);
      }
      vals[k] = v;
      s = s + v * v;
    }
  }
  red[li] = s;
  workgroupBarrier();
  for (var st = RT / 2u; st > 0u; st = st / 2u) {
    if (t < st) {
      red[li] = red[li] + red[li + st];
    }
    workgroupBarrier();
  }
  let denom = max(sqrt(red[li - t]), 1e-12);
  if (!live) {
    return;
  }
  let gbase = ((p.row0 + row) % p.heads) * d;
  for (var k = 0u; k < PT; k = k + 1u) {
    let i = t + k * RT;
    if (i < d) {
      out[base + i] = {{TO}}(((vals[k] / denom) * f32(gamma[gbase + i])) * p.scale);
    }
  }
}
