/**
 * `linear(x, weight, bias?)`: PyTorch `F.linear`, `x @ weight^T + bias` with weight [out, in] as stored in
 * checkpoints. It is `matmul` with `transB`, so the weight is never transposed in memory and the bias (and an
 * optional activation) run in the matmul epilogue.
 *
 * @example
 * const h = linear(x, fc1Weight, fc1Bias, { activation: 'gelu_tanh' }); // x [B, L, 1024] -> [B, L, 4096]
 */

import { ShapeError, shapeStr } from '../../runtime/shape.ts';
import type { Tensor } from '../../runtime/tensor.ts';
import { type MatmulOptions, matmul } from './matmul.ts';

export type LinearOptions = Omit<MatmulOptions, 'transA' | 'transB' | 'bias'>;

/**
 * `F.linear(x, weight, bias)` for x of any rank [..., in] (rank 1 included), weight [out, in], bias [out].
 *
 * @example
 * const y = linear(x, w, b);                 // x [2, 77, 512], w [768, 512], b [768] -> [2, 77, 768]
 * const z = linear(x, w, null, { dtype: 'f16', activation: 'silu' });
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null, options: LinearOptions = {}): Tensor {
  if (weight.rank !== 2 || x.rank < 1 || x.shape[x.rank - 1] !== weight.shape[1]) {
    throw new ShapeError(
      'linear',
      `x ${shapeStr(x.shape)} needs last dim = weight [out, in] in (weight ${shapeStr(weight.shape)})`,
    );
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== weight.shape[0])) {
    throw new ShapeError(
      'linear',
      `bias ${shapeStr(bias.shape)} must be [${weight.shape[0]}] for weight ${shapeStr(weight.shape)}`,
    );
  }
  const outDim = weight.shape[0];
  // Fold all leading dims into M: one 2-D product against the shared weight.
  const rows = x.size / Math.max(1, x.shape[x.rank - 1]);
  const x2 = x.rank === 2 ? x : x.reshape([x.rank === 1 ? 1 : rows, x.shape[x.rank - 1]]);
  const y = matmul(x2, weight, { ...options, transB: true, bias: bias ?? null });
  return x.rank === 2 ? y : y.reshape([...x.shape.slice(0, -1), outDim]);
}
