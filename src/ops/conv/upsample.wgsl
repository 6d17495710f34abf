// F.interpolate on channel-last volumes. Source coordinates follow PyTorch's CPU kernels in f32:
// nearest (legacy): src = min(floor(dst * ratio), in - 1);
// trilinear: src = max(ratio * (dst + 0.5) - 0.5, 0) (align_corners=False) or ratio * dst (True),
// i0 = floor(src), i1 = min(i0 + 1, in - 1), weights (1 - l, l) with l = src - i0, blended depth(height(width)).
// One invocation per output element of the current slab; the input window holds planes [zin0, zin0 + dwin).
struct Params {
  n: u32,
  nz: u32,
  z0: u32,
  zin0: u32,
  dwin: u32,
  depth: u32,
  height: u32,
  width: u32,
  od: u32,
  oh: u32,
  ow: u32,
  c: u32,
  x_shift: u32,
  o_shift: u32,
  nx: u32,
  align_corners: u32,
  rd: f32,
  rh: f32,
  rw: f32,
};

@group(0) @binding(0) var<storage, read> x: array<{{TX}}>;
@group(0) @binding(1) var<storage, read_write> out: array<{{TO}}>;
@group(0) @binding(2) var<uniform> p: Params;

fn nearest_src(dst: u32, ratio: f32, size: u32) -> u32 {
  return min(u32(floor(f32(dst) * ratio)), size - 1u);
}

fn linear_src(dst: u32, ratio: f32) -> f32 {
  if (p.align_corners != 0u) {
    return ratio * f32(dst);
  }
  return max(ratio * (f32(dst) + 0.5) - 0.5, 0.0);
}

fn at(plane: u32, y: u32, xq: u32, c: u32) -> f32 {
  return f32(x[p.x_shift + ((plane * p.height + y) * p.width + xq) * p.c + c]);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * p.nx) * 256u + li;
  if (i >= p.n) {
    return;
  }
  let c = i % p.c;
  var t = i / p.c;
  let xo = t % p.ow;
  t = t / p.ow;
  let yo = t % p.oh;
  t = t / p.oh;
  let zl = t % p.nz;
  let bl = t / p.nz;
  let zg = p.z0 + zl;
  let base = bl * p.dwin;
  if ({{TRILINEAR}}) {
    let sd = linear_src(zg, p.rd);
    let sh = linear_src(yo, p.rh);
    let sw = linear_src(xo, p.rw);
    let d0 = min(u32(sd), p.depth - 1u);
    let h0 = min(u32(sh), p.height - 1u);
    let w0 = min(u32(sw), p.width - 1u);
    let d1 = min(d0 + 1u, p.depth - 1u);
    let h1 = min(h0 + 1u, p.height - 1u);
    let w1 = min(w0 + 1u, p.width - 1u);
    let ld = sd - f32(d0);
    let lh = sh - f32(h0);
    let lw = sw - f32(w0);
    let pd0 = base + d0 - p.zin0;
    let pd1 = base + d1 - p.zin0;
    let v0 = (1.0 - lh) * ((1.0 - lw) * at(pd0, h0, w0, c) + lw * at(pd0, h0, w1, c)) +
      lh * ((1.0 - lw) * at(pd0, h1, w0, c) + lw * at(pd0, h1, w1, c));
    let v1 = (1.0 - lh) * ((1.0 - lw) * at(pd1, h0, w0, c) + lw * at(pd1, h0, w1, c)) +
      lh * ((1.0 - lw) * at(pd1, h1, w0, c) + lw * at(pd1, h1, w1, c));
    out[p.o_shift + i] = {{TO}}((1.0 - ld) * v0 + ld * v1);
  } else {
    let d = nearest_src(zg, p.rd, p.depth);
    let h = nearest_src(yo, p.rh, p.height);
    let w = nearest_src(xo, p.rw, p.width);
    out[p.o_shift + i] = {{TO}}(at(base + d - p.zin0, h, w, c));
  }
}
