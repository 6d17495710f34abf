// Max and sum over the 4 threads of a query row with subgroup shuffles (no workgroup barrier). Assumes the
// subgroup invocation id is the local invocation index modulo the subgroup size (>= 4), as on Vulkan, D3D12
// and Metal for 1-D workgroups; the tests and the benchmark check the result against the CPU twin.
// Spliced into attention.wgsl at {{ROW_REDUCE}}; `enable subgroups;` is added by the dispatcher.
fn row_max(x: f32, li: u32) -> f32 {
  let a = max(x, subgroupShuffleXor(x, 1u));
  return max(a, subgroupShuffleXor(a, 2u));
}

fn row_sum(x: f32, li: u32) -> f32 {
  let a = x + subgroupShuffleXor(x, 1u);
  return a + subgroupShuffleXor(a, 2u);
}
