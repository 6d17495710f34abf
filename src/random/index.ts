/** PyTorch-compatible CPU random numbers (mt19937 + normal_/uniform_ for float32). */
export {
  AVX2_MATH_DEFAULTS,
  type Avx2MathOptions,
  log256Lane,
  type SinCos,
  sincos256Lane,
} from './avx2-mathfun.ts';
export { f32Bits, f32FromBits, fmaF32 } from './f32.ts';
export {
  NORMAL_FILL_MIN,
  type NormalFillPath,
  TORCH_GENERATOR_DEFAULTS,
  TorchGenerator,
  type TorchGeneratorOptions,
  torchRand,
  torchRandn,
} from './generator.ts';
export { glibcCosf, glibcLogf, glibcSinf } from './glibc-f32.ts';
export { MT19937, MT19937_DEFAULT_SEED, seedLow32 } from './mt19937.ts';
