// GroupNorm pass 1: partial statistics of one block of R rows (of one batch item) for one channel group.
// x is channel-last [rows, C]; a group is `cpg` consecutive channels. Each workgroup reads R * cpg values, computes
// their mean and then the sum of squared deviations from it (two passes over values that stay in cache), and
// writes (mean, M2, count) for the combine pass (Chan's parallel formula).
struct Params {
  rows: u32,     // rows of this dispatch (within one batch item)
  c: u32,        // channels
  cpg: u32,      // channels per group
  groups: u32,
  r: u32,        // rows per block
  blk0: u32,     // index of this dispatch's first block in `part` (per group)
  nx: u32,
  x_base: u32,   // elements between the binding start and the dispatch's first row
};

const WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<{{TX}}>;
@group(0) @binding(1) var<storage, read_write> part: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> red: array<f32, WG>;

fn wg_sum(v: f32, li: u32) -> f32 {
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
  let id = wg.x + wg.y * p.nx;
  let blk = id / p.groups;
  let g = id % p.groups;
  let row0 = blk * p.r;
  // Uniform across the workgroup (depends on workgroup_id only), so the barriers below stay uniform.
  if (row0 >= p.rows) {
    return;
  }
  let nrows = min(p.r, p.rows - row0);
  let count = nrows * p.cpg;
  let c0 = g * p.cpg;
  var s = 0.0;
  for (var e = li; e < count; e = e + WG) {
    s = s + f32(x[p.x_base + (row0 + e / p.cpg) * p.c + c0 + e % p.cpg]);
  }
  let mean = wg_sum(s, li) / f32(count);
  var q = 0.0;
  for (var e = li; e < count; e = e + WG) {
    let d = f32(x[p.x_base + (row0 + e / p.cpg) * p.c + c0 + e % p.cpg]) - mean;
    q = q + d * d;
  }
  let m2 = wg_sum(q, li);
  if (li == 0u) {
    part[(p.blk0 + blk) * p.groups + g] = vec4<f32>(mean, m2, f32(count), 0.0);
  }
}
