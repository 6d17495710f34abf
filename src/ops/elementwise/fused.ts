/**
 * Fused elementwise ops of the transformer blocks.
 *
 * - `gatedResidual(x, h, gate)`: `x + gate * h` with gate `[B, C]` broadcast over the L tokens of each batch item
 *   (x, h `[B, L, C]`, or `[N, C]` with B = 1 for sparse tensors); `x + h` when gate is null. Rounding follows the
 *   official blocks (`h = h * gate.unsqueeze(1); x = x + h`): the product is rounded to x's dtype, then the sum.
 *   In f32 both roundings are the f32 arithmetic itself. All operands must share x's dtype.
 * - `quantizeF16(x)`: f32 tensor holding the f16-rounded values (round to nearest even). The kernel spells the
 *   rounding with integer/`round()` arithmetic because Mesa lavapipe folds `f32(f16(v))` to `v`; the same helper
 *   gives the in-kernel rounding points of `gatedResidual` and `modulatedLayerNorm`, and this op tests it.
 *
 * Notes: one workgroup of 256 threads per 256 elements, chunked under the storage-binding limit; the gate is bound
 * whole (it is [B, C], small).
 *
 * @example
 * x = gatedResidual(x, attnOut, gateMsa); // x [B, L, C], gateMsa [B, C]
 */

import { alignedRows, binding, planRowChunks, splitWorkgroups } from '../../runtime/chunk.ts';
import { bytesPerElement, type DType, roundToDType } from '../../runtime/dtype.ts';
import { ShapeError, sameShape, shapeStr } from '../../runtime/shape.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { enablesFor, specialize, type TemplateVars, templateKey } from '../../runtime/wgsl.ts';
import { WGSL } from '../wgsl.generated.ts';
import { gatedResidualCpu } from './fused.cpu.ts';

const WORKGROUP = 256;

/**
 * `x + gate * h` (gate [B, C] broadcast over L), or `x + h` with gate null.
 * @example
 * const y = gatedResidual(x, h, gate); // [2, 4096, 1024] + [2, 1024] * [2, 4096, 1024]
 */
export function gatedResidual(x: Tensor, h: Tensor, gate: Tensor | null): Tensor {
  const op = 'gatedResidual';
  const shapes = `x ${shapeStr(x.shape)}, h ${shapeStr(h.shape)}, gate ${gate ? shapeStr(gate.shape) : 'null'}`;
  if (!sameShape(x.shape, h.shape)) throw new ShapeError(op, `x and h must have the same shape (${shapes})`);
  if (x.rank < 1) throw new ShapeError(op, `x needs at least one dimension (${shapes})`);
  const C = x.shape[x.rank - 1];
  const B = x.rank === 3 ? x.shape[0] : 1;
  if (gate) {
    if (x.rank !== 2 && x.rank !== 3)
      throw new ShapeError(op, `a gate needs x [B, L, C] or [L, C] (${shapes})`);
    const ok =
      (gate.rank === 2 && gate.shape[0] === B && gate.shape[1] === C) ||
      (gate.rank === 1 && B === 1 && gate.shape[0] === C);
    if (!ok) throw new ShapeError(op, `gate must be [B, C] = [${B}, ${C}] (${shapes})`);
  }
  for (const t of gate ? [h, gate] : [h]) {
    if (t.dtype !== x.dtype)
      throw new ShapeError(op, `dtypes differ: x ${x.dtype}, other ${t.dtype} (${shapes})`);
    if (t.device !== x.device) throw new ShapeError(op, `operands are on different devices (${shapes})`);
  }
  const perBatch = x.size / B;
  if (!x.gpu) {
    const data = gatedResidualCpu(x.data, h.data, gate?.data ?? null, perBatch, C, x.dtype);
    return Tensor.fromArray(data, x.shape, { dtype: x.dtype });
  }
  const decl = [`@group(0) @binding(3) var<storage, read> h: array<${x.dtype}>;`];
  let body = 'y = xv + f32(h[i]);';
  if (gate) {
    decl.push(`@group(0) @binding(4) var<storage, read> gate: array<${x.dtype}>;`);
    body = 'y = xv + rnd(f32(h[i]) * f32(gate[(g / p.per_batch) * p.c + g % p.c]));';
  }
  return fusedGpu(op, x, x.dtype, decl.join('\n'), body, [h], gate ? [gate] : [], perBatch, C);
}

/**
 * f32 tensor of the f16-rounded values of `x` (round to nearest even, overflow to +-inf).
 * @example
 * const q = quantizeF16(x); // same values a cast to f16 and back would give
 */
export function quantizeF16(x: Tensor): Tensor {
  if (!x.gpu) return Tensor.fromArray(roundToDType(Float32Array.from(x.data), 'f16'), x.shape);
  return fusedGpu('quantizeF16', x, 'f32', '', 'y = round_f16(xv);', [], [], 1, 1);
}

function fusedGpu(
  op: string,
  x: Tensor,
  dtype: DType,
  auxDecl: string,
  body: string,
  chunked: Tensor[],
  whole: Tensor[],
  perBatch: number,
  C: number,
): Tensor {
  const gpu = x.gpu!;
  const all = [x, ...chunked, ...whole];
  if ([dtype, ...all.map((t) => t.dtype)].includes('f16') && !gpu.features.f16) {
    throw new Error(`${op}: f16 tensors need the shader-f16 feature, which this adapter lacks`);
  }
  for (const t of whole) {
    if (t.byteLength > gpu.maxBinding)
      throw new ShapeError(op, `${shapeStr(t.shape)} exceeds the binding limit`);
  }
  const out = Tensor.empty(x.shape, { dtype, gpu });
  const vars: TemplateVars = {
    TX: x.dtype,
    TO: dtype,
    ROUND16: dtype === 'f16' || op === 'quantizeF16',
    AUX_DECL: auxDecl,
    BODY: body,
  };
  const code = specialize(WGSL['ops/elementwise/fused'], vars, enablesFor(dtype, ...all.map((t) => t.dtype)));
  const pipeline = gpu.pipeline(templateKey('fused', vars), code);
  const sizes = [x.dtype, dtype, ...chunked.map((t) => t.dtype)].map(bytesPerElement);
  const align = Math.max(...sizes.map((s) => alignedRows(s, gpu.offsetAlignment)));
  const params = new ArrayBuffer(32);
  const u32 = new Uint32Array(params);
  const f32 = new Float32Array(params);
  for (const c of planRowChunks(op, x.size, sizes, gpu.maxBinding, align)) {
    if (c.count === 0) continue;
    const [nx, ny] = splitWorkgroups(
      Math.ceil(c.count / WORKGROUP),
      gpu.limits.maxComputeWorkgroupsPerDimension,
    );
    u32.set([c.count, nx, c.start, perBatch, C]);
    f32[5] = Number.POSITIVE_INFINITY;
    gpu.dispatch(
      pipeline,
      [
        binding(x, c.start, c.count),
        binding(out, c.start, c.count),
        gpu.uniform(params),
        ...chunked.map((t) => binding(t, c.start, c.count)),
        ...whole.map((t) => binding(t)),
      ],
      [nx, ny],
    );
  }
  return out;
}
