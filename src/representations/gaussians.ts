/**
 * 3D Gaussians as the official `Gaussian` class holds them (A:`amodal3r/representations/gaussian/gaussian_model.py`,
 * ARCHITECTURE.md §f.1, §h.1): the stored ("raw") fields `_xyz`, `_features_dc`, `_scaling`, `_rotation`,
 * `_opacity`, the activations (`get_xyz`, `get_scaling`, `get_opacity`, `get_rotation`) and the rows `save_ply`
 * writes. CPU only: the decoder hands over a few hundred thousand Gaussians once, and every value here is a handful
 * of flops.
 *
 * Numerics: the official activations run in float32 torch; here each is evaluated in float64 and rounded once to
 * float32 (at most an ulp or two from torch's f32 `softplus`/`sigmoid`/`log`). The PLY rotation follows
 * `save_ply`: `utils3d.numpy.quaternion_to_matrix` on the float32 quaternion, the product with the integer
 * transform (NumPy promotes it to float64), `matrix_to_quaternion` in float64 (utils3d at the commit TRELLIS pins:
 * largest-of-four branch with sign fixes, then normalised), written as float32.
 *
 * @example
 * const g = new Gaussians({ xyz, featuresDc, scaling, rotation, opacity });
 * const pos = g.getXyz();             // [n*3] world positions in [-0.5, 0.5], Z up
 * const { names, rows } = g.toPlyProperties(); // the 17 float32 columns of the official PLY
 */

import { GAUSSIAN_PLY_PROPERTIES } from '../io/ply-gaussians.ts';

/** Constructor options of the official `Gaussian` as `SLatGaussianDecoder` sets them. */
export interface GaussianOptions {
  /** [x0, y0, z0, sx, sy, sz]: world = _xyz * s + x0. */
  aabb: readonly number[];
  /** 3D filter: scales become sqrt(s^2 + k^2). */
  minKernelSize: number;
  /** Activated scale of a zero `_scaling`. */
  scalingBias: number;
  /** Activated opacity of a zero `_opacity`. */
  opacityBias: number;
  scalingActivation: 'softplus' | 'exp';
}

/** `representation_config` of the released Gaussian decoder (spec §f.1). */
export const GAUSSIAN_DEFAULTS: GaussianOptions = {
  aabb: [-0.5, -0.5, -0.5, 1, 1, 1],
  minKernelSize: 9e-4,
  scalingBias: 4e-3,
  opacityBias: 0.1,
  scalingActivation: 'softplus',
};

/** SH degree-0 basis constant (colour = C0 * dc + 0.5). */
export const SH_C0 = 0.28209479177387814;

/** `save_ply`'s default transform: Z-up -> Y-up, (x, y, z) -> (x, -z, y). */
export const PLY_Z_UP_TO_Y_UP: readonly (readonly number[])[] = [
  [1, 0, 0],
  [0, 0, -1],
  [0, 1, 0],
];

/** Property names of the official PLY, in column order (the one list lives in io/ply-gaussians.ts). */
export const PLY_PROPERTIES = GAUSSIAN_PLY_PROPERTIES;

/** The stored fields, row-major per Gaussian. */
export interface GaussianFields {
  /** [n, 3] position in the aabb's unit cube. */
  xyz: Float32Array;
  /** [n, 3] SH degree-0 coefficient per colour channel. */
  featuresDc: Float32Array;
  /** [n, 3] pre-activation scale. */
  scaling: Float32Array;
  /** [n, 4] pre-activation quaternion (w, x, y, z) minus [1, 0, 0, 0]. */
  rotation: Float32Array;
  /** [n] pre-activation opacity. */
  opacity: Float32Array;
}

const f32 = Math.fround;

/** torch.nn.functional.softplus (beta 1, threshold 20). */
function softplus(x: number): number {
  return x > 20 ? x : Math.log1p(Math.exp(x));
}

/** Inverse of softplus: x + log(-expm1(-x)). */
export function inverseSoftplus(y: number): number {
  return y + Math.log(-Math.expm1(-y));
}

/** log(p / (1 - p)) (`inverse_sigmoid`). */
export function logit(p: number): number {
  return Math.log(p / (1 - p));
}

export class Gaussians {
  readonly count: number;
  readonly fields: GaussianFields;
  readonly options: GaussianOptions;
  /** Biases as the official class computes them in float32 (torch.tensor(bias) -> inverse activation). */
  readonly scaleBias: number;
  readonly opacityBiasLogit: number;

