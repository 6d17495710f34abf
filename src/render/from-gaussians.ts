/**
 * Adapter from the decoder's {@link Gaussians} (src/representations/gaussians.ts, official activations) to the
 * rasteriser's plain arrays.
 */

import type { Gaussians } from '../representations/gaussians.ts';
import type { SplatInput } from './splat.cpu.ts';

/**
 * Activated positions, scales, normalised rotations, opacities and degree-0 colours (`get_xyz`, `get_scaling`,
 * `get_rotation`, `get_opacity`, `max(0, C0 * f_dc + 0.5)`), as the official `GaussianRenderer` feeds them.
 * @example
 * const img = await renderSplats(gpu, splatInputFromGaussians(gaussians), orbitCamera(0, 0.3, 2, 40));
 */
export function splatInputFromGaussians(g: Gaussians): SplatInput {
  return {
    positions: g.getXyz(),
    scales: g.getScaling(),
    rotations: g.getRotation(),
    opacities: g.getOpacity(),
    colors: g.getColors(),
  };
}
