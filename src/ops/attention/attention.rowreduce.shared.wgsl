// Max and sum over the 4 threads of a query row (consecutive invocations 4r..4r+3), through workgroup memory.
// Portable path; spliced into attention.wgsl at {{ROW_REDUCE}}. No trailing barrier is needed: the next write
// to `sred` comes after at least one more workgroup barrier in every path of the kernel.
fn row_max(x: f32, li: u32) -> f32 {
  sred[li] = x;
  workgroupBarrier();
  let b = li & ~3u;
  return max(max(sred[b], sred[b + 1u]), max(sred[b + 2u], sred[b + 3u]));
}

fn row_sum(x: f32, li: u32) -> f32 {
  workgroupBarrier();
  sred[li] = x;
  workgroupBarrier();
  let b = li & ~3u;
  return sred[b] + sred[b + 1u] + sred[b + 2u] + sred[b + 3u];
}
