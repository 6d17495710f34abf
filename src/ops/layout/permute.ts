/**
 * `permute(x, perm)`: a materialised transpose (output axis a = input axis perm[a]), rank <= 6, like
 * `torch.permute(...).contiguous()`. Also converts the dtype when `options.dtype` differs (values rounded once).
 *
 * Binding limit: the output is written in contiguous chunks; the input is bound whole when it fits, else in
 * contiguous windows, and every (output chunk, input window) pair is dispatched with elements whose source lies
 * outside the window skipped. That costs (output chunks x input windows) passes over the output chunk, which only
 * happens for tensors above the limit (128 MiB+ on real adapters; 1 MiB in the forced tests).
 *
 * @example
 * const y = permute(x, [0, 2, 3, 4, 1]); // [B, C, D, H, W] -> [B, D, H, W, C]
 */

import { splitWorkgroups } from '../../runtime/chunk.ts';
import type { DType } from '../../runtime/dtype.ts';
import { contiguousStrides, ShapeError, shapeStr } from '../../runtime/shape.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { enablesFor, specialize, templateKey } from '../../runtime/wgsl.ts';
import { WGSL } from '../wgsl.generated.ts';
import { permuteCpu } from './permute.cpu.ts';
import { packParams, windowBinding, windowBudget } from './window.ts';

const MAX_RANK = 6;
const WORKGROUP = 256;

export interface PermuteOptions {
  /** Output dtype; defaults to the input's. */
  dtype?: DType;
}

/**
 * Permutes the axes of `x`: output axis a is input axis `perm[a]`.
 * @example
 * permute(Tensor.fromArray([1, 2, 3, 4, 5, 6], [2, 3]), [1, 0]).data; // [1, 4, 2, 5, 3, 6]
 */
export function permute(x: Tensor, perm: readonly number[], options: PermuteOptions = {}): Tensor {
  const rank = x.rank;
  if (rank > MAX_RANK)
    throw new ShapeError('permute', `rank ${rank} of ${shapeStr(x.shape)} exceeds ${MAX_RANK}`);
  const seen = new Set(perm);
  if (
    perm.length !== rank ||
    seen.size !== rank ||
    perm.some((a) => !Number.isInteger(a) || a < 0 || a >= rank)
  ) {
    throw new ShapeError(
      'permute',
      `perm [${perm.join(', ')}] is not a permutation of the axes of ${shapeStr(x.shape)}`,
    );
  }
  const dtype = options.dtype ?? x.dtype;
  const outShape = perm.map((a) => x.shape[a]);
  if (!x.gpu) return Tensor.fromArray(permuteCpu(x.data, x.shape, perm, dtype), outShape, { dtype });
  const gpu = x.gpu;
  if ((x.dtype === 'f16' || dtype === 'f16') && !gpu.features.f16) {
    throw new Error('permute: f16 tensors need the shader-f16 feature, which this adapter lacks');
  }
  const out = Tensor.empty(outShape, { dtype, gpu });
  const vars = { TX: x.dtype, TO: dtype };
  const code = specialize(WGSL['ops/layout/permute'], vars, enablesFor(x.dtype, dtype));
  const pipeline = gpu.pipeline(templateKey('permute', vars), code);
  const budget = windowBudget(gpu);
  const inPer = Math.max(1, Math.floor(budget / (x.dtype === 'f16' ? 2 : 4)));
  const outPer = Math.max(1, Math.floor(budget / (dtype === 'f16' ? 2 : 4)));
  const inStrides = contiguousStrides(x.shape);
  const shape = new Array<number>(8).fill(1);
  const src = new Array<number>(8).fill(0);
  outShape.forEach((d, i) => {
    shape[i] = d;
    src[i] = inStrides[perm[i]];
  });
  const n = out.size;
  for (let o0 = 0; o0 < n; o0 += outPer) {
    const oc = Math.min(outPer, n - o0);
    const ow = windowBinding(out, o0, oc);
    const [nx, ny] = splitWorkgroups(Math.ceil(oc / WORKGROUP), gpu.limits.maxComputeWorkgroupsPerDimension);
    for (let i0 = 0; i0 < x.size; i0 += inPer) {
      const ic = Math.min(inPer, x.size - i0);
      const xw = windowBinding(x, i0, ic);
      const params = packParams([
        oc,
        o0,
        Math.max(rank, 1),
        nx,
        i0,
        ic,
        xw.shift,
        ow.shift,
        ...shape,
        ...src,
      ]);
      gpu.dispatch(pipeline, [xw.binding, ow.binding, gpu.uniform(params)], [nx, ny]);
    }
  }
  return out;
}

/**
 * [B, C, D, H, W] (PyTorch) -> [B, D, H, W, C] (our volume layout), e.g. the SS-VAE latent z on input.
 * @example
 * const h = channelsLast3d(z); // [1, 8, 16, 16, 16] -> [1, 16, 16, 16, 8]
 */
export function channelsLast3d(x: Tensor, options: PermuteOptions = {}): Tensor {
  if (x.rank !== 5)
    throw new ShapeError('channelsLast3d', `expected [B, C, D, H, W], got ${shapeStr(x.shape)}`);
  return permute(x, [0, 2, 3, 4, 1], options);
}

/**
 * [B, D, H, W, C] -> [B, C, D, H, W] (PyTorch order), e.g. to compare with official outputs.
 * @example
 * const logits = channelsFirst3d(y); // [1, 64, 64, 64, 1] -> [1, 1, 64, 64, 64]
 */
export function channelsFirst3d(x: Tensor, options: PermuteOptions = {}): Tensor {
  if (x.rank !== 5)
    throw new ShapeError('channelsFirst3d', `expected [B, D, H, W, C], got ${shapeStr(x.shape)}`);
  return permute(x, [0, 4, 1, 2, 3], options);
}
