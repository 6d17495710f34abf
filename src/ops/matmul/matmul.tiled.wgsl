// Rung 1: tiled f32 matmul. Works on every adapter (no f16, no subgroups needed for f32 inputs).
// A workgroup of 16x16 threads computes a (16*TM) x (16*TN) output tile; each thread holds TM x TN f32
// accumulators at rows ty + 16 i and columns tx + 16 j (strided, so the shared-memory reads of one k step are
// conflict-free broadcasts and the final stores are coalesced). Tiles of a and b go through workgroup memory in
// f32, k-major, loaded with bounds checks (zero fill) so any M, N, K works.
const BM = 16u * {{TM}}u;
const BN = 16u * {{TN}}u;
const BK = {{BK}}u;
const A_LOADS = BM * BK / 256u;
const B_LOADS = BN * BK / 256u;

var<workgroup> As: array<f32, BK * BM>;
var<workgroup> Bs: array<f32, BK * BN>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let batch = wg.z;
  let m0 = wg.y * BM;
  let n0 = wg.x * BN;
  let tx = li % 16u;
  let ty = li / 16u;
  var sum: array<f32, {{TM}} * {{TN}}>;
  var av: array<f32, {{TM}}>;
  var bv: array<f32, {{TN}}>;
  for (var k0 = 0u; k0 < p.K; k0 = k0 + BK) {
    for (var i = 0u; i < A_LOADS; i = i + 1u) {
      let e = li + 256u * i;
      // Consecutive threads read consecutive addresses of a: along k, or along m when a is transposed.
      let r = select(e / BK, e % BM, p.trans_a != 0u);
      let c = select(e % BK, e / BM, p.trans_a != 0u);
      As[c * BM + r] = f32(load_a(batch, m0 + r, k0 + c));
    }
    for (var i = 0u; i < B_LOADS; i = i + 1u) {
      let e = li + 256u * i;
      let kk = select(e / BN, e % BK, p.trans_b != 0u);
      let nn = select(e % BN, e / BK, p.trans_b != 0u);
      Bs[kk * BN + nn] = f32(load_b(batch, k0 + kk, n0 + nn));
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k = k + 1u) {
      for (var i = 0u; i < {{TM}}u; i = i + 1u) {
        av[i] = As[k * BM + ty + 16u * i];
      }
      for (var j = 0u; j < {{TN}}u; j = j + 1u) {
        bv[j] = Bs[k * BN + tx + 16u * j];
      }
      for (var i = 0u; i < {{TM}}u; i = i + 1u) {
        for (var j = 0u; j < {{TN}}u; j = j + 1u) {
          sum[i * {{TN}}u + j] = fma(av[i], bv[j], sum[i * {{TN}}u + j]);
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < {{TM}}u; i = i + 1u) {
    let m = m0 + ty + 16u * i;
    for (var j = 0u; j < {{TN}}u; j = j + 1u) {
      let n = n0 + tx + 16u * j;
      if (m < p.M && n < p.N) {
        epilogue_store(batch, m, n, sum[i * {{TN}}u + j]);
      }
    }
  }
}
