/**
 * Fused submanifold-conv kernel: `sparseConvFused(feats [N, Cin], neighbours, weight [Cout, 27 Cin], bias?)` ->
 * [N, Cout], one gather + GEMM pass over the neighbour table (sparse_conv.wgsl) instead of materialising the
 * [N, 27 Cin] im2col matrix and running a GEMM over it. The CPU twin is the im2col path of `submConv3d`
 * (src/sparse/conv.ts): same sums, same single rounding of the output.
 *
 * Tiles (as conv3d.wgsl, picked by the Cout of a dispatch): wide 64x64 (4x4 per invocation), mid 128x32 (4x4),
 * narrow 128x16 (4x2); 256 invocations, TK = 16, f32 workgroup tiles, f32 accumulation, any of x / weight / bias /
 * output in f16 or f32.
 *
 * Binding limit: the feature table is ONE binding (a row's neighbours can be anywhere); when it exceeds the budget
 * `sparseConvFusedFits` says no and the caller uses the im2col path. Output rows (with their neighbour-table rows)
 * and weight rows (output channels) are split into windows, one dispatch per (row block, channel block).
 *
 * Alternatives and measurements: the im2col rung (gatherRows into [rows, 27 Cin] blocks of <= 128 MiB, then the
 * tiled / subgroup-matrix GEMM) writes and reads 27x the input per call; the fused kernel reads each neighbour row
 * from cache instead but cannot use the subgroup-matrix GEMM. lavapipe (2 shared cores) and H100 figures are in
 * docs/performance.md (`npm run bench -- slat --only conv`); `submConv3d`'s `auto` picks by those.
 *
 * @example
 * const y = sparseConvFused(x.feats, table.gpuBuffer(gpu), w.matrix, bias); // [N, 128] -> [N, 128]
 */

import { splitWorkgroups } from '../../runtime/chunk.ts';
import { bytesPerElement, type DType } from '../../runtime/dtype.ts';
import { ShapeError, shapeStr } from '../../runtime/shape.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { enablesFor, specialize, templateKey } from '../../runtime/wgsl.ts';
import { bufferWindow, packParams, windowBinding, windowBudget } from '../layout/window.ts';
import { WGSL } from '../wgsl.generated.ts';
import { microKernel, TILE_MID, TILE_NARROW, TILE_WIDE, type TileConfig } from './gemm-tile.ts';

/** Taps of the 3x3x3 stencil (columns of the neighbour table). */
export const SPARSE_CONV_TAPS = 27;

const WORKGROUP = 256;

function tileFor(n: number): TileConfig {
  if (n <= TILE_NARROW.tn) return TILE_NARROW;
  if (n <= TILE_MID.tn) return TILE_MID;
  return TILE_WIDE;
}

/**
 * Whether the fused kernel can run these features on `gpu` (the whole table must fit one binding).
 * @example
 * if (sparseConvFusedFits(x.feats)) y = sparseConvFused(x.feats, nbr, w, b);
 */
export function sparseConvFusedFits(feats: Tensor): boolean {
  return !!feats.gpu && feats.byteLength <= windowBudget(feats.gpu);
}

export interface SparseConvFusedOptions {
  /** Output dtype; defaults to the features'. */
  dtype?: DType;
}

/**
 * Fused gather + GEMM submanifold convolution on the GPU.
 * @param feats [N, Cin] on the GPU.
 * @param neighbours i32 buffer [N * 27]: row of tap (a, b, c) = (a*3+b)*3+c of every row, -1 where empty.
 * @param weight [Cout, 27 Cin] (spconv KRSC weight reshaped; see src/sparse/conv.ts).
 * @example
 * const y = sparseConvFused(feats, RowIndex.from(table).gpuBuffer(gpu), w, b, { dtype: 'f16' });
 */