  constructor(fields: GaussianFields, options: Partial<GaussianOptions> = {}) {
    const n = fields.opacity.length;
    const bad = (
      [
        ['xyz', fields.xyz, 3],
        ['featuresDc', fields.featuresDc, 3],
        ['scaling', fields.scaling, 3],
        ['rotation', fields.rotation, 4],
      ] as const
    ).filter(([, a, c]) => a.length !== n * c);
    if (bad.length) {
      throw new Error(
        `Gaussians: ${n} opacities but ${bad.map(([k, a, c]) => `${k} has ${a.length} values (want ${n * c})`).join(', ')}`,
      );
    }
    this.count = n;
    this.fields = fields;
    this.options = { ...GAUSSIAN_DEFAULTS, ...options };
    const o = this.options;
    const sb = f32(o.scalingBias);
    this.scaleBias = f32(o.scalingActivation === 'softplus' ? inverseSoftplus(sb) : Math.log(sb));
    this.opacityBiasLogit = f32(logit(f32(o.opacityBias)));
  }

  /** `get_xyz`: _xyz * aabb[3:] + aabb[:3], [n*3]. */
  getXyz(): Float32Array {
    const { xyz } = this.fields;
    const a = this.options.aabb;
    const out = new Float32Array(xyz.length);
    for (let i = 0; i < xyz.length; i++) out[i] = f32(f32(xyz[i] * a[3 + (i % 3)]) + a[i % 3]);
    return out;
  }

  /** `get_scaling`: sqrt(act(_scaling + bias)^2 + k^2), [n*3]. */
  getScaling(): Float32Array {
    const { scaling } = this.fields;
    const k2 = this.options.minKernelSize ** 2;
    const act = this.options.scalingActivation === 'softplus' ? softplus : Math.exp;
    const out = new Float32Array(scaling.length);
    for (let i = 0; i < scaling.length; i++) {
      const s = f32(act(f32(scaling[i] + this.scaleBias)));
      out[i] = f32(Math.sqrt(f32(f32(s * s) + k2)));
    }
    return out;
  }

  /** `get_opacity`: sigmoid(_opacity + logit(bias)), [n]. */
  getOpacity(): Float32Array {
    const { opacity } = this.fields;
    const out = new Float32Array(opacity.length);
    for (let i = 0; i < opacity.length; i++)
      out[i] = f32(1 / (1 + Math.exp(-f32(opacity[i] + this.opacityBiasLogit))));
    return out;
  }

  /** `_rotation + [1, 0, 0, 0]` (unnormalised), [n*4]. */
  rawQuaternions(): Float32Array {
    const out = Float32Array.from(this.fields.rotation);
    for (let i = 0; i < this.count; i++) out[4 * i] = f32(out[4 * i] + 1);
    return out;
  }

  /** `get_rotation`: F.normalize(_rotation + [1,0,0,0]) (eps 1e-12), (w, x, y, z), [n*4]. */
  getRotation(): Float32Array {
    const q = this.rawQuaternions();
    for (let i = 0; i < this.count; i++) {
      const o = 4 * i;
      const norm = Math.max(Math.hypot(q[o], q[o + 1], q[o + 2], q[o + 3]), 1e-12);
      for (let c = 0; c < 4; c++) q[o + c] = f32(q[o + c] / norm);
    }
    return q;
  }

  /** Degree-0 colour the rasterizer uses: max(0, C0 * dc + 0.5), [n*3]. */
  getColors(): Float32Array {
    const { featuresDc } = this.fields;
    const out = new Float32Array(featuresDc.length);
    for (let i = 0; i < out.length; i++) out[i] = Math.max(0, f32(SH_C0 * featuresDc[i] + 0.5));
    return out;
  }

