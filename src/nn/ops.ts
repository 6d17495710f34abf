/**
 * The op set the networks are built from, in one import. Each op has a WGSL kernel and a CPU twin; the
 * tensor's device picks the backend.
 */

export { attention, attentionVarlen } from '../ops/attention/attention.ts';
export { Conv3dWeight, conv3d, prepareConv3dWeight } from '../ops/conv/conv3d.ts';
export { pixelShuffle3d } from '../ops/conv/shuffle.ts';
export { upsample3d } from '../ops/conv/upsample.ts';
export { add, mul, mulOnePlus, sub } from '../ops/elementwise/binary.ts';
export { gatedResidual } from '../ops/elementwise/fused.ts';
export { cast, gelu, silu } from '../ops/elementwise/unary.ts';
export { concat, slice } from '../ops/layout/concat.ts';
export { patchify2d } from '../ops/layout/patchify.ts';
export { permute } from '../ops/layout/permute.ts';
export { linear } from '../ops/matmul/linear.ts';
export { matmul } from '../ops/matmul/matmul.ts';
export { groupNorm } from '../ops/norm/groupnorm.ts';
export { layerNorm, modulatedLayerNorm } from '../ops/norm/layernorm.ts';
export { multiHeadRmsNorm } from '../ops/norm/rmsnorm.ts';
