// Clears the per-pixel buffers of the face rasteriser before a render: depth 0 (empty: every covered pixel has a
// positive 1/z, whose bits are > 0) and face id NO_FACE. A kernel instead of two queue writes per view: writing
// 2 x 1 MiB of constants from the CPU cost ~12 ms per view on lavapipe (2026-11-27), the kernel well under 1 ms.
// CPU twin: the `fill`s at the top of rasterizeCpu in raster.cpu.ts.

struct Params {
  pixels: u32,
  nx: u32,
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> depth: array<u32>;
@group(0) @binding(1) var<storage, read_write> ids: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

const NO_FACE: u32 = 0xffffffffu;
const WG: u32 = 256u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let p = (wg.x + wg.y * params.nx) * WG + li;
  if (p >= params.pixels) {
    return;
  }
  depth[p] = 0u;
  ids[p] = NO_FACE;
}
