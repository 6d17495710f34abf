/**
 * Deterministic Gaussians in the ranges the official decoder produces (positions in the [-0.5, 0.5]^3 box, scales
 * about 1e-3 to 3e-2, opacities across (0, 1), SH DC within +-2, arbitrary rotations), for format round-trip tests;
 * and coloured splats on a sphere shell, for the renderer / texture-bake tests and the output-writer benchmark.
 */

import type { SplatInput } from '../../src/render/splat.cpu.ts';
import { Gaussians } from '../../src/representations/gaussians.ts';
import { randomArray } from './compare.ts';

/**
 * @example
 * const g = testGaussians(300, 7); // 300 Gaussians, seed 7
 */
export function testGaussians(n: number, seed: number): Gaussians {
  const u = (k: number, len: number, lo: number, hi: number): Float32Array =>
    randomArray(len, seed * 31 + k).map((v) => lo + ((v + 1) / 2) * (hi - lo));
  return new Gaussians({
    xyz: u(1, n * 3, 0.02, 0.98),
    featuresDc: u(2, n * 3, -2, 2),
    scaling: u(3, n * 3, -3, 1),
    rotation: u(4, n * 4, -1, 1),
    opacity: u(5, n, -4, 4),
  });
}

/** Options of `sphereSplats`. */
export interface SphereSplatsOptions {
  /** Every Gaussian's scale on all three axes (world units). */
  scale?: number;
  /** Every Gaussian's opacity. */
  opacity?: number;
}

/** Small, nearly opaque splats: 3,000 of them at radius 0.3 overlap into a closed shell. */
export const SPHERE_SPLATS_DEFAULTS: Required<SphereSplatsOptions> = { scale: 0.02, opacity: 0.95 };

/** The golden angle: successive points of a Fibonacci spiral turn by it, which spreads them evenly. */
const GOLDEN_ANGLE = Math.PI * (3 - Math.sqrt(5));

/**
 * `n` axis-aligned Gaussians on a sphere of `radius` around the origin (Fibonacci spiral, uniform in z), coloured by
 * `colour` of each one's unit direction: a renderer input whose colours say where each view must land.
 * @example
 * const splats = sphereSplats(3000, 0.3, (d) => (d[2] > 0 ? [0.1, 0.9, 0.1] : [0.9, 0.1, 0.9]));
 */
export function sphereSplats(
  n: number,
  radius: number,
  colour: (direction: readonly [number, number, number]) => readonly number[],
  options: SphereSplatsOptions = {},
): SplatInput {
  const { scale, opacity } = { ...SPHERE_SPLATS_DEFAULTS, ...options };
  const positions = new Float32Array(n * 3);
  const colors = new Float32Array(n * 3);
  const rotations = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    const z = 1 - (2 * (i + 0.5)) / n;
    const r = Math.sqrt(1 - z * z);
    const d = [Math.cos(i * GOLDEN_ANGLE) * r, Math.sin(i * GOLDEN_ANGLE) * r, z] as const;
    positions.set(
      d.map((v) => v * radius),
      i * 3,
    );
    colors.set(colour(d), i * 3);
    rotations[i * 4] = 1; // identity, w first
  }
  return {
    positions,
    colors,
    rotations,
    scales: new Float32Array(n * 3).fill(scale),
    opacities: new Float32Array(n).fill(opacity),
  };
}
