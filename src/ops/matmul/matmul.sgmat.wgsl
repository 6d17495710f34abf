// Rung 3: subgroup-matrix matmul (Dawn chromium_experimental_subgroup_matrix), f16 a and b, f32 accumulation.
// A workgroup of 8 subgroups (SG lanes each) computes a 128x128 output tile. Per 32-deep k tile, all threads
// stage a 128x32 tile of a ([m][k], row stride 40) and a 32x128 tile of b ([k][n], row stride 136) in workgroup
// memory with bounds checks (zero fill), so M, N, K need not be multiples of anything. Subgroup s owns rows
// 32*(s/2) .. +32 and columns 64*(s%2) .. +64: 2x4 result matrices of 16x16, fed by 2 left and 4 right 16x16
// loads per 16-deep k step. The row strides are padded by 8 halves (16 bytes) to spread banks while keeping
// every matrix row 16-byte aligned.
// The epilogue stores one 16x16 result at a time into a per-subgroup f32 scratch, then the lanes apply
// alpha/bias/activation and write the in-bounds elements. Written for the probe's 16x16x16 f16->f32 shape; the
// dispatcher only picks it when the adapter lists that configuration and a fixed subgroup size SG.
const BM = 128u;
const BN = 128u;
const BK = 32u;
const LDS_A = 40u;
const LDS_B = 136u;
const SG = {{SG}}u;
const WG = 8u * SG;
const LOADS = BM * BK / WG;

var<workgroup> As: array<f16, BM * LDS_A>;
var<workgroup> Bs: array<f16, BK * LDS_B>;
var<workgroup> Cs: array<f32, 8u * 256u>;

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
  let sm = (s / 2u) * 32u;
  let sn = (s % 2u) * 64u;
  var c00 = subgroup_matrix_result<f32, 16, 16>();
  var c01 = subgroup_matrix_result<f32, 16, 16>();
  var c02 = subgroup_matrix_result<f32, 16, 16>();
  var c03 = subgroup_matrix_result<f32, 16, 16>();
  var c10 = subgroup_matrix_result<f32, 16, 16>();
  var c11 = subgroup_matrix_result<f32, 16, 16>();
  var c12 = subgroup_matrix_result<f32, 16, 16>();
  var c13 = subgroup_matrix_result<f32, 16, 16>();
  for (var k0 = 0u; k0 < p.K; k0 = k0 + BK) {
    for (var i = 0u; i < LOADS; i = i + 1u) {
      let e = li + WG * i;
      let r = select(e / BK, e % BM, p.trans_a != 0u);
      let c = select(e % BK, e / BM, p.trans_a != 0u);
      As[r * LDS_A + c] = f16(load_a(batch, m0 + r, k0 + c));
      let kk = select(e / BN, e % BK, p.trans_b != 0u);
      let nn = select(e % BN, e / BK, p.trans_b != 0u);
      Bs[kk * LDS_B + nn] = f16(load_b(batch, k0 + kk, n0 + nn));
    }
    workgroupBarrier();
    for (var ks = 0u; ks < BK; ks = ks + 16u) {
      let l0 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&As, sm * LDS_A + ks, false, LDS_A);
      let l1 = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&As, (sm + 16u) * LDS_A + ks, false, LDS_A);
      let rb = ks * LDS_B + sn;
      let r0 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&Bs, rb, false, LDS_B);
      let r1 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&Bs, rb + 16u, false, LDS_B);
      let r2 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&Bs, rb + 32u, false, LDS_B);
      let r3 = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&Bs, rb + 48u, false, LDS_B);
      c00 = subgroupMatrixMultiplyAccumulate(l0, r0, c00);
      c01 = subgroupMatrixMultiplyAccumulate(l0, r1, c01);
      c02 = subgroupMatrixMultiplyAccumulate(l0, r2, c02);
      c03 = subgroupMatrixMultiplyAccumulate(l0, r3, c03);
      c10 = subgroupMatrixMultiplyAccumulate(l1, r0, c10);
      c11 = subgroupMatrixMultiplyAccumulate(l1, r1, c11);
      c12 = subgroupMatrixMultiplyAccumulate(l1, r2, c12);
      c13 = subgroupMatrixMultiplyAccumulate(l1, r3, c13);
    }
    workgroupBarrier();
  }
  let cs = s * 256u;
  let mr = m0 + sm;
  let nc = n0 + sn;
  subgroupMatrixStore(&Cs, cs, c00, false, 16u);
  workgroupBarrier();
  emit_block(s, lane, batch, mr, nc);
  workgroupBarrier();
  subgroupMatrixStore(&Cs, cs, c01, false, 16u);
  workgroupBarrier();
  emit_block(s, lane, batch, mr, nc + 16u);
  workgroupBarrier();
  subgroupMatrixStore(&Cs, cs, c02, false, 16u);
  workgroupBarrier();
  emit_block(s, lane, batch, mr, nc + 32u);
  workgroupBarrier();
  subgroupMatrixStore(&Cs, cs, c03, false, 16u);
  workgroupBarrier();
  emit_block(s, lane, batch, mr, nc + 48u);
  workgroupBarrier();
  subgroupMatrixStore(&Cs, cs, c10, false, 16u);
  workgroupBarrier();
  emit_block(s, lane, batch, mr + 16u, nc);
  workgroupBarrier();
  subgroupMatrixStore(&Cs, cs, c11, false, 16u);
  workgroupBarrier();
  emit_block(s, lane, batch, mr + 16u, nc + 16u);
  workgroupBarrier();
  subgroupMatrixStore(&Cs, cs, c12, false, 16u);
  workgroupBarrier();
  emit_block(s, lane, batch, mr + 16u, nc + 32u);
  workgroupBarrier();
  subgroupMatrixStore(&Cs, cs, c13, false, 16u);
  workgroupBarrier();
  emit_block(s, lane, batch, mr + 16u, nc + 48u);
}
