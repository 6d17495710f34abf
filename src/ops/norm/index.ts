/**
 * Normalisations: LayerNorm (also the VAE's channel-last ChannelLayerNorm32), fused adaLN modulation, multi-head
 * RMS norm (qk-norm) and channel-last GroupNorm.
 *
 * @example
 * import { layerNorm, modulatedLayerNorm } from './ops/norm/index.ts';
 * const h = modulatedLayerNorm(x, shift, scale, { eps: 1e-6 });
 */

export { GROUP_NORM_DEFAULTS, type GroupNormOptions, groupNorm } from './groupnorm.ts';
export {
  LAYER_NORM_DEFAULTS,
  type LayerNormOptions,
  layerNorm,
  MODULATED_LAYER_NORM_DEFAULTS,
  type ModulatedLayerNormOptions,
  modulatedLayerNorm,
} from './layernorm.ts';
export { type MultiHeadRmsNormOptions, multiHeadRmsNorm } from './rmsnorm.ts';