export function sparseConvFused(
  feats: Tensor,
  neighbours: GPUBuffer,
  weight: Tensor,
  bias: Tensor | null,
  options: SparseConvFusedOptions = {},
): Tensor {
  const op = 'sparseConvFused';
  const gpu = feats.gpu;
  if (!gpu) throw new ShapeError(op, 'features must be on the GPU (the CPU twin is the im2col path)');
  if (feats.rank !== 2) throw new ShapeError(op, `features must be [N, Cin], got ${shapeStr(feats.shape)}`);
  const [rows, cin] = feats.shape;
  const kdim = SPARSE_CONV_TAPS * cin;
  if (weight.rank !== 2 || weight.shape[1] !== kdim) {
    throw new ShapeError(
      op,
      `weight ${shapeStr(weight.shape)} is not [Cout, ${kdim}] for features ${shapeStr(feats.shape)}`,
    );
  }
  const cout = weight.shape[0];
  if (bias && (bias.rank !== 1 || bias.shape[0] !== cout)) {
    throw new ShapeError(op, `bias ${shapeStr(bias.shape)} must be [${cout}]`);
  }
  for (const t of [weight, bias]) {
    if (t && t.gpu !== gpu) throw new ShapeError(op, 'features, weight and bias must be on one device');
  }
  if (neighbours.size < rows * SPARSE_CONV_TAPS * 4) {
    throw new ShapeError(op, `neighbour table of ${neighbours.size} bytes is smaller than ${rows} x 27 i32`);
  }
  const dtype = options.dtype ?? feats.dtype;
  if ([feats.dtype, weight.dtype, bias?.dtype, dtype].includes('f16') && !gpu.features.f16) {
    throw new Error(`${op}: f16 tensors need the shader-f16 feature, which this adapter lacks`);
  }
  const budget = windowBudget(gpu);
  if (feats.byteLength > budget) {
    throw new Error(
      `${op}: the feature table ${shapeStr(feats.shape)} (${feats.byteLength} bytes) exceeds one binding (${budget}); use the im2col path`,
    );
  }
  const out = Tensor.empty([rows, cout], { dtype, gpu });
  if (out.size === 0) return out;
  if (bias && bias.byteLength > budget)
    throw new Error(`${op}: bias of ${cout} channels exceeds the binding limit`);

  // Weight rows per dispatch (whole rows); a multiple of the wide tile when there are several chunks.
  let nPer = Math.floor(budget / (kdim * bytesPerElement(weight.dtype)));
  if (nPer === 0)
    throw new Error(`${op}: one output channel's weights (${kdim} values) exceed the binding limit`);
  if (nPer < cout && nPer >= TILE_WIDE.tn) nPer -= nPer % TILE_WIDE.tn;
  nPer = Math.min(nPer, cout);
  // Rows per dispatch: the output rows (all Cout columns) and their neighbour-table rows must fit a window.
  const rowBytes = Math.max(cout * bytesPerElement(dtype), SPARSE_CONV_TAPS * 4);
  const rPer = Math.floor(budget / rowBytes);
  if (rPer === 0) throw new Error(`${op}: one output row (${cout} channels) exceeds the binding limit`);

  const xw = windowBinding(feats, 0, rows * cin);
  const enables = enablesFor(feats.dtype, weight.dtype, dtype, bias?.dtype ?? 'f32');
  const pipelineFor = (t: TileConfig): GPUComputePipeline => {
    const vars = {
      TX: feats.dtype,
      TW: weight.dtype,
      TB: bias ? bias.dtype : 'f32',
      TO: dtype,
      TM: t.tm,
      TN: t.tn,
      TK: t.tk,
      RM: t.rm,
      RN: t.rn,
      WG: WORKGROUP,
      A_ITERS: (t.tm * t.tk) / WORKGROUP,
      A_SIZE: t.tm * t.tk,
      B_SIZE: t.tn * t.tk,
      ...microKernel(t),
    };
    return gpu.pipeline(
      templateKey('sparse_conv', vars),
      specialize(WGSL['ops/conv/sparse_conv'], vars, enables),
    );
  };
  for (let r0 = 0; r0 < rows; r0 += rPer) {
    const m = Math.min(rPer, rows - r0);
    const ow = windowBinding(out, r0 * cout, m * cout);
    const nw = bufferWindow(gpu, neighbours, 4, r0 * SPARSE_CONV_TAPS, m * SPARSE_CONV_TAPS);
    for (let n0 = 0; n0 < cout; n0 += nPer) {
      const n = Math.min(nPer, cout - n0);
      const t = tileFor(n);
      const ww = windowBinding(weight, n0 * kdim, n * kdim);
      const bb = bias ? windowBinding(bias, 0, cout) : ww; // unread without a bias
      const [nx, ny] = splitWorkgroups(Math.ceil(m / t.tm), gpu.limits.maxComputeWorkgroupsPerDimension);
      const params = packParams([
        m,
        cin,
        cout,
        n,
        n0,
        kdim,
        nx,
        xw.shift,
        nw.shift,
        ww.shift,
        ow.shift,
        t.tk,
        bias ? 1 : 0,
      ]);
      gpu.dispatch(
        pipelineFor(t),
        [xw.binding, nw.binding, ww.binding, bb.binding, ow.binding, gpu.uniform(params)],
        [nx, ny, Math.ceil(n / t.tn)],
      );
    }
  }
  return out;
}

/** Bytes of GPU memory the im2col path would stage for `rows` rows of `cin` channels (for notes and benches). */
export function im2colBytes(rows: number, cin: number, dtype: DType): number {
  return rows * SPARSE_CONV_TAPS * cin * bytesPerElement(dtype);
}
