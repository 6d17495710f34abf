// out[r, c] = x[index[r], c] for the rows of the current output chunk. x is bound as a window of rows
// [x_row0, x_row0 + x_rows); rows outside it are left to the dispatch binding them. The first window's dispatch
// also writes zeros for indices outside [0, n_rows) (only possible with GPU-resident index tensors).
struct Params {
  rows: u32,
  cols: u32,
  x_row0: u32,
  x_rows: u32,
  n_rows: u32,
  first: u32,
  x_shift: u32,
  o_shift: u32,
  i_shift: u32,
  nx: u32,
};

@group(0) @binding(0) var<storage, read> x: array<{{TX}}>;
@group(0) @binding(1) var<storage, read> index: array<{{TI}}>;
@group(0) @binding(2) var<storage, read_write> out: array<{{TO}}>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * p.nx) * 256u + li;
  if (i >= p.rows * p.cols) {
    return;
  }
  let r = i / p.cols;
  let c = i - r * p.cols;
  let src = i32(index[p.i_shift + r]);
  if (src < 0 || u32(src) >= p.n_rows) {
    if (p.first != 0u) {
      out[p.o_shift + i] = {{TO}}(0.0);
    }
    return;
  }
  let s = u32(src);
  if (s < p.x_row0 || s - p.x_row0 >= p.x_rows) {
    return;
  }
  out[p.o_shift + i] = {{TO}}(f32(x[p.x_shift + (s - p.x_row0) * p.cols + c]));
}
