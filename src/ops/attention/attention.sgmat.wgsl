// Flash-style attention on Dawn subgroup matrices (chromium_experimental_subgroup_matrix, 16x16x16 f16 -> f32).
// f16 q, k, v (bound as vec4<f16> arrays: D and the window origins are multiples of 4), f16 output.
//
// One workgroup = BQ = 16 * NSG queries of one sequence for one head (wg.z); subgroup s owns query rows
// 16 s .. 16 s + 16. Per BK-key tile:
//   1. all threads stage K and V ([key][d], row stride D + 8 halves) and the key bias (NEG past the end);
//   2. S = Q K^T: the subgroup's Q rows stay in registers as D/16 left matrices (loaded once); K is read as a
//      column-major right matrix; the BK/16 result matrices go to the subgroup's f32 scratch `ss`;
//   3. online softmax by the lanes: lane pair (2r, 2r + 1) owns row r, each lane the columns of its parity, so
//      the row max and sum are one subgroupShuffleXor(., 1); P goes to `sp` as f16, O (f32, in registers, the
//      lane's D/2 columns) is rescaled;
//   4. P V on the matrix units into `ss` again (16 x D f32), which the lanes add to their O registers.
// The 16x16 fragments cannot be scaled per row, hence the round trip of S and P V through workgroup memory.
// Workgroup barriers separate the phases (a subgroup reads what another lane of it stored).
struct Params {
  heads: u32,
  tile_first: u32,
  n_tiles: u32,
  nx: u32,
  q_base: u32,
  k_base: u32,
  v_base: u32,
  o_base: u32,
  b_base: u32,
  scale: f32,
  dg: u32,
  bk: u32,
};

const NSG: u32 = {{NSG}}u;
const BQ: u32 = 16u * NSG;
const BK: u32 = {{BK}}u;
const D: u32 = {{D}}u;
const DV: u32 = D / 4u;
const WG: u32 = NSG * 32u;
// Row strides (elements): K/V/Q tiles, the f32 scratch (S: 16 x BK, then P V: 16 x D) and the P tile.
const LDQ: u32 = D + 8u;
const SLD: u32 = {{SLD}}u;
const LDP: u32 = BK + 8u;
const QK_ROWS: u32 = {{QK_ROWS}}u;
// Columns per lane in the softmax (BK / 2) and in the output (D / 2).
const CPL: u32 = BK / 2u;
const OPL: u32 = D / 2u;
const NEG: f32 = -1.0e30;

@group(0) @binding(0) var<storage, read> q: array<vec4<f16>>;
@group(0) @binding(1) var<storage, read> k: array<vec4<f16>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f16>>;
@group(0) @binding(3) var<storage, read_write> out: array<{{TO}}>;
@group(0) @binding(4) var<storage, read> tiles: array<vec4<u32>>;
@group(0) @binding(5) var<uniform> p: Params;
{{BIAS_DECL}}

// Q tile first, then each K tile (Q lives in registers once loaded).
var<workgroup> sqk: array<f16, QK_ROWS * LDQ>;
var<workgroup> sv: array<f16, BK * LDQ>;
var<workgroup> ss: array<f32, NSG * 16u * SLD>;
var<workgroup> sp: array<f16, NSG * 16u * LDP>;
var<workgroup> sb: array<f32, BK>;
var<workgroup> stile: vec4<u32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let ti = wg.x + wg.y * p.nx;
  if (ti >= p.n_tiles) {
    return;
  }
  let h = wg.z;
  if (li == 0u) {
    stile = tiles[p.tile_first + ti];
  }
  let tile = workgroupUniformLoad(&stile);
  let q0 = tile.x;
  let nq = tile.y - tile.x;
  let k0 = tile.z;
  let nk = tile.w - tile.z;
  let s = li / 32u;
  let lane = li % 32u;
  let row = lane / 2u;
  let hf = lane % 2u;
  let sbase = s * 16u * SLD;
  let pbase = s * 16u * LDP;

  for (var i = li; i < BQ * DV; i = i + WG) {
    let r = i / DV;
    let g = i % DV;
    var x = vec4<f16>(0.0);
    if (r < nq) {
      x = q[(((q0 + r) * p.heads + h) * D + g * 4u - p.q_base) / 4u];
    }
    let so = r * LDQ + g * 4u;
    sqk[so] = x.x;
    sqk[so + 1u] = x.y;
    sqk[so + 2u] = x.z;
    sqk[so + 3u] = x.w;
  }
  workgroupBarrier();
{{Q_LOAD}}

  var m = NEG;
  var l = 0.0;
  var o: array<f32, OPL>;
  for (var j = 0u; j < OPL; j = j + 1u) {
    o[j] = 0.0;
  }
  var x: array<f32, CPL>;

  for (var kt = 0u; kt < nk; kt = kt + BK) {
    workgroupBarrier();
    for (var i = li; i < BK * DV; i = i + WG) {
      let r = i / DV;
      let g = i % DV;
      var kx = vec4<f16>(0.0);
      var vx = vec4<f16>(0.0);
      if (kt + r < nk) {
        let e = ((k0 + kt + r) * p.heads + h) * D + g * 4u;
        kx = k[(e - p.k_base) / 4u];
        vx = v[(e - p.v_base) / 4u];
      }
      let so = r * LDQ + g * 4u;
      sqk[so] = kx.x;
      sqk[so + 1u] = kx.y;
      sqk[so + 2u] = kx.z;
      sqk[so + 3u] = kx.w;
      sv[so] = vx.x;
      sv[so + 1u] = vx.y;
      sv[so + 2u] = vx.z;
      sv[so + 3u] = vx.w;
    }
    for (var i = li; i < BK; i = i + WG) {
      var b = NEG;
      if (kt + i < nk) {
        let kg = k0 + kt + i;
        b = {{BIAS_EXPR}};
      }
      sb[i] = b;
    }
    workgroupBarrier();
{{QK}}
    workgroupBarrier();
    var tmax = NEG;
    for (var j = 0u; j < CPL; j = j + 1u) {
      let c = 2u * j + hf;
      x[j] = ss[sbase + row * SLD + c] * p.scale + sb[c];
      tmax = max(tmax, x[j]);
    }
    let mrow = max(tmax, subgroupShuffleXor(tmax, 1u));
    let mnew = max(m, mrow);
    let alpha = exp(m - mnew);
    m = mnew;
    var psum = 0.0;
    for (var j = 0u; j < CPL; j = j + 1u) {
      let pj = exp(x[j] - mnew);
      psum = psum + pj;
      sp[pbase + row * LDP + 2u * j + hf] = f16(pj);
    }
    l = l * alpha + psum;
    for (var j = 0u; j < OPL; j = j + 1u) {
      o[j] = o[j] * alpha;
    }
    workgroupBarrier();
{{PV}}
    workgroupBarrier();
    for (var j = 0u; j < OPL; j = j + 1u) {
      o[j] = o[j] + ss[sbase + row * SLD + 2u * j + hf];
    }
  }

  let lrow = l + subgroupShuffleXor(l, 1u);
  var inv = 0.0;
  if (lrow > 0.0) {
    inv = 1.0 / lrow;
  }
  let r = 16u * s + row;
  if (r < nq) {
    let ob = ((q0 + r) * p.heads + h) * D - p.o_base;
    for (var j = 0u; j < OPL; j = j + 1u) {
      out[ob + 2u * j + hf] = {{TO}}(o[j] * inv);
    }
  }
}
