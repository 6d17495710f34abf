// Gaussian splatting, step 3: front-to-back compositing of depth-sorted per-tile lists, one 16x16 workgroup per
// tile, one thread per pixel (as the CUDA renderCUDA). CPU twin: splat.cpu.ts (compositeCpu).
// The host binds a window of the entry list (9 floats per entry) starting at entry `listBase`, and a window of the
// per-pixel state (rgb sums, T; T stored negated once the pixel is done) starting at pixel row `rowBase`; a tile's
// list may be split over several dispatches, the state carries over.

struct Params {
  width: u32,
  height: u32,
  tilesX: u32,
  tileY0: u32,
  listBase: u32, // first entry of the bound window (aligned down)
  segStart: u32, // this dispatch's entries: [segStart, segEnd)
  segEnd: u32,
  rowBase: u32,
};

@group(0) @binding(0) var<storage, read> entries: array<f32>;
@group(0) @binding(1) var<storage, read> ranges: array<u32>;
@group(0) @binding(2) var<storage, read_write> state: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> P: Params;

const BATCH: u32 = 256u;
const EF: u32 = 9u;

var<workgroup> sXY: array<vec2<f32>, 256>;
var<workgroup> sCO: array<vec4<f32>, 256>;
var<workgroup> sRGB: array<vec3<f32>, 256>;
var<workgroup> nDone: atomic<u32>;
var<workgroup> allDone: u32;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let ty = P.tileY0 + wg.y;
  let tile = ty * P.tilesX + wg.x;
  let px = wg.x * 16u + l.x;
  let py = ty * 16u + l.y;
  let inside = px < P.width && py < P.height;
  let s = max(ranges[2u * tile], P.segStart);
  let e = min(ranges[2u * tile + 1u], P.segEnd);
  if (s >= e) { return; }
  let n = e - s;
  let si = (py - P.rowBase) * P.width + px;
  var acc = vec4<f32>(0.0, 0.0, 0.0, 1.0);
  if (inside) { acc = state[si]; }
  var done = !inside || acc.w < 0.0;
  var T = abs(acc.w);
  var C = acc.xyz;
  let pix = vec2<f32>(f32(px), f32(py));
  for (var b = 0u; b < n; b += BATCH) {
    if (lid == 0u) { atomicStore(&nDone, 0u); }
    workgroupBarrier();
    if (done) { atomicAdd(&nDone, 1u); }
    workgroupBarrier();
    if (lid == 0u) { allDone = atomicLoad(&nDone); }
    if (workgroupUniformLoad(&allDone) == BATCH) { break; }
    let k = b + lid;
    if (k < n) {
      let o = (s + k - P.listBase) * EF;
      sXY[lid] = vec2<f32>(entries[o], entries[o + 1u]);
      sCO[lid] = vec4<f32>(entries[o + 2u], entries[o + 3u], entries[o + 4u], entries[o + 5u]);
      sRGB[lid] = vec3<f32>(entries[o + 6u], entries[o + 7u], entries[o + 8u]);
    }
    workgroupBarrier();
    if (!done) {
      let m = min(BATCH, n - b);
      for (var j = 0u; j < m; j++) {
        let d = sXY[j] - pix;
        let co = sCO[j];
        let power = -0.5 * (co.x * d.x * d.x + co.z * d.y * d.y) - co.y * d.x * d.y;
        if (power > 0.0) { continue; }
        let alpha = min(0.99, co.w * exp(power));
        if (alpha < 1.0 / 255.0) { continue; }
        let nextT = T * (1.0 - alpha);
        if (nextT < 1e-4) { done = true; break; }
        C += sRGB[j] * (alpha * T);
        T = nextT;
      }
    }
    workgroupBarrier();
  }
  if (inside) { state[si] = vec4<f32>(C, select(T, -T, done)); }
}
