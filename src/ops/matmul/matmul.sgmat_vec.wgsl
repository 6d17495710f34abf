// Rung 3, fast path: subgroup-matrix matmul with vec4 global loads and register prefetch (f16 a and b, f32
// accumulation). Prepended by matmul.common with TA = TB = vec4<f16>: the operands are bound as vec4 arrays, so
// the dispatcher only takes this path when every row stride, batch stride, window offset and the vector extent
// (K for a, N for b, or M / K when transposed) is a multiple of 4; whole vec4s are then either in or out of
// bounds. Other shapes use matmul.sgmat (scalar loads).
//
// A workgroup of NSG subgroups (SG lanes each) computes a BM x BN output tile; subgroup s owns a WM x WN block at
// rows WM * (s / SGN), columns WN * (s % SGN), i.e. FM x FN result matrices of 16x16. Operand tiles are staged in
// workgroup memory in the operand's own layout (a: [m][k], or [k][m] when transposed; b: [k][n], or [n][k]) so the
// global loads are contiguous vec4s; the transpose is the col_major flag of subgroupMatrixLoad. Row strides are
// padded by 8 halves (16 bytes). The next k tile is loaded into registers while the current one is multiplied.
// Transposes are template constants here: this rung never compiles on CPU adapters, so the pipeline count does
// not matter for lavapipe's compile time.
const BM = {{BM}}u;
const BN = {{BN}}u;
const BK = {{BK}}u;
const SG = {{SG}}u;
const NSG = {{NSG}}u;
const SGN = {{SGN}}u;
const WM = {{WM}}u;
const WN = {{WN}}u;
const WG = NSG * SG;
const TRANS_A = {{TRANS_A}};
const TRANS_B = {{TRANS_B}};
// Staged a: BM rows of BK (+8) halves, or BK rows of BM (+8) when transposed. Same for b with BN.
const A_ROWS = {{A_ROWS}}u;
const A_COLS = {{A_COLS}}u;
const LDS_A = A_COLS + 8u;
const B_ROWS = {{B_ROWS}}u;
const B_COLS = {{B_COLS}}u;
const LDS_B = B_COLS + 8u;
const A_VPR = A_COLS / 4u;
const B_VPR = B_COLS / 4u;
const A_LOADS = A_ROWS * A_VPR / WG;
const B_LOADS = B_ROWS * B_VPR / WG;

var<workgroup> As: array<f16, A_ROWS * LDS_A>;
var<workgroup> Bs: array<f16, B_ROWS * LDS_B>;
var<workgroup> Cs: array<f32, NSG * 256u>;

// vec4 i of this thread's share of the a tile at k0 (zero outside the matrix).
fn fetch_a(batch: u32, m0: u32, k0: u32, e: u32) -> vec4<f16> {
  let row = e / A_VPR;
  let col = (e % A_VPR) * 4u;
  var gr: u32;
  var gc: u32;
  var ok: bool;
  if (TRANS_A) {
    gr = k0 + row;
    gc = m0 + col;
    ok = gr < p.K && gc < p.M;
  } else {
    gr = m0 + row;
    gc = k0 + col;
    ok = gr < p.M && gc < p.K;
  }
  if (!ok) {
    return vec4<f16>(0.0);
  }
  return a[(p.a_off + batch * p.a_bs + gr * p.lda + gc) / 4u];
}

fn fetch_b(batch: u32, n0: u32, k0: u32, e: u32) -> vec4<f16> {
  let row = e / B_VPR;
  let col = (e % B_VPR) * 4u;
  var gr: u32;
  var gc: u32;
  var ok: bool;
  if (TRANS_B) {
    gr = n0 + row;
    gc = k0 + col;
    ok = gr < p.N && gc < p.K;
  } else {
    gr = k0 + row;
    gc = n0 + col;
    ok = gr < p.K && gc < p.N;
  }
  if (!ok) {
    return vec4<f16>(0.0);
  }
  return b[(p.b_off + batch * p.b_bs + gr * p.ldb + gc) / 4u];
}

fn stage_a(e: u32, v: vec4<f16>) {
  let o = (e / A_VPR) * LDS_A + (e % A_VPR) * 4u;
  As[o] = v.x;
  As[o + 1u] = v.y;
  As[o + 2u] = v.z;
  As[o + 3u] = v.w;
}

fn stage_b(e: u32, v: vec4<f16>) {
  let o = (e / B_VPR) * LDS_B + (e % B_VPR) * 4u;
  Bs[o] = v.x;
  Bs[o + 1u] = v.y;
  Bs[o + 2u] = v.z;
  Bs[o + 3u] = v.w;
}

// Lanes of subgroup `s` write the 16x16 block staged in Cs[s * 256 ..] to output rows m .. m+16, cols n .. n+16.
fn emit_block(s: u32, lane: u32, batch: u32, m: u32, n: u32) {
  for (var e = lane; e < 256u; e = e + SG) {
    let r = m + e / 16u;
    let c = n + e % 16u;
    if (r < p.M && c < p.N) {
      epilogue_store(batch, r, c, Cs[s * 256u + e]);
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let batch = wg.z;
  let m0 = wg.y * BM;
  let n0 = wg.x * BN;
  let s = li / SG;
  let lane = li % SG;
  let sm = (s / SGN) * WM;
  let sn = (s % SGN) * WN;
{{ACC_DECL}}
  var ra: array<vec4<f16>, A_LOADS>;
  var rb: array<vec4<f16>, B_LOADS>;
  for (var i = 0u; i < A_LOADS; i = i + 1u) {
    ra[i] = fetch_a(batch, m0, 0u, li + WG * i);
  }
  for (var i = 0u; i < B_LOADS; i = i + 1u) {
    rb[i] = fetch_b(batch, n0, 0u, li + WG * i);
  }
  for (var k0 = 0u; k0 < p.K; k0 = k0 + BK) {
    workgroupBarrier();
    for (var i = 0u; i < A_LOADS; i = i + 1u) {
      stage_a(li + WG * i, ra[i]);
    }
    for (var i = 0u; i < B_LOADS; i = i + 1u) {
      stage_b(li + WG * i, rb[i]);
    }
    workgroupBarrier();
    // Prefetch the next k tile into registers; its loads overlap the multiplies below.
    let kn = k0 + BK;
    if (kn < p.K) {
      for (var i = 0u; i < A_LOADS; i = i + 1u) {
        ra[i] = fetch_a(batch, m0, kn, li + WG * i);
      }
      for (var i = 0u; i < B_LOADS; i = i + 1u) {
        rb[i] = fetch_b(batch, n0, kn, li + WG * i);
      }
    }
    for (var ks = 0u; ks < BK; ks = ks + 16u) {
{{MMA}}
    }
  }
  let cs = s * 256u;
{{EMIT}}
}
