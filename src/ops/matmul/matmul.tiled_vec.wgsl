// Rung 1b: tiled matmul with vec4 register blocking and register prefetch (f32 workgroup tiles; f32 or f16
// operands). Runs everywhere. A workgroup of 16x16 threads computes a (16*TM) x (16*TM) tile (TM = 4 or 8);
// thread (tx, ty) owns rows g * 64 + 4 ty .. +4 and columns g * 64 + 4 tx .. +4 for g < TM / 4, so each k step
// reads TM / 4 vec4 of a and of b from workgroup memory (conflict-free: 16 consecutive vec4s) and does TM * TM
// FMAs as vec4 FMAs. Tiles are k-major ([k][m], [k][n]) with rows padded by one vec4 so the transposing stores
// spread over banks. The next k tile is read into registers (bounds-checked scalar loads, any layout) while the
// current one is multiplied.
// Accumulators, prefetch registers and the per-k operands are separate named variables, generated in TypeScript
// (the DECL, STAGE, FMA ... blocks), not function-scope arrays: on the H100 every tiled kernel written with loop-indexed arrays
// ran at ~2 TFLOP/s whatever its blocking, which points at those arrays living in local memory.
const TM = {{TM}}u;
const BM = 16u * TM;
const BK = {{BK}}u;
const BM4 = BM / 4u;
const LD4 = BM4 + 1u;

var<workgroup> As: array<vec4<f32>, BK * LD4>;
var<workgroup> Bs: array<vec4<f32>, BK * LD4>;

// Row (m or k) and column (k or n) of element e of an a tile / b tile, in the operand's memory order so that
// consecutive threads read consecutive addresses.
fn a_row(e: u32) -> u32 {
  return select(e / BK, e % BM, p.trans_a != 0u);
}
fn a_col(e: u32) -> u32 {
  return select(e % BK, e / BM, p.trans_a != 0u);
}
fn b_k(e: u32) -> u32 {
  return select(e / BM, e % BK, p.trans_b != 0u);
}
fn b_n(e: u32) -> u32 {
  return select(e % BM, e / BK, p.trans_b != 0u);
}

fn stage(e: u32, x: f32, y: f32) {
  let ar = a_row(e);
  As[a_col(e) * LD4 + ar / 4u][ar % 4u] = x;
  let bn = b_n(e);
  Bs[b_k(e) * LD4 + bn / 4u][bn % 4u] = y;
}

fn emit4(batch: u32, m: u32, n: u32, v: vec4<f32>) {
  if (m < p.M) {
    for (var c = 0u; c < 4u; c = c + 1u) {
      if (n + c < p.N) {
        epilogue_store(batch, m, n + c, v[c]);
      }
    }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let batch = wg.z;
  let m0 = wg.y * BM;
  let n0 = wg.x * BM;
  let tx = li % 16u;
  let ty = li / 16u;
{{DECL}}
{{PREFETCH0}}
  for (var k0 = 0u; k0 < p.K; k0 = k0 + BK) {
    workgroupBarrier();
{{STAGE}}
    workgroupBarrier();
    let kn = k0 + BK;
    if (kn < p.K) {
{{PREFETCH}}
    }
    for (var k = 0u; k < BK; k = k + 1u) {
{{FMA}}
    }
  }
{{EMIT}}
}
