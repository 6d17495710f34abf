// Dense 3-D convolution (cross-correlation, stride 1, zero padding) on channel-last volumes as an implicit GEMM:
// M = output voxels of this dispatch, N = output channels of this dispatch, K = k^3 * Cin with k index
// tap * Cin + ci (tap = (kd * k + kh) * k + kw), i.e. the prepared weight [Cout, kd, kh, kw, Cin] row per channel.
// A workgroup computes a TM x TN output tile; the K loop stages a TK-slice of the im2col rows (A, gathered from the
// input with zero padding) and of the weight rows (B) in workgroup memory; each invocation accumulates RM x RN
// outputs in f32. The output is rounded to its storage type once, after adding the bias.
struct Params {
  m: u32,
  nz: u32,
  z0: u32,
  zin0: u32,
  dwin: u32,
  depth: u32,
  height: u32,
  width: u32,
  oh: u32,
  ow: u32,
  cin: u32,
  cout: u32,
  n: u32,
  n0: u32,
  k: u32,
  ks: u32,
  pad: u32,
  nx: u32,
  x_shift: u32,
  w_shift: u32,
  o_shift: u32,
  // Equal to TK. The inner loop runs to this uniform rather than the constant so Mesa does not unroll it: the fully
  // unrolled wide tile took lavapipe ~19 s to compile at first dispatch (vs ~4 s) for no measured speed-up.
  tk: u32,
  has_bias: u32,
};

@group(0) @binding(0) var<storage, read> x: array<{{TX}}>;
@group(0) @binding(1) var<storage, read> wt: array<{{TW}}>;
@group(0) @binding(2) var<storage, read> bias: array<{{TB}}>;
@group(0) @binding(3) var<storage, read_write> out: array<{{TO}}>;
@group(0) @binding(4) var<uniform> p: Params;

const TM = {{TM}}u;
const TN = {{TN}}u;
const TK = {{TK}}u;
const RM = {{RM}}u;
const RN = {{RN}}u;
const WG = {{WG}}u;
const A_ITERS = {{A_ITERS}}u;
const TXN = TN / RN; // invocations along N
const TYM = TM / RM; // invocations along M
const ROWS_PER_PASS = WG / TK; // A rows one pass of the workgroup loads

var<workgroup> a_s: array<f32, {{A_SIZE}}>; // [TK][TM]
var<workgroup> b_s: array<f32, {{B_SIZE}}>; // [TK][TN]

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let m_base = (wg.x + wg.y * p.nx) * TM;
  let n_base = wg.z * TN;
  let kk = li % TK;
  let row0 = li / TK;
  let ipad = i32(p.pad);

  // The output voxels this invocation gathers A rows for never change across the K loop: decode them once.
  var a_plane: array<u32, {{A_ITERS}}>;
  var a_d: array<i32, {{A_ITERS}}>;
  var a_h: array<i32, {{A_ITERS}}>;
  var a_w: array<i32, {{A_ITERS}}>;
  for (var j = 0u; j < A_ITERS; j = j + 1u) {
    let m = m_base + row0 + j * ROWS_PER_PASS;
    let wq = m % p.ow;
    let t = m / p.ow;
    let hq = t % p.oh;
    let t2 = t / p.oh;
    let dl = t2 % p.nz;
    let bl = t2 / p.nz;
    a_plane[j] = bl * p.dwin;
    a_d[j] = select(-1000000, i32(p.z0 + dl) - ipad, m < p.m);
    a_h[j] = i32(hq) - ipad;
    a_w[j] = i32(wq) - ipad;
  }

  let tx = li % TXN;
  let ty = li / TXN;
  // Accumulators are scalars generated per (r, c) (acc_r_c): private arrays indexed in loops made lavapipe's
  // LLVM compile the wide tile for ~28 s; scalars compile in well under a second.
{{ACC_DECL}}
  for (var kt = 0u; kt < p.k; kt = kt + TK) {
    let k = kt + kk;
    let tap = k / p.cin;
    let ci = k - tap * p.cin;
    let kw = i32(tap % p.ks);
    let t3 = tap / p.ks;
    let kh = i32(t3 % p.ks);
    let kd = i32(t3 / p.ks);
    let kvalid = k < p.k;
    for (var j = 0u; j < A_ITERS; j = j + 1u) {
      let sd = a_d[j] + kd;
      let sh = a_h[j] + kh;
      let sw = a_w[j] + kw;
      var v = 0.0;
      if (kvalid && sd >= 0 && sd < i32(p.depth) && sh >= 0 && sh < i32(p.height) && sw >= 0 &&
          sw < i32(p.width)) {
        let plane = a_plane[j] + u32(sd) - p.zin0;
        v = f32(x[p.x_shift + ((plane * p.height + u32(sh)) * p.width + u32(sw)) * p.cin + ci]);
      }
      a_s[kk * TM + row0 + j * ROWS_PER_PASS] = v;
    }
    for (var i = li; i < TN * TK; i = i + WG) {
      let bk = i % TK;
      let bn = i / TK;
      let n = n_base + bn;
      let kb = kt + bk;
      var v = 0.0;
      if (n < p.n && kb < p.k) {
        v = f32(wt[p.w_shift + n * p.k + kb]);
      }
      b_s[bk * TN + bn] = v;
    }
    workgroupBarrier();
    for (var q = 0u; q < p.tk; q = q + 1u) {
{{MICRO}}
    }
    workgroupBarrier();
  }

{{STORE}}
}

fn store(m: u32, n: u32, acc: f32) {
  if (m < p.m && n < p.n) {
    var v = acc;
    if (p.has_bias != 0u) {
      v = v + f32(bias[p.n0 + n]);
    }
    out[p.o_shift + m * p.cout + p.n0 + n] = {{TO}}(v);
  }
}
