// pixel_shuffle_3d (factor 2) on channel-last volumes: output (2d + a, 2h + b, 2w + e, c) = input (d, h, w,
// c * 8 + a * 4 + b * 2 + e). One invocation per output element of the current slab; the input window holds input
// planes [zin0, zin0 + dwin) of each batch item in the slab.
struct Params {
  n: u32,
  nz: u32,
  z0: u32,
  zin0: u32,
  dwin: u32,
  height: u32,
  width: u32,
  c: u32,
  x_shift: u32,
  o_shift: u32,
  nx: u32,
};

@group(0) @binding(0) var<storage, read> x: array<{{TX}}>;
@group(0) @binding(1) var<storage, read_write> out: array<{{TO}}>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wg.x + wg.y * p.nx) * 256u + li;
  if (i >= p.n) {
    return;
  }
  let c = i % p.c;
  var t = i / p.c;
  let xo = t % (2u * p.width);
  t = t / (2u * p.width);
  let yo = t % (2u * p.height);
  t = t / (2u * p.height);
  let zl = t % p.nz;
  let bl = t / p.nz;
  let zg = p.z0 + zl;
  let plane = bl * p.dwin + zg / 2u - p.zin0;
  let ch = c * 8u + (zg % 2u) * 4u + (yo % 2u) * 2u + (xo % 2u);
  let src = ((plane * p.height + yo / 2u) * p.width + xo / 2u) * (p.c * 8u) + ch;
  out[p.o_shift + i] = {{TO}}(f32(x[p.x_shift + src]));
}
