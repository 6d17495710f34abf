/**
 * Multi-head RMS norm of the TRELLIS/Amodal3R self-attention (qk-RMSNorm, `MultiHeadRMSNorm` and its sparse twin):
 * `y = F.normalize(x.float(), dim=-1) * gamma * sqrt(D)`, cast back to x's dtype. `F.normalize` divides by
 * `max(||x||_2, 1e-12)`; the products are taken in that order (normalised * gamma, then * sqrt(D), sqrt(D) as an
 * f32 constant) like the PyTorch expression.
 *
 * Notes: same launch shape as layerNorm (RT threads per row, several rows per workgroup for D = 64); the row stays
 * in registers, so x is read once. Rows longer than 4096 values are rejected (heads here are 64 wide).
 *
 * @example
 * const qn = multiHeadRmsNorm(q, gammaQ); // q [B, L, 16, 64], gammaQ [16, 64]
 */

import { alignedRows, binding, planRowChunks, splitWorkgroups } from '../../runtime/chunk.ts';
import { bytesPerElement, type DType } from '../../runtime/dtype.ts';
import { ShapeError, shapeStr } from '../../runtime/shape.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { enablesFor, specialize, templateKey } from '../../runtime/wgsl.ts';
import { WGSL } from '../wgsl.generated.ts';
import { rowThreads } from './layernorm.ts';
import { multiHeadRmsNormCpu } from './rmsnorm.cpu.ts';

const WORKGROUP = 256;
const MAX_PER_THREAD = 16;

export interface MultiHeadRmsNormOptions {
  /** Output dtype; defaults to x's. */
  dtype?: DType;
}

/**
 * `x / max(||x||, 1e-12) * gamma * sqrt(D)` over the last dim, gamma per head; x [..., H, D], gamma [H, D].
 * @example
 * const kn = multiHeadRmsNorm(k, gammaK);
 */
export function multiHeadRmsNorm(x: Tensor, gamma: Tensor, options: MultiHeadRmsNormOptions = {}): Tensor {
  const op = 'multiHeadRmsNorm';
  const shapes = `x ${shapeStr(x.shape)}, gamma ${shapeStr(gamma.shape)}`;
  if (x.rank < 2 || gamma.rank !== 2)
    throw new ShapeError(op, `expects x [..., H, D] and gamma [H, D] (${shapes})`);
  const [H, D] = gamma.shape;
  if (x.shape[x.rank - 2] !== H || x.shape[x.rank - 1] !== D) {
    throw new ShapeError(op, `the last two dims of x must equal gamma's (${shapes})`);
  }
  if (gamma.device !== x.device) throw new ShapeError(op, `operands are on different devices (${shapes})`);
  const dtype = options.dtype ?? x.dtype;
  if (!x.gpu) {
    return Tensor.fromArray(multiHeadRmsNormCpu(x.data, H, D, gamma.data, dtype), x.shape, { dtype });
  }
  const gpu = x.gpu;
  if ([x.dtype, dtype, gamma.dtype].includes('f16') && !gpu.features.f16) {
    throw new Error(`${op}: f16 tensors need the shader-f16 feature, which this adapter lacks`);
  }
  const rt = rowThreads(D);
  const pt = Math.ceil(D / rt);
  if (pt > MAX_PER_THREAD)
    throw new ShapeError(op, `head dim ${D} exceeds ${WORKGROUP * MAX_PER_THREAD} (${shapes})`);
  if (gamma.byteLength > gpu.maxBinding)
    throw new ShapeError(op, `gamma exceeds the binding limit (${shapes})`);
  const out = Tensor.empty(x.shape, { dtype, gpu });
  if (x.size === 0 || D === 0) return out;
  const vars = { WG: WORKGROUP, RT: rt, PT: pt, TX: x.dtype, TO: dtype, TG: gamma.dtype };
  const code = specialize(WGSL['ops/norm/rmsnorm'], vars, enablesFor(x.dtype, dtype, gamma.dtype));
  const pipeline = gpu.pipeline(templateKey('rmsnorm', vars), code);
  const rows = x.size / D;
  const rowBytes = [x.dtype, dtype].map((t) => D * bytesPerElement(t));
  const align = Math.max(...rowBytes.map((b) => alignedRows(b, gpu.offsetAlignment)));
  const params = new ArrayBuffer(32);
  const u32 = new Uint32Array(params);
  const f32 = new Float32Array(params);
  for (const c of planRowChunks(op, rows, rowBytes, gpu.maxBinding, align)) {
    if (c.count === 0) continue;
    const [nx, ny] = splitWorkgroups(
      Math.ceil(c.count / (WORKGROUP / rt)),
      gpu.limits.maxComputeWorkgroupsPerDimension,
    );
    u32.set([c.count, D, nx, H, c.start]);
    f32[5] = Math.sqrt(D);
    gpu.dispatch(
      pipeline,
      [
        binding(x, c.start * D, c.count * D),
        binding(out, c.start * D, c.count * D),
        gpu.uniform(params),
        binding(gamma),
      ],
      [nx, ny],
    );
  }
  return out;
}
