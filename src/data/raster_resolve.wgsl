// Resolve of the face-id buffer into one packed output word per pixel: out[p] = info[id - face_base] for the
// pixels whose face lies in the current face chunk [face_base, face_base + count); the first chunk also writes the
// background word to pixels without a face. `info` holds, per face, the final word (gray | alpha << 8 | mask << 16)
// computed on the CPU, so the GPU result equals the CPU twin bit for bit given the same ids.

struct Params {
  pixels: u32,
  count: u32,
  face_base: u32,
  nx: u32,
  background: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(1) var<storage, read> info: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;

const NO_FACE: u32 = 0xffffffffu;
const WG: u32 = 256u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let p = (wg.x + wg.y * params.nx) * WG + li;
  if (p >= params.pixels) {
    return;
  }
  let id = ids[p];
  if (id == NO_FACE) {
    if (params.face_base == 0u) {
      out[p] = params.background;
    }
    return;
  }
  if (id >= params.face_base && id - params.face_base < params.count) {
    out[p] = info[id - params.face_base];
  }
}
