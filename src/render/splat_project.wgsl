// Gaussian splatting, step 1: project each Gaussian (EWA + Mip-Splatting 2-D filter) into a 12-float record.
// CPU twin and the maths: splat.cpu.ts (projectSplatsCpu). One thread per Gaussian; the host binds windows of
// `count` Gaussians (inputs packed 14 floats each: position 3, scale 3, quaternion wxyz 4, opacity 1, rgb 3).

struct Params {
  view0: vec4<f32>,  // rows of the world-to-camera [R | t]
  view1: vec4<f32>,
  view2: vec4<f32>,
  focal: vec2<f32>,  // pixels
  tanFov: vec2<f32>, // tan(fov / 2)
  centre: vec2<f32>, // (W - 1) / 2, (H - 1) / 2
  kernelSize: f32,
  count: u32,
  groupsX: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
};

@group(0) @binding(0) var<storage, read> gs: array<f32>;
@group(0) @binding(1) var<storage, read_write> rec: array<f32>;
@group(0) @binding(2) var<uniform> P: Params;

const IN_FLOATS: u32 = 14u;
const OUT_FLOATS: u32 = 12u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.x + wg.y * P.groupsX) * 64u + lid;
  if (i >= P.count) { return; }
  let b = i * IN_FLOATS;
  let o = i * OUT_FLOATS;
  for (var c = 0u; c < OUT_FLOATS; c++) { rec[o + c] = 0.0; }
  let p = vec4<f32>(gs[b], gs[b + 1u], gs[b + 2u], 1.0);
  let tx0 = dot(P.view0, p);
  let ty0 = dot(P.view1, p);
  let tz = dot(P.view2, p);
  if (!(tz > 0.2)) { return; }

  let w = gs[b + 6u];
  let x = gs[b + 7u];
  let y = gs[b + 8u];
  let z = gs[b + 9u];
  // Columns of R are the local axes; Sigma = R diag(s^2) R^T.
  let R = mat3x3<f32>(
    vec3<f32>(1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y + w * z), 2.0 * (x * z - w * y)),
    vec3<f32>(2.0 * (x * y - w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z + w * x)),
    vec3<f32>(2.0 * (x * z + w * y), 2.0 * (y * z - w * x), 1.0 - 2.0 * (x * x + y * y)),
  );
  let s = vec3<f32>(gs[b + 3u], gs[b + 4u], gs[b + 5u]);
  let M = mat3x3<f32>(R[0] * s.x, R[1] * s.y, R[2] * s.z);
  let Sigma = M * transpose(M);

  let lim = 1.3 * P.tanFov;
  let tx = clamp(tx0 / tz, -lim.x, lim.x) * tz;
  let ty = clamp(ty0 / tz, -lim.y, lim.y) * tz;
  let j00 = P.focal.x / tz;
  let j02 = -(P.focal.x * tx) / (tz * tz);
  let j11 = P.focal.y / tz;
  let j12 = -(P.focal.y * ty) / (tz * tz);
  // Rows of T = J W.
  let ra = j00 * P.view0.xyz + j02 * P.view2.xyz;
  let rb = j11 * P.view1.xyz + j12 * P.view2.xyz;
  let sa = Sigma * ra;
  let sb = Sigma * rb;
  var ca = dot(ra, sa);
  let cb = dot(ra, sb);
  var cc = dot(rb, sb);
  let k = P.kernelSize;
  let det0 = max(1e-6, ca * cc - cb * cb);
  let det1 = max(1e-6, (ca + k) * (cc + k) - cb * cb);
  var coef = sqrt(det0 / (det1 + 1e-6) + 1e-6);
  if (det0 <= 1e-6 || det1 <= 1e-6) { coef = 0.0; }
  ca += k;
  cc += k;
  let det = ca * cc - cb * cb;
  if (det == 0.0) { return; }
  let mid = 0.5 * (ca + cc);
  let gap = sqrt(max(0.1, mid * mid - det));
  let radius = ceil(3.0 * sqrt(max(mid + gap, mid - gap)));

  rec[o] = P.focal.x * tx0 / (tz + 1e-7) + P.centre.x;
  rec[o + 1u] = P.focal.y * ty0 / (tz + 1e-7) + P.centre.y;
  rec[o + 2u] = cc / det;
  rec[o + 3u] = -cb / det;
  rec[o + 4u] = ca / det;
  rec[o + 5u] = gs[b + 10u] * coef;
  rec[o + 6u] = gs[b + 11u];
  rec[o + 7u] = gs[b + 12u];
  rec[o + 8u] = gs[b + 13u];
  rec[o + 9u] = tz;
  rec[o + 10u] = radius;
  rec[o + 11u] = 1.0;
}
