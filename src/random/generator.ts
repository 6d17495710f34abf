/**
 * A TypeScript port of PyTorch's CPU default generator (`torch.manual_seed`, `torch.randn`, `torch.rand` on
 * float32 CPU tensors), so a seed gives the same noise as the official pipeline. Written from ATen's sources:
 * CPUGeneratorImpl (engine, random64, cached normal samples), DistributionsHelper / TransformationHelper
 * (uniform and normal distributions) and native/cpu/DistributionTemplates.h (normal_ kernel).
 *
 * What torch does for `randn(shape)` (float32, contiguous; `normal_(0, 1)`):
 * - numel >= 16: `normal_fill`. Every element first gets a uniform `(draw & 0xffffff) * 2^-24` (one 32-bit draw
 *   each); then each block of 16 becomes 8 Box-Muller pairs: u1 = 1 - U[j], u2 = U[j+8], r = sqrt(-2 ln u1),
 *   out[j] = r cos(2 pi u2), out[j+8] = r sin(2 pi u2). If numel % 16 != 0, the last 16 elements are refilled
 *   with 16 fresh uniforms and transformed again (so the stream advances numel + 16 draws).
 *   The transform itself exists twice: AVX2 kernels use the float32 polynomials of avx_mathfun.h (path "avx2"),
 *   other kernels use libm logf/cosf/sinf in float32 (path "scalar").
 * - numel < 16: `normal_distribution<double>` per element: uniforms with 53 bits from `random64()` (two draws,
 *   first one high), u1 for the angle, u2 for the radius r = sqrt(-2 log(1 - u2)), returns r cos(2 pi u1) and
 *   keeps r sin(2 pi u1) in the generator; the next scalar-path element (even in a later call) takes that cached
 *   value instead of drawing. `manual_seed` clears the cache; normal_fill neither uses nor clears it.
 * `rand(shape)`: one 32-bit draw per element, `(draw & 0xffffff) * 2^-24`.
 *
 * Which path matches which platform:
 * - "avx2" (default): x86-64 PyTorch whose ATen CPU capability is AVX2 *or AVX512*. The AVX-512 build registers
 *   no kernel of its own for normal_ (`REGISTER_DISPATCH` stores nullptr for AVX512, and the dispatcher falls
 *   back to the AVX2 kernel), so every x86-64 CPU with AVX2 gets this transform. Verified bit-exact against
 *   torch 1.13 (Debian, GCC 12) with ATEN_CPU_CAPABILITY=avx2 and =avx512: 150,994,944 values of randn(2^24)
 *   for nine seeds (about 99% of the 2^24 possible uniforms reach each polynomial) plus every fixture case.
 *   Linux wheels are built with GCC, whose FMA contraction is modelled (`avx2Contract: true`); Windows wheels
 *   are built with MSVC, which does not contract intrinsics, so `avx2Contract: false` should be the Windows
 *   noise (not checked against a Windows machine); the same holds for the old macOS x86-64 wheels (clang
 *   contracts only within one statement).
 * - "scalar": the libm transform: x86-64 without AVX2 (or ATEN_CPU_CAPABILITY=default) and, as far as the
 *   sources show, aarch64 (Linux and macOS run the DEFAULT/SVE kernels, which have no vector branch for this).
 *   It depends on the C library's logf/sinf/cosf: emulated here as GNU libc 2.27+ computes them (glibc-f32.ts);
 *   verified bit-exact against torch 1.13 with ATEN_CPU_CAPABILITY=default on glibc 2.36 (the same 151M values).
 *   macOS uses Apple's libm, whose float functions may round differently in rare cases (not checked).
 * - Tensors with < 16 elements take the double path on every platform; it uses double log1p/sin/cos, whose
 *   last-bit differences between C libraries almost never survive the final float32 cast.
 * Speed (this 2-core machine at load average 15, so inflated): about 1 us per value on the "avx2" path and
 * 0.35 us on "scalar", i.e. ~35 ms for the 32768-value stage-1 noise.
 */

import { type Avx2MathOptions, log256Lane, sincos256Lane } from './avx2-mathfun.ts';
import { fmaF32 } from './f32.ts';
import { glibcCosf, glibcLogf, glibcSinf } from './glibc-f32.ts';
import { MT19937 } from './mt19937.ts';

/** The two float32 Box-Muller transforms of ATen's normal_fill (see the file notes). */
export type NormalFillPath = 'avx2' | 'scalar';

/** Options of {@link TorchGenerator}. */
export interface TorchGeneratorOptions {
  /** Transform used for float32 tensors with >= 16 elements. */
  normalFill: NormalFillPath;
  /** Whether the AVX2 polynomials were compiled with FMA contraction (GCC, Linux wheels). */
  avx2Contract: boolean;
}

/** Defaults: x86-64 Linux PyTorch running its AVX2 kernels. */
export const TORCH_GENERATOR_DEFAULTS: TorchGeneratorOptions = { normalFill: 'avx2', avx2Contract: true };

/** Element count from which torch uses normal_fill instead of the per-element double path. */
export const NORMAL_FILL_MIN = 16;
const UNIFORM_F32_MASK = 0xffffff;
const TWO_POW_M24 = 2 ** -24;
const TWO_POW_M53 = 2 ** -53;
const TWO_POW_32 = 2 ** 32;
const TWO_PI_F32 = Math.fround(2 * Math.PI);
const TWO_PI = 2 * Math.PI;

