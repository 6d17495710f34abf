// Rung 2: tiled matmul with f16 workgroup tiles for f16 operands (TSA / TSB are the operands' storage types, so
// an f32 operand keeps an f32 tile and loses nothing), f32 accumulation. Same 16x16-thread blocking as
// matmul.tiled, but half the shared memory per f16 tile pays for a k tile twice as deep (BK = 32), which halves
// the barriers per K. Needs shader-f16.
const BM = 16u * {{TM}}u;
const BN = 16u * {{TN}}u;
const BK = {{BK}}u;
const A_LOADS = BM * BK / 256u;
const B_LOADS = BN * BK / 256u;

var<workgroup> As: array<{{TSA}}, BK * BM>;
var<workgroup> Bs: array<{{TSB}}, BK * BN>;

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
      let r = select(e / BK, e % BM, p.trans_a != 0u);
      let c = select(e % BK, e / BM, p.trans_a != 0u);
      As[c * BM + r] = {{TSA}}(load_a(batch, m0 + r, k0 + c));
    }
    for (var i = 0u; i < B_LOADS; i = i + 1u) {
      let e = li + 256u * i;
      let kk = select(e / BN, e % BK, p.trans_b != 0u);
      let nn = select(e % BN, e / BK, p.trans_b != 0u);
      Bs[kk * BN + nn] = {{TSB}}(load_b(batch, k0 + kk, n0 + nn));
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k = k + 1u) {
      for (var i = 0u; i < {{TM}}u; i = i + 1u) {
        av[i] = f32(As[k * BM + ty + 16u * i]);
      }
      for (var j = 0u; j < {{TN}}u; j = j + 1u) {
        bv[j] = f32(Bs[k * BN + tx + 16u * j]);
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
