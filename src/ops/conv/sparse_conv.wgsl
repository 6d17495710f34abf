// Submanifold sparse 3x3x3 convolution as one fused gather + GEMM over the neighbour table (no im2col buffer):
// out[r, n0 + c] = bias[n0 + c] + sum_k A[r, k] * W[c, k], k = tap * Cin + ci, A[r, k] = x[nbr[r, tap], ci] or 0
// when the tap's voxel is absent (nbr = -1). M = the rows of this dispatch, N = the output channels of this
// dispatch (a window of the weight's rows), K = 27 Cin. A workgroup computes a TM x TN output tile; the K loop
// stages a TK slice of the gathered rows (A) and of the weight rows (B) in workgroup memory; each invocation
// accumulates RM x RN outputs in f32 (generated scalars). The output is rounded to its storage type once, after the
// bias. The whole feature table x is one binding (any row may be a neighbour); rows and weight rows are windows.
struct Params {
  m: u32,
  cin: u32,
  cout: u32,
  n: u32,
  n0: u32,
  k: u32,
  nx: u32,
  x_shift: u32,
  nb_shift: u32,
  w_shift: u32,
  o_shift: u32,
  // Equal to TK; a uniform loop bound keeps Mesa from unrolling the inner loop (see conv3d.wgsl).
  tk: u32,
  has_bias: u32,
};

@group(0) @binding(0) var<storage, read> x: array<{{TX}}>;
@group(0) @binding(1) var<storage, read> nbr: array<i32>;
@group(0) @binding(2) var<storage, read> wt: array<{{TW}}>;
@group(0) @binding(3) var<storage, read> bias: array<{{TB}}>;
@group(0) @binding(4) var<storage, read_write> out: array<{{TO}}>;
@group(0) @binding(5) var<uniform> p: Params;

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
const TAPS = 27u;

var<workgroup> a_s: array<f32, {{A_SIZE}}>; // [TK][TM]
var<workgroup> b_s: array<f32, {{B_SIZE}}>; // [TK][TN]

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let m_base = (wg.x + wg.y * p.nx) * TM;
  let n_base = wg.z * TN;
  let kk = li % TK;
  let row0 = li / TK;

  let tx = li % TXN;
  let ty = li / TXN;
{{ACC_DECL}}
  for (var kt = 0u; kt < p.k; kt = kt + TK) {
    let k = kt + kk;
    let tap = k / p.cin;
    let ci = k - tap * p.cin;
    let kvalid = k < p.k;
    for (var j = 0u; j < A_ITERS; j = j + 1u) {
      let r = m_base + row0 + j * ROWS_PER_PASS;
      var v = 0.0;
      if (kvalid && r < p.m) {
        let src = nbr[p.nb_shift + r * TAPS + tap];
        if (src >= 0) {
          v = f32(x[p.x_shift + u32(src) * p.cin + ci]);
        }
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
