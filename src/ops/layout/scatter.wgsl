// Deterministic scatter-add / scatter-mean over rows through the inverse index (CSR): target row n sums the source
// rows order[offsets[n] .. offsets[n + 1]) in ascending source order, in f32, so results do not depend on
// scheduling (no float atomics). src is bound as a window of rows [s_row0, s_row0 + s_rows); with several windows
// the partial sum is carried in `out` (first window starts from zero, the last one divides for the mean).
struct Params {
  rows: u32,
  cols: u32,
  s_row0: u32,
  s_rows: u32,
  first: u32,
  last: u32,
  x_shift: u32,
  o_shift: u32,
  ord_shift: u32,
  off_shift: u32,
  ord_base: u32,
  nx: u32,
};

@group(0) @binding(0) var<storage, read> src: array<{{TX}}>;
@group(0) @binding(1) var<storage, read> order: array<i32>;
@group(0) @binding(2) var<storage, read> offsets: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<{{TO}}>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * p.nx) * 256u + li;
  if (i >= p.rows * p.cols) {
    return;
  }
  let r = i / p.cols;
  let c = i - r * p.cols;
  let e0 = u32(offsets[p.off_shift + r]);
  let e1 = u32(offsets[p.off_shift + r + 1u]);
  var acc = 0.0;
  if (p.first == 0u) {
    acc = f32(out[p.o_shift + i]);
  }
  for (var e = e0; e < e1; e = e + 1u) {
    let m = u32(order[p.ord_shift + e - p.ord_base]);
    if (m >= p.s_row0 && m - p.s_row0 < p.s_rows) {
      acc = acc + f32(src[p.x_shift + (m - p.s_row0) * p.cols + c]);
    }
  }
  if ({{MEAN}} && p.last != 0u && e1 > e0) {
    acc = acc / f32(e1 - e0);
  }
  out[p.o_shift + i] = {{TO}}(acc);
}
