// Triangle rasterisation in a compute shader, one invocation per triangle of the current chunk, two passes:
//   PASS 0: depth   - every covered pixel takes atomicMax of the triangle's interpolated 1/z (as u32 bits: positive
//                     f32 values order like their bit patterns), so the nearest surface wins;
//   PASS 1: face id - every covered pixel whose depth equals the winner takes atomicMin of the global face id
//                     (ties between faces at the same depth go to the smallest id, deterministically).
// Screen data per face (9 f32): x, y, 1/z of its three corners; pixel (x, y) has its centre at (x + 0.5, y + 0.5).
// Coverage: a pixel centre is inside when all three edge functions have the sign of the triangle's area
// (inclusive: no gaps between faces sharing an edge). Faces with a corner behind the camera carry 1/z <= 0 and
// are skipped; zero-area faces too. Must stay operation-for-operation equal to raster.cpu.ts.

struct Params {
  width: u32,
  height: u32,
  count: u32,
  nx: u32,
  face_base: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

@group(0) @binding(0) var<storage, read> tri: array<f32>;
@group(0) @binding(1) var<storage, read_write> depth: array<atomic<u32>>;
@group(0) @binding(2) var<storage, read_write> ids: array<atomic<u32>>;
@group(0) @binding(3) var<uniform> params: Params;

const PASS: u32 = {{PASS}}u;
const WG: u32 = 64u;

fn edge(ax: f32, ay: f32, bx: f32, by: f32, px: f32, py: f32) -> f32 {
  return (bx - ax) * (py - ay) - (by - ay) * (px - ax);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = (wg.x + wg.y * params.nx) * WG + li;
  if (t >= params.count) {
    return;
  }
  let b = t * 9u;
  let x0 = tri[b];
  let y0 = tri[b + 1u];
  let iz0 = tri[b + 2u];
  let x1 = tri[b + 3u];
  let y1 = tri[b + 4u];
  let iz1 = tri[b + 5u];
  let x2 = tri[b + 6u];
  let y2 = tri[b + 7u];
  let iz2 = tri[b + 8u];
  if (iz0 <= 0.0 || iz1 <= 0.0 || iz2 <= 0.0) {
    return;
  }
  let area = edge(x0, y0, x1, y1, x2, y2);
  if (area == 0.0) {
    return;
  }
  let w = f32(params.width);
  let h = f32(params.height);
  let fx0 = max(ceil(min(x0, min(x1, x2)) - 0.5), 0.0);
  let fx1 = min(floor(max(x0, max(x1, x2)) - 0.5), w - 1.0);
  let fy0 = max(ceil(min(y0, min(y1, y2)) - 0.5), 0.0);
  let fy1 = min(floor(max(y0, max(y1, y2)) - 0.5), h - 1.0);
  if (fx1 < fx0 || fy1 < fy0) {
    return;
  }
  let xa = u32(fx0);
  let xb = u32(fx1);
  let ya = u32(fy0);
  let yb = u32(fy1);
  let pos = area > 0.0;
  let face = params.face_base + t;
  for (var y = ya; y <= yb; y++) {
    let py = f32(y) + 0.5;
    for (var x = xa; x <= xb; x++) {
      let px = f32(x) + 0.5;
      let e0 = edge(x1, y1, x2, y2, px, py);
      let e1 = edge(x2, y2, x0, y0, px, py);
      let e2 = edge(x0, y0, x1, y1, px, py);
      var inside: bool;
      if (pos) {
        inside = e0 >= 0.0 && e1 >= 0.0 && e2 >= 0.0;
      } else {
        inside = e0 <= 0.0 && e1 <= 0.0 && e2 <= 0.0;
      }
      if (!inside) {
        continue;
      }
      let iz = (e0 * iz0 + e1 * iz1 + e2 * iz2) / area;
      let key = bitcast<u32>(iz);
      let p = y * params.width + x;
      if (PASS == 0u) {
        atomicMax(&depth[p], key);
      } else {
        if (atomicLoad(&depth[p]) == key) {
          atomicMin(&ids[p], face);
        }
      }
    }
  }
}
