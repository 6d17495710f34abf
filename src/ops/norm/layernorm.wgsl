// LayerNorm over the last dimension (n values per row), statistics and affine/modulation in f32.
// RT threads cooperate on one row and a workgroup of WG threads handles WG / RT rows, so narrow rows (8, 32
// channels) do not leave most of a workgroup idle. Two-pass statistics: mean, then the mean of squared
// deviations (no E[x^2] - E[x]^2 cancellation). When a thread's share of the row fits in PT registers (CACHE)
// the row is read from memory once; otherwise it is re-read for each pass.
// The epilogue (EPILOGUE) turns the normalised value `v` of column `c` of global row `grow` into `y`:
//   plain/affine:  y = v [* w[c]] [+ b[c]]                       (f32, one rounding to the output type)
//   modulated:     y = rnd(rnd(rnd(v) * rnd(1 + scale[b, c])) + shift[b, c])   (rounding in the output type)
struct Params {
  rows: u32,
  n: u32,
  nx: u32,
  row0: u32,
  rows_per_batch: u32,
  eps: f32,
  inf: f32, // +inf from the host (WGSL constant expressions cannot spell it)
  _pad1: u32,
};

const WG: u32 = {{WG}}u;
const RT: u32 = {{RT}}u;
const RPW: u32 = WG / RT;
const PT: u32 = {{PT}}u;
const CACHE: bool = {{CACHE}};

@group(0) @binding(0) var<storage, read> x: array<{{TX}}>;
@group(0) @binding(1) var<storage, read_write> out: array<{{TO}}>;
@group(0) @binding(2) var<uniform> p: Params;
{{AUX_DECL}}

var<workgroup> red: array<f32, WG>;

const ROUND16: bool = {{ROUND16}};

// Rounds an f32 to the nearest f16 value (ties to even), kept in f32. Written with round() on a power-of-two
// scaled value because compilers may fold `f32(f16(v))` to `v` (Mesa lavapipe does), which would silently skip
// the rounding. Overflow gives +-inf like the conversion; subnormal f16 values are handled (quantum 2^-24).
fn round_f16(v: f32) -> f32 {
  let a = abs(v);
  if (a >= 65520.0) {
    return sign(v) * p.inf;
  }
  let e = max(bitcast<u32>(a) >> 23u, 113u); // biased exponent, at least that of 2^-14 (smallest normal f16)
  let q = bitcast<f32>((e - 10u) << 23u); // f16 quantum at this exponent: 2^(e - 127 - 10)
  let qi = bitcast<f32>((264u - e) << 23u); // 1 / q, exact
  return round(v * qi) * q;
}

// Rounds to the output storage type (identity for f32 output).
fn rnd(v: f32) -> f32 {
  if (ROUND16) {
    return round_f16(v);
  }
  return v;
}

// Sum of `v` over the RT threads of this row's slot (tree in workgroup memory); every thread gets the result.
fn row_sum(v: f32, li: u32, t: u32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = RT / 2u; s > 0u; s = s / 2u) {
    if (t < s) {
      red[li] = red[li] + red[li + s];
    }
    workgroupBarrier();
  }
  let r = red[li - t];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let slot = li / RT;
  let t = li % RT;
  let row = (wg.x + wg.y * p.nx) * RPW + slot;
  let live = row < p.rows;
  let n = p.n;
  let base = row * n;
  var vals: array<f32, PT>;
  var s = 0.0;
  if (live) {
    if (CACHE) {
      for (var k = 0u; k < PT; k = k + 1u) {
        let i = t + k * RT;
        var v = 0.0;
        if (i < n) {
          v = f32(x[base + i]);
        }
        vals[k] = v;
        s = s + v;
      }
    } else {
      for (var i = t; i < n; i = i + RT) {
        s = s + f32(x[base + i]);
      }
    }
  }
  let mean = row_sum(s, li, t) / f32(n);
  var q = 0.0;
  if (live) {
    if (CACHE) {
      for (var k = 0u; k < PT; k = k + 1u) {
        if (t + k * RT < n) {
          let d = vals[k] - mean;
          q = q + d * d;
        }
      }
    } else {
      for (var i = t; i < n; i = i + RT) {
        let d = f32(x[base + i]) - mean;
        q = q + d * d;
      }
    }
  }
  let rstd = 1.0 / sqrt(row_sum(q, li, t) / f32(n) + p.eps);
  if (!live) {
    return;
  }
  let grow = p.row0 + row;
  // Constant trip count when cached, so `vals` is indexed by an unrollable counter (no spill to local memory).
  let trips = select((n + RT - 1u - t) / RT, PT, CACHE);
  for (var k = 0u; k < trips; k = k + 1u) {
    let c = t + k * RT;
    if (c >= n) {
      break;
    }
    var xv: f32;
    if (CACHE) {
      xv = vals[k];
    } else {
      xv = f32(x[base + c]);
    }
    let v = (xv - mean) * rstd;
    var y = v;
    {{EPILOGUE}}
    out[base + c] = {{TO}}(y);
  }
}
