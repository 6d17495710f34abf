// Elementwise unary op computed in f32: out[i] = TO(EXPR(f32(x[i]))), one rounding to the output type. The input
// and output are bound at the chunk's element offset. ACTIVATIONS is src/ops/activation/activation.wgsl.
struct Params {
  n: u32,
  nx: u32,
  alpha: f32,
  beta: f32,
};

@group(0) @binding(0) var<storage, read> src: array<{{TI}}>;
@group(0) @binding(1) var<storage, read_write> out: array<{{TO}}>;
@group(0) @binding(2) var<uniform> p: Params;

{{ACTIVATIONS}}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * p.nx) * 256u + li;
  if (i >= p.n) {
    return;
  }
  let x = f32(src[i]);
  let alpha = p.alpha;
  let beta = p.beta;
  out[i] = {{TO}}({{EXPR}});
}
