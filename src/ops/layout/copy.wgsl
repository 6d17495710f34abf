// Strided 2-D block copy: out[dst_base + r * dst_stride + c] = x[src_base + r * src_stride + c] for a block of
// rows x cols elements; concat and slice are both this with different strides. Bases are folded into the binding
// windows (x_shift / o_shift are the alignment shifts of those windows).
struct Params {
  rows: u32,
  cols: u32,
  src_stride: u32,
  dst_stride: u32,
  x_shift: u32,
  o_shift: u32,
  nx: u32,
  _pad: u32,
};

@group(0) @binding(0) var<storage, read> x: array<{{TX}}>;
@group(0) @binding(1) var<storage, read_write> out: array<{{TO}}>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * p.nx) * 256u + li;
  if (i >= p.rows * p.cols) {
    return;
  }
  let r = i / p.cols;
  let c = i - r * p.cols;
  out[p.o_shift + r * p.dst_stride + c] = {{TO}}(f32(x[p.x_shift + r * p.src_stride + c]));
}
