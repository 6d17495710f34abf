// Flash-style attention (varlen): softmax(q k^T * scale + key_bias) v without materialising the score matrix.
//
// One workgroup = one tile of BQ queries of one sequence, for one head (wg.z). Four threads share a query row:
// thread `part` scores keys part, part+4, ... of each BK-key tile and accumulates output channels (vec4 groups)
// part, part+4, ... of that row. Per key tile: stage K, V (and bias + end-of-sequence mask) in workgroup memory,
// scores in registers, row max across the 4 threads through workgroup memory, online-softmax rescale of the
// f32 accumulators, probabilities through workgroup memory, then P V. Each thread keeps a partial row sum over
// its own keys (all 4 rescale with the same running max); the partials are added at the end.
//
// Tiles are described by a table of (q_begin, q_end, k_begin, k_end) absolute rows; tensors are bound through
// byte windows and `*_base` is subtracted from absolute element indices (see window.ts).
struct Params {
  heads: u32,
  tile_first: u32,
  n_tiles: u32,
  nx: u32,
  q_base: u32,
  k_base: u32,
  v_base: u32,
  o_base: u32,
  b_base: u32,
  scale: f32,
  // DG and BK again, read at run time when RUNTIME_BOUNDS (see below).
  dg: u32,
  bk: u32,
};

const BQ: u32 = {{BQ}}u;
const BK: u32 = {{BK}}u;
const D: u32 = {{D}}u;
// vec4 groups per row (D rounded up to a multiple of 4, zero padded in workgroup memory).
const DG: u32 = (D + 3u) / 4u;
// Row stride of the Q and K tiles in workgroup memory: one vec4 of padding so that the rows read by one
// subgroup (8 query rows, 4 key rows at a time) fall in different banks.
const DGP: u32 = DG + 1u;
// Row stride of the probability tile (padded for the same reason).
const BKP: u32 = BK + 1u;
const T: u32 = BQ * 4u;
const KPT: u32 = BK / 4u;
const GPT: u32 = (DG + 3u) / 4u;
// Compile-time facts that remove the edge checks for the common head dims (multiples of 16).
const D_VEC4: bool = D % 4u == 0u;
const DG_FULL: bool = DG % 4u == 0u;
// When true, the outer loops over head-dim groups and keys take their bounds from the uniform buffer, so shader
// compilers cannot fully unroll them: CPU rasterisers (llvmpipe) then compile in ~2 s instead of 10-25 s per
// variant. GPUs get constant bounds (false).
const RUNTIME_BOUNDS: bool = {{RUNTIME_BOUNDS}};
// Score of a key past the end of its sequence; exp(NEG - m) == 0 for any real running max m.
const NEG: f32 = -1.0e30;

@group(0) @binding(0) var<storage, read> q: array<{{TQ}}>;
@group(0) @binding(1) var<storage, read> k: array<{{TK}}>;
@group(0) @binding(2) var<storage, read> v: array<{{TV}}>;
@group(0) @binding(3) var<storage, read_write> out: array<{{TO}}>;
@group(0) @binding(4) var<storage, read> tiles: array<vec4<u32>>;
@group(0) @binding(5) var<uniform> p: Params;
{{BIAS_DECL}}

var<workgroup> sq: array<vec4<{{TS}}>, BQ * DGP>;
var<workgroup> sk: array<vec4<{{TS}}>, BK * DGP>;
var<workgroup> sv: array<vec4<{{TS}}>, BK * DG>;
var<workgroup> sp: array<f32, BQ * BKP>;
var<workgroup> sb: array<f32, BK>;
var<workgroup> sred: array<f32, T>;
var<workgroup> stile: vec4<u32>;

fn ld_q(e: u32, n: u32) -> vec4<f32> {
  if (D_VEC4) {
    return vec4<f32>(f32(q[e]), f32(q[e + 1u]), f32(q[e + 2u]), f32(q[e + 3u]));
  }
  var r = vec4<f32>(0.0);
  r.x = f32(q[e]);
  if (n > 1u) { r.y = f32(q[e + 1u]); }
  if (n > 2u) { r.z = f32(q[e + 2u]); }
  if (n > 3u) { r.w = f32(q[e + 3u]); }
  return r;
}

fn ld_k(e: u32, n: u32) -> vec4<f32> {
  if (D_VEC4) {
    return vec4<f32>(f32(k[e]), f32(k[e + 1u]), f32(k[e + 2u]), f32(k[e + 3u]));
  }
  var r = vec4<f32>(0.0);
  r.x = f32(k[e]);
  if (n > 1u) { r.y = f32(k[e + 1u]); }
  if (n > 2u) { r.z = f32(k[e + 2u]); }
  if (n > 3u) { r.w = f32(k[e + 3u]); }
  return r;
}

fn ld_v(e: u32, n: u32) -> vec4<f32> {
  if (D_VEC4) {
    return vec4<f32>(f32(v[e]), f32(v[e + 1u]), f32(v[e + 2u]), f32(v[e + 3u]));
  }
  var r = vec4<f32>(0.0);
  r.x = f32(v[e]);
  if (n > 1u) { r.y = f32(v[e + 1u]); }
  if (n > 2u) { r.z = f32(v[e + 2u]); }
  if (n > 3u) { r.w = f32(v[e + 3u]); }
  return r;
}