function numelOf(op: string, shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`${op}: invalid shape [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

/**
 * PyTorch's CPU generator: mt19937 plus the cached second Box-Muller sample, with `randn`/`rand` for float32.
 * @example
 * const g = new TorchGenerator(42);
 * const stage1 = g.randn([1, 8, 16, 16, 16]); // torch.manual_seed(42); torch.randn(1, 8, 16, 16, 16)
 * const stage2 = g.randn([1234, 8]);           // then torch.randn(1234, 8) from the same stream
 */
export class TorchGenerator {
  private engine: MT19937;
  private nextDoubleNormal: number | null = null;
  private readonly opts: TorchGeneratorOptions;
  private readonly mathOpts: Avx2MathOptions;

  constructor(seed: number | bigint, opts: Partial<TorchGeneratorOptions> = {}) {
    this.opts = { ...TORCH_GENERATOR_DEFAULTS, ...opts };
    this.mathOpts = { contract: this.opts.avx2Contract };
    this.engine = new MT19937(seed);
  }

  /** `manual_seed`: restarts the engine and drops the cached normal sample. */
  manualSeed(seed: number | bigint): void {
    this.engine = new MT19937(seed);
    this.nextDoubleNormal = null;
  }

  /** One 32-bit draw (`CPUGeneratorImpl::random`). */
  random(): number {
    return this.engine.nextUint32();
  }

  /** float32 uniform in [0, 1) from one draw: 24 random bits. */
  private uniformF32(): number {
    return (this.engine.nextUint32() & UNIFORM_F32_MASK) * TWO_POW_M24;
  }

  /** double uniform in [0, 1) from `random64()` (first draw = high word), 53 random bits. */
  private uniformF64(): number {
    const hi = this.engine.nextUint32();
    const lo = this.engine.nextUint32();
    return ((hi & 0x1fffff) * TWO_POW_32 + lo) * TWO_POW_M53;
  }

  /** `normal_distribution<double>(0, 1)` with the generator's cache, before the float32 cast. */
  private normalF64(): number {
    if (this.nextDoubleNormal !== null) {
      const v = this.nextDoubleNormal;
      this.nextDoubleNormal = null;
      return v;
    }
    const u1 = this.uniformF64();
    const u2 = this.uniformF64();
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = TWO_PI * u1;
    this.nextDoubleNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /**
   * `torch.rand(shape)` (float32, [0, 1)).
   * @example
   * new TorchGenerator(0).rand([3]);
   */
  rand(shape: readonly number[]): Float32Array {
    const n = numelOf('TorchGenerator.rand', shape);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.uniformF32();
    return out;
  }

  /**
   * `torch.randn(shape)` (float32, standard normal), continuing this generator's stream.
   * @example
   * new TorchGenerator(0).randn([3]); // [1.5410, -0.2934, -2.1788] like torch.manual_seed(0); torch.randn(3)
   */
  randn(shape: readonly number[]): Float32Array {
    const n = numelOf('TorchGenerator.randn', shape);
    const out = new Float32Array(n);
    if (n < NORMAL_FILL_MIN) {
      for (let i = 0; i < n; i++) out[i] = this.normalF64();
      return out;
    }
    for (let i = 0; i < n; i++) out[i] = this.uniformF32();
    for (let i = 0; i + NORMAL_FILL_MIN <= n; i += NORMAL_FILL_MIN) this.boxMuller16(out, i);
    if (n % NORMAL_FILL_MIN !== 0) {
      const start = n - NORMAL_FILL_MIN;
      for (let i = 0; i < NORMAL_FILL_MIN; i++) out[start + i] = this.uniformF32();
      this.boxMuller16(out, start);
    }
    return out;
  }

  /** Box-Muller on 16 uniforms in place (mean 0, std 1). */
  private boxMuller16(d: Float32Array, at: number): void {
    const avx2 = this.opts.normalFill === 'avx2';
    for (let j = 0; j < 8; j++) {
      const u1 = Math.fround(1 - d[at + j]);
      const u2 = d[at + j + 8];
      let radius: number;
      let sin: number;
      let cos: number;
      if (avx2) {
        radius = Math.fround(Math.sqrt(Math.fround(-2 * log256Lane(u1, this.mathOpts))));
        const sc = sincos256Lane(Math.fround(TWO_PI_F32 * u2), this.mathOpts);
        sin = sc.sin;
        cos = sc.cos;
      } else {
        radius = Math.fround(Math.sqrt(Math.fround(-2 * glibcLogf(u1))));
        const theta = Math.fround(TWO_PI * u2); // float(2.0f * pi<double> * u2): product in double
        sin = glibcSinf(theta);
        cos = glibcCosf(theta);
      }
      // out = fma(r * cos, std, mean) with std = 1, mean = 0 (kept as an FMA: it turns -0 into +0 as torch does)
      d[at + j] = fmaF32(Math.fround(radius * cos), 1, 0);
      d[at + j + 8] = fmaF32(Math.fround(radius * sin), 1, 0);
    }
  }
}

/**
 * `torch.manual_seed(seed); torch.randn(*shape)` in one call.
 * @example
 * torchRandn(42, [1, 8, 16, 16, 16]);
 */
export function torchRandn(
  seed: number | bigint,
  shape: readonly number[],
  opts: Partial<TorchGeneratorOptions> = {},
): Float32Array {
  return new TorchGenerator(seed, opts).randn(shape);
}

/**
 * `torch.manual_seed(seed); torch.rand(*shape)` in one call.
 * @example
 * torchRand(0, [4]);
 */
export function torchRand(
  seed: number | bigint,
  shape: readonly number[],
  opts: Partial<TorchGeneratorOptions> = {},
): Float32Array {
  return new TorchGenerator(seed, opts).rand(shape);
}