  /**
   * The vertex rows official `save_ply(path, transform)` writes: [n, 17] float32 in `PLY_PROPERTIES` order
   * (positions transformed, normals 0, raw DC, logit opacity, log scales, rotated quaternion).
   * @example
   * const { names, rows } = gaussians.toPlyProperties(); // rows.length === 17 * gaussians.count
   */
  toPlyProperties(transform: readonly (readonly number[])[] | null = PLY_Z_UP_TO_Y_UP): {
    names: readonly string[];
    rows: Float32Array;
  } {
    const n = this.count;
    const C = PLY_PROPERTIES.length;
    const xyz = this.getXyz();
    const scale = this.getScaling();
    const opa = this.getOpacity();
    const quat = this.rawQuaternions();
    const rows = new Float32Array(n * C);
    const rot = new Float64Array(9);
    const rt = new Float64Array(9);
    const q = new Float64Array(4);
    for (let i = 0; i < n; i++) {
      const r = i * C;
      for (let a = 0; a < 3; a++) {
        rows[r + a] = transform
          ? xyz[3 * i] * transform[a][0] + xyz[3 * i + 1] * transform[a][1] + xyz[3 * i + 2] * transform[a][2]
          : xyz[3 * i + a];
        rows[r + 6 + a] = this.fields.featuresDc[3 * i + a];
        rows[r + 10 + a] = f32(Math.log(scale[3 * i + a]));
      }
      const p = opa[i];
      rows[r + 9] = f32(Math.log(f32(p / f32(1 - p))));
      for (let c = 0; c < 4; c++) q[c] = quat[4 * i + c];
      if (transform) {
        quaternionToMatrixF32(q, rot);
        for (let a = 0; a < 3; a++)
          for (let b = 0; b < 3; b++)
            rt[3 * a + b] =
              transform[a][0] * rot[b] + transform[a][1] * rot[3 + b] + transform[a][2] * rot[6 + b];
        matrixToQuaternion(rt, q);
      }
      for (let c = 0; c < 4; c++) rows[r + 13 + c] = q[c];
    }
    return { names: PLY_PROPERTIES, rows };
  }
}

/** utils3d.numpy.quaternion_to_matrix on a float32 quaternion (normalised, then I + 2 (A + w B)), in float32. */
function quaternionToMatrixF32(q: Float64Array, m: Float64Array): void {
  // np.linalg.norm on float32: squares, sequential f32 sum, f32 sqrt.
  let ss = 0;
  for (let c = 0; c < 4; c++) ss = f32(ss + f32(q[c] * q[c]));
  const norm = f32(Math.max(f32(Math.sqrt(ss)), 1e-12));
  const w = f32(q[0] / norm);
  const x = f32(q[1] / norm);
  const y = f32(q[2] / norm);
  const z = f32(q[3] / norm);
  const v = [x, y, z];
  const s = f32(f32(f32(x * x) + f32(y * y)) + f32(z * z));
  // B = [[0,-z,y],[z,0,-x],[-y,x,0]]
  const B = [0, -z, y, z, 0, -x, -y, x, 0];
  for (let a = 0; a < 3; a++)
    for (let b = 0; b < 3; b++) {
      const A = f32(f32(v[a] * v[b]) - (a === b ? s : 0));
      const inner = f32(A + f32(w * B[3 * a + b]));
      m[3 * a + b] = f32((a === b ? 1 : 0) + f32(2 * inner));
    }
}

/** utils3d.numpy.matrix_to_quaternion (float64): largest of the four candidates, signs from the off-diagonals. */
function matrixToQuaternion(m: Float64Array, out: Float64Array): void {
  const [m00, m01, m02, m10, m11, m12, m20, m21, m22] = m;
  const cand = [
    0.5 * Math.sqrt(Math.max(1 + m00 + m11 + m22, 0)),
    0.5 * Math.sqrt(Math.max(1 + m00 - m11 - m22, 0)),
    0.5 * Math.sqrt(Math.max(1 - m00 + m11 - m22, 0)),
    0.5 * Math.sqrt(Math.max(1 - m00 - m11 + m22, 0)),
  ];
  let k = 0;
  for (let i = 1; i < 4; i++) if (cand[i] > cand[k]) k = i; // argmax: first maximum wins, as NumPy
  const xw = Math.sign(m21 - m12);
  const yw = Math.sign(m02 - m20);
  const zw = Math.sign(m10 - m01);
  const yz = Math.sign(m21 + m12);
  const xz = Math.sign(m02 + m20);
  const xy = Math.sign(m01 + m10);
  const sign = [
    [1, xw, yw, zw],
    [xw, 1, xy, xz],
    [yw, xy, 1, yz],
    [zw, xz, yz, 1],
  ][k];
  let norm = 0;
  for (let c = 0; c < 4; c++) {
    out[c] = sign[c] * cand[c];
    norm += out[c] * out[c];
  }
  norm = Math.max(Math.sqrt(norm), 1e-12);
  for (let c = 0; c < 4; c++) out[c] /= norm;
}