{{ROW_REDUCE}}

@compute @workgroup_size(T)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let ti = wg.x + wg.y * p.nx;
  if (ti >= p.n_tiles) {
    return;
  }
  let h = wg.z;
  if (li == 0u) {
    stile = tiles[p.tile_first + ti];
  }
  // Uniform load: the tile bounds drive the loops that contain barriers.
  let tile = workgroupUniformLoad(&stile);
  let q0 = tile.x;
  let nq = tile.y - tile.x;
  let k0 = tile.z;
  let nk = tile.w - tile.z;
  let r = li / 4u;
  let part = li % 4u;
  let dg_loop = select(DG, p.dg, RUNTIME_BOUNDS);
  let bk_loop = select(BK, p.bk, RUNTIME_BOUNDS);

  for (var i = li; i < BQ * dg_loop; i = i + T) {
    let rr = i / DG;
    let g = i % DG;
    var val = vec4<f32>(0.0);
    if (rr < nq) {
      val = ld_q(((q0 + rr) * p.heads + h) * D + g * 4u - p.q_base, min(4u, D - g * 4u));
    }
    sq[rr * DGP + g] = vec4<{{TS}}>(val);
  }

  var m = NEG;
  var l = 0.0;
  var acc: array<vec4<f32>, GPT>;
  for (var j = 0u; j < GPT; j = j + 1u) {
    acc[j] = vec4<f32>(0.0);
  }

  for (var kt = 0u; kt < nk; kt = kt + BK) {
    workgroupBarrier();
    for (var i = li; i < bk_loop * dg_loop; i = i + T) {
      let kk = i / DG;
      let g = i % DG;
      var kv = vec4<f32>(0.0);
      var vv = vec4<f32>(0.0);
      if (kt + kk < nk) {
        let e = ((k0 + kt + kk) * p.heads + h) * D + g * 4u;
        let n = min(4u, D - g * 4u);
        kv = ld_k(e - p.k_base, n);
        vv = ld_v(e - p.v_base, n);
      }
      sk[kk * DGP + g] = vec4<{{TS}}>(kv);
      sv[i] = vec4<{{TS}}>(vv);
    }
    for (var i = li; i < BK; i = i + T) {
      var b = NEG;
      if (kt + i < nk) {
        let kg = k0 + kt + i;
        b = {{BIAS_EXPR}};
      }
      sb[i] = b;
    }
    workgroupBarrier();

    // Scores: each q vec4 is read once and reused for this thread's KPT keys.
    var s: array<f32, KPT>;
    for (var j = 0u; j < KPT; j = j + 1u) {
      s[j] = 0.0;
    }
    for (var g = 0u; g < dg_loop; g = g + 1u) {
      let qv = vec4<f32>(sq[r * DGP + g]);
      for (var j = 0u; j < KPT; j = j + 1u) {
        s[j] = s[j] + dot(qv, vec4<f32>(sk[(part + 4u * j) * DGP + g]));
      }
    }
    var tmax = NEG;
    for (var j = 0u; j < KPT; j = j + 1u) {
      s[j] = s[j] * p.scale + sb[part + 4u * j];
      tmax = max(tmax, s[j]);
    }
    let mrow = row_max(tmax, li);
    let mnew = max(m, mrow);
    let alpha = exp(m - mnew);
    m = mnew;
    var psum = 0.0;
    for (var j = 0u; j < KPT; j = j + 1u) {
      let pj = exp(s[j] - mnew);
      psum = psum + pj;
      sp[r * BKP + part + 4u * j] = pj;
    }
    l = l * alpha + psum;
    for (var j = 0u; j < GPT; j = j + 1u) {
      acc[j] = acc[j] * alpha;
    }
    workgroupBarrier();
    for (var c = 0u; c < bk_loop; c = c + 1u) {
      let pc = sp[r * BKP + c];
      for (var j = 0u; j < GPT; j = j + 1u) {
        let g = part + 4u * j;
        if (DG_FULL || g < DG) {
          acc[j] = acc[j] + pc * vec4<f32>(sv[c * DG + g]);
        }
      }
    }
  }

  let lrow = row_sum(l, li);
  // An empty key range (nk == 0) gives lrow == 0: write zeros, as flash-attn does.
  var inv = 0.0;
  if (lrow > 0.0) {
    inv = 1.0 / lrow;
  }
  if (r < nq) {
    let ob = ((q0 + r) * p.heads + h) * D - p.o_base;
    for (var j = 0u; j < GPT; j = j + 1u) {
      let g = part + 4u * j;
      if (g < DG) {
        let o = acc[j] * inv;
        let e = ob + g * 4u;
        let n = min(4u, D - g * 4u);
        out[e] = {{TO}}(o.x);
        if (n > 1u) { out[e + 1u] = {{TO}}(o.y); }
        if (n > 2u) { out[e + 2u] = {{TO}}(o.z); }
        if (n > 3u) { out[e + 3u] = {{TO}}(o.w); }
      }
    }
  }
}
