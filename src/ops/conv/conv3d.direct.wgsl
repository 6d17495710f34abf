// Direct 3-D convolution for layers with at most 4 output channels per dispatch (the SS decoder's 32 -> 1 output
// conv): one invocation per output voxel, taps and input channels looped straight from storage, no workgroup
// memory or barriers. With so few output channels every gathered input value feeds at most 4 products, so the
// tiled kernel's staging (store, barrier, reload) costs more than it saves. Same K order (tap-major, then input
// channel) and f32 accumulation as the tiled kernel and the CPU twin. Bindings and Params as in conv3d.wgsl.
// Specialised for {{NC}} output channels (acc_0 .. acc_{{NC}}-1, generated).
struct Params {
  m: u32,
  nz: u32,
  z0: u32,
  zin0: u32,
  dwin: u32,
  depth: u32,
  height: u32,
  width: u32,
  oh: u32,
  ow: u32,
  cin: u32,
  cout: u32,
  n: u32,
  n0: u32,
  k: u32,
  ks: u32,
  pad: u32,
  nx: u32,
  x_shift: u32,
  w_shift: u32,
  o_shift: u32,
  // Equal to TK. The inner loop runs to this uniform rather than the constant so Mesa does not unroll it: the fully
  // unrolled wide tile took lavapipe ~19 s to compile at first dispatch (vs ~4 s) for no measured speed-up.
  tk: u32,
  has_bias: u32,
};

@group(0) @binding(0) var<storage, read> x: array<{{TX}}>;
@group(0) @binding(1) var<storage, read> wt: array<{{TW}}>;
@group(0) @binding(2) var<storage, read> bias: array<{{TB}}>;
@group(0) @binding(3) var<storage, read_write> out: array<{{TO}}>;
@group(0) @binding(4) var<uniform> p: Params;


@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let m = (wg.x + wg.y * p.nx) * 64u + li;
  if (m >= p.m) {
    return;
  }
  let wq = m % p.ow;
  let t = m / p.ow;
  let hq = t % p.oh;
  let t2 = t / p.oh;
  let dl = t2 % p.nz;
  let bl = t2 / p.nz;
  let d0 = i32(p.z0 + dl) - i32(p.pad);
  let h0 = i32(hq) - i32(p.pad);
  let w0 = i32(wq) - i32(p.pad);
{{ACC_DECL}}
  for (var kd = 0u; kd < p.ks; kd = kd + 1u) {
    let sd = d0 + i32(kd);
    if (sd < 0 || sd >= i32(p.depth)) {
      continue;
    }
    for (var kh = 0u; kh < p.ks; kh = kh + 1u) {
      let sh = h0 + i32(kh);
      if (sh < 0 || sh >= i32(p.height)) {
        continue;
      }
      for (var kw = 0u; kw < p.ks; kw = kw + 1u) {
        let sw = w0 + i32(kw);
        if (sw < 0 || sw >= i32(p.width)) {
          continue;
        }
        let plane = bl * p.dwin + u32(sd) - p.zin0;
        let xb = p.x_shift + ((plane * p.height + u32(sh)) * p.width + u32(sw)) * p.cin;
        let wb = p.w_shift + ((kd * p.ks + kh) * p.ks + kw) * p.cin;
        for (var ci = 0u; ci < p.cin; ci = ci + 1u) {
          let xv = f32(x[xb + ci]);
{{MICRO}}
        }
      }
    }
  }
{{STORE}}
}

fn store(m: u32, n: u32, acc: f32) {
  if (n < p.n) {
    var v = acc;
    if (p.has_bias != 0u) {
      v = v + f32(bias[p.n0 + n]);
    }
    out[p.o_shift + m * p.cout + p.n0 + n] = {{TO}}(v);
  }
}
