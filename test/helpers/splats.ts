/**
 * Deterministic Gaussians in the ranges the official decoder produces (positions in the [-0.5, 0.5]^3 box, scales
 * about 1e-3 to 3e-2, opacities across (0, 1), SH DC within +-2, arbitrary rotations), for format round-trip tests.
 */

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
