// Rung 1c: register-blocked tiled matmul (f32 workgroup tiles; f32 or f16 operands; f32 accumulation).
// A workgroup of 16x16 threads computes a BM x BM output tile, BM = 16 * TM (TM = 8 on GPUs: 128x128, 8x8 outputs
// per thread; TM = 4 on CPU adapters). Thread (tx, ty) owns rows 64 g + 4 ty + (0..3) and columns 64 h + 4 tx +
// (0..3) for g, h < TM / 4. Both tiles are staged k-major ([k][m], [k][n]) as vec4 rows padded by one vec4, so one
// k step reads TM / 4 vec4 of a and of b (broadcast / 16 consecutive vec4s: no bank conflicts) and does TM * TM FMAs.
// Everything per thread is a named variable generated in TypeScript (tiled_reg.ts): TM * TM scalar accumulators
// acc_i_j, the prefetch registers ra* / rb* (the next k tile, read from global memory while the current one is
// multiplied) and the operand loads. No function-scope array is indexed by a loop variable, so no compiler can
// put them in local memory. The transposes are template constants baked into fetch_a / fetch_b / stage_a /
// stage_b (4 pipelines, plus 4 more for the vec4-load variant used when every offset, stride and vector extent of
// a dispatch is a multiple of 4); alpha, bias, activation and K-split mode stay uniforms in the epilogue.
const BM = {{BM}}u;
const BK = 16u;
const BM4 = BM / 4u;
const LD4 = BM4 + 1u;

var<workgroup> As: array<vec4<f32>, BK * LD4>;
var<workgroup> Bs: array<vec4<f32>, BK * LD4>;

{{FUNCS}}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let batch = wg.z;
  let m0 = wg.y * BM;
  let n0 = wg.x * BM;
  let tx = li % 16u;
  let ty = li / 16u;
  let a_base = p.a_off + batch * p.a_bs;
  let b_base = p.b_off + batch * p.b_bs;
{{DECL}}
  for (var k0 = 0u; k0 < p.K; k0 = k0 + BK) {
    workgroupBarrier();
{{STAGE}}
    workgroupBarrier();
    let kn = k0 + BK;
    if (kn < p.K) {
{{FETCH}}
    }
    for (var k = 0u; k < BK; k = k + 1u) {
      let ka = k * LD4;
{{FMA}}
    }
  }
{{EMIT}}
}
