// Rung 1b: tiled matmul with vec4 register blocking and register prefetch (f32 workgroup tiles; f32 or f16
// operands). Runs everywhere. A workgroup of 16x16 threads computes a (16*TM) x (16*TM) tile (TM = 4 or 8);
// thread (tx, ty) owns rows g * 64 + 4 ty .. +4 and columns g * 64 + 4 tx .. +4 for g < TM / 4, so each k step
// reads TM / 4 vec4 of a and of b from workgroup memory (conflict-free: 16 consecutive vec4s) and does TM * TM
// FMAs as vec4 FMAs. Tiles are k-major ([k][m], [k][n]) with rows padded by one vec4 so the transposing stores
// spread over banks. The next k tile is read into registers (bounds-checked scalar loads, any layout) while the
// current one is multiplied.
const TM = {{TM}}u;
const BM = 16u * TM;
const BK = {{BK}}u;
const RG = TM / 4u;
const BM4 = BM / 4u;
const LD4 = BM4 + 1u;
const LOADS = BM * BK / 256u;

var<workgroup> As: array<vec4<f32>, BK * LD4>;
var<workgroup> Bs: array<vec4<f32>, BK * LD4>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let batch = wg.z;
  let m0 = wg.y * BM;
  let n0 = wg.x * BM;
  let tx = li % 16u;
  let ty = li / 16u;
  var acc: array<vec4<f32>, TM * RG>;
  var pa: array<f32, LOADS>;
  var pb: array<f32, LOADS>;
  // Element e of a tile: consecutive threads read consecutive addresses of a (along k, or along m when a is
  // transposed) and of b (along n, or along k when transposed).
  for (var i = 0u; i < LOADS; i = i + 1u) {
    let e = li + 256u * i;
    pa[i] = f32(load_a(batch, m0 + select(e / BK, e % BM, p.trans_a != 0u), select(e % BK, e / BM, p.trans_a != 0u)));
    pb[i] = f32(load_b(batch, select(e / BM, e % BK, p.trans_b != 0u), n0 + select(e % BM, e / BK, p.trans_b != 0u)));
  }
  for (var k0 = 0u; k0 < p.K; k0 = k0 + BK) {
    workgroupBarrier();
    for (var i = 0u; i < LOADS; i = i + 1u) {
      let e = li + 256u * i;
      let ar = select(e / BK, e % BM, p.trans_a != 0u);
      let ac = select(e % BK, e / BM, p.trans_a != 0u);
      As[ac * LD4 + ar / 4u][ar % 4u] = pa[i];
      let bk = select(e / BM, e % BK, p.trans_b != 0u);
      let bn = select(e % BM, e / BK, p.trans_b != 0u);
      Bs[bk * LD4 + bn / 4u][bn % 4u] = pb[i];
    }
    workgroupBarrier();
    let kn = k0 + BK;
    if (kn < p.K) {
      for (var i = 0u; i < LOADS; i = i + 1u) {
        let e = li + 256u * i;
        pa[i] = f32(load_a(batch, m0 + select(e / BK, e % BM, p.trans_a != 0u), kn + select(e % BK, e / BM, p.trans_a != 0u)));
        pb[i] = f32(load_b(batch, kn + select(e / BM, e % BK, p.trans_b != 0u), n0 + select(e % BM, e / BK, p.trans_b != 0u)));
      }
    }
    for (var k = 0u; k < BK; k = k + 1u) {
      var av: array<vec4<f32>, RG>;
      var bv: array<vec4<f32>, RG>;
      for (var g = 0u; g < RG; g = g + 1u) {
        av[g] = As[k * LD4 + g * 16u + ty];
        bv[g] = Bs[k * LD4 + g * 16u + tx];
      }
      for (var g = 0u; g < RG; g = g + 1u) {
        for (var ii = 0u; ii < 4u; ii = ii + 1u) {
          let x = vec4<f32>(av[g][ii]);
          for (var jg = 0u; jg < RG; jg = jg + 1u) {
            let ai = (g * 4u + ii) * RG + jg;
            acc[ai] = fma(x, bv[jg], acc[ai]);
          }
        }
      }
    }
  }
  for (var g = 0u; g < RG; g = g + 1u) {
    for (var ii = 0u; ii < 4u; ii = ii + 1u) {
      let m = m0 + g * 64u + ty * 4u + ii;
      for (var jg = 0u; jg < RG; jg = jg + 1u) {
        let v = acc[(g * 4u + ii) * RG + jg];
        let nb = n0 + jg * 64u + tx * 4u;
        for (var c = 0u; c < 4u; c = c + 1u) {
          if (m < p.M && nb + c < p.N) {
            epilogue_store(batch, m, nb + c, v[c]);
          }
        }
      }
    }
  }
}
