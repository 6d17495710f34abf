// Resolve of the face-id buffer into one packed output word per pixel: out[p] = info[id - face_base] for the
// pixels whose face lies in the current face chunk [face_base, face_base + count); the first chunk also writes the
// background word to pixels without a face. `info` holds, per face, the final word (the pixel's RGBA bytes, see packWord in occlude3d.ts)
// computed on the CPU, so the GPU result equals the CPU twin bit for bit given the same ids.
// `out` holds the words from element `out_base` on; the first chunk also copies the ids into out[0 .. pixels), so one
// read-back of `out` returns both (a separate read-back of the ids cost ~30 ms per 512^2 view on lavapipe).

struct Params {
  pixels: u32,
  count: u32,
  face_base: u32,
  nx: u32,
  background: u32,
  out_base: u32,
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
  if (params.face_base == 0u) {
    out[p] = id;
  }
  if (id == NO_FACE) {
    if (params.face_base == 0u) {
      out[params.out_base + p] = params.background;
    }
    return;
  }
  if (id >= params.face_base && id - params.face_base < params.count) {
    out[params.out_base + p] = info[id - params.face_base];
  }
}
