// GroupNorm pass 2: combine the block partials (mean, M2, count) of one (batch item, group) with Chan's formula
// and write (mean, 1 / sqrt(M2 / count + eps)). One workgroup per (batch item, group).
struct Params {
  blocks: u32, // blocks per batch item
  groups: u32,
  eps: f32,
  _pad: u32,
};

const WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> part: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> stats: array<vec2<f32>>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> rn: array<f32, WG>;
var<workgroup> rm: array<f32, WG>;
var<workgroup> rq: array<f32, WG>;

// Merges partial b into partial a (count, mean, M2).
fn merge(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
  let n = a.x + b.x;
  if (b.x == 0.0) {
    return a;
  }
  if (a.x == 0.0) {
    return b;
  }
  let delta = b.y - a.y;
  let fb = b.x / n;
  return vec3<f32>(n, a.y + delta * fb, a.z + b.z + delta * delta * a.x * fb);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let bg = wg.x; // batch item * groups + group
  let b = bg / p.groups;
  let g = bg % p.groups;
  var acc = vec3<f32>(0.0, 0.0, 0.0);
  for (var j = li; j < p.blocks; j = j + WG) {
    let q = part[(b * p.blocks + j) * p.groups + g];
    acc = merge(acc, vec3<f32>(q.z, q.x, q.y));
  }
  rn[li] = acc.x;
  rm[li] = acc.y;
  rq[li] = acc.z;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (li < s) {
      let m = merge(vec3<f32>(rn[li], rm[li], rq[li]), vec3<f32>(rn[li + s], rm[li + s], rq[li + s]));
      rn[li] = m.x;
      rm[li] = m.y;
      rq[li] = m.z;
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    stats[bg] = vec2<f32>(rm[0], 1.0 / sqrt(rq[0] / rn[0] + p.eps));
  }
}
