/**
 * Submanifold sparse 3-D convolution (spconv `SubMConv3d`, stride 1): output sites = input sites,
 * `out[p] = bias + sum_{o in {-1,0,1}^3, p+o active in the same batch item} W[:, o+1, :] . in[p+o]`.
 *
 * Weight layout (ARCHITECTURE.md Addendum, confirmed by running the official code with spconv 2.x): the
 * checkpoint stores KRSC `[Cout, kx, ky, kz, Cin]`, kernel axis a pairs with coordinate axis a, and the op is a
 * cross-correlation (tap (a, b, c) reads the voxel at (x + a - 1, y + b - 1, z + c - 1)). Row-major, that tensor
 * *is* a `[Cout, 27 Cin]` matrix whose column `((a*3+b)*3+c) Cin + ci` multiplies tap (a,b,c)'s channel ci, so
 * the convolution is `im2col(x) [N, 27 Cin] @ W^T`: no re-layout at load time. Kernel size 1 follows spconv's
 * shortcut, which multiplies by `weight.view(Cin, Cout)`: the stored bytes are *reinterpreted* as row-major
 * [Cin, Cout] (not transposed); `prepareSparseConvWeight` reproduces that.
 *
 * Implementation: the neighbour table [N, 27] (row of each tap's voxel, -1 where empty) is built once per
 * coordinate set on the CPU with a hash map and kept in the tensor's cache. Two rungs on the GPU (`variant`):
 * - `fused` (src/ops/conv/sparse_conv.wgsl): one gather + GEMM kernel reading the neighbour table (uploaded once
 *   as i32), no im2col buffer. Needs the whole feature table in one binding.
 * - `im2col`: each call gathers the neighbours' features with `gatherRows` (missing taps give zero rows: the
 *   gather kernel writes zeros for out-of-range indices; the table is uploaded once as an f32 index, exact below
 *   2^24 rows) into an im2col block and runs one `linear` (the tiled / subgroup-matrix GEMM) per block of rows;
 *   blocks keep the im2col buffer under `IM2COL_BUDGET_BYTES`. This is also the CPU path (the fused kernel's twin).
 * `auto` picks per adapter by measurement (`submAutoFused`): see the notes below.
 *
 * Numerics: f32 results differ from spconv only by summation order (one 27 Cin-long dot product in the GEMM
 * versus spconv's per-tap partial sums). In f16, spconv's native algorithm rounds the running sum to half after
 * every tap (centre tap first, then the other 26 in kernel order, bias last); we accumulate all 27 taps in f32 and
 * round once, which is more accurate: expect differences of a few half-ulps of the output versus fp16 spconv.
 *
 * Alternatives: 27 gathered GEMMs with scatter-adds (27 dispatch pairs per conv, same arithmetic). Fused vs
 * im2col, `npm run bench -- slat --only conv --small` on lavapipe (2 shared cores, 32 -> 32 channels, 2,048
 * voxels, GPU timestamps, 2026-11-27): f32 306 vs 661 ms, f16 262 vs 709 ms (no 27x im2col round trip through
 * memory), so `auto` uses the fused kernel on CPU adapters. On GPUs with subgroup matrices the im2col GEMM runs on
 * the sgmat rung, which the fused kernel's scalar tiles may not match: `auto` keeps im2col there until the device
 * benchmark (tools/device/bench-slat.sh, `conv` case at 128 channels / 20,256 voxels) has timed both.
 *
 * @example
 * const w = prepareSparseConvWeight(store.load('input_blocks.0.conv1.conv.weight', { gpu })); // [128,3,3,3,128]
 * const y = submConv3d(x, w, bias); // x: SparseTensor [N, 128]
 */

import { sparseConvFused, sparseConvFusedFits } from '../ops/conv/sparse_conv.ts';
import { concat } from '../ops/layout/concat.ts';
import { RowIndex } from '../ops/layout/index.ts';
import { permute } from '../ops/layout/permute.ts';
import { gatherRows } from '../ops/layout/rows.ts';
import { linear } from '../ops/matmul/linear.ts';
import { bytesPerElement } from '../runtime/dtype.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { ShapeError, shapeStr } from '../runtime/shape.ts';
import { Tensor } from '../runtime/tensor.ts';
import { coordKey, type SparseTensor } from './sparse-tensor.ts';

/** Upper bound of one im2col block (the gathered [rows, 27 Cin] matrix). */
export const IM2COL_BUDGET_BYTES = 128 * 1024 * 1024;
export const SUBM_TAPS = 27;

/** GPU rung of `submConv3d`: the fused gather-GEMM kernel, the im2col gather + GEMM, or picked per adapter. */
export type SubmConvVariant = 'auto' | 'fused' | 'im2col';

export interface SubmConvOptions {
  /** GPU kernel rung (ignored on the CPU, which always runs the im2col twin). */
  variant?: SubmConvVariant;
}

export const SUBM_CONV_DEFAULTS: Required<SubmConvOptions> = { variant: 'auto' };

/**
 * Whether `auto` uses the fused kernel on this adapter: on CPU adapters (lavapipe), where it was measured 2.2x
 * (f32) / 2.7x (f16) faster than im2col (32 -> 32 channels, 2,048 voxels: 306 vs 661 ms, 262 vs 709 ms). On GPUs
 * `auto` keeps im2col (whose GEMM runs on the subgroup-matrix / register-tiled rungs) until
 * `tools/device/bench-slat.sh` has timed both there.
 */
export function submAutoFused(gpu: GpuContext, _dtype: string): boolean {
  return /llvmpipe|lavapipe|swiftshader/i.test(
    `${gpu.adapterInfo.device} ${gpu.adapterInfo.description} ${gpu.adapterInfo.architecture}`,
  );
}

export interface SparseConvWeight {
  readonly kernel: 1 | 3;
  readonly cin: number;
  readonly cout: number;
  /** The GEMM operand [Cout, k^3 Cin] (for k = 3 it aliases the stored tensor's storage). */
  readonly matrix: Tensor;
}

/**
 * Turns a stored spconv weight `[Cout, k, k, k, Cin]` (k = 1 or 3) into the GEMM operand. For k = 3 the result
 * aliases `w` (dispose one of them, not both); for k = 1 it is a new tensor (spconv's `view(Cin, Cout)`).
 * @example
 * const w = prepareSparseConvWeight(Tensor.fromArray(values, [64, 3, 3, 3, 32]));
 */
export function prepareSparseConvWeight(w: Tensor): SparseConvWeight {
  const op = 'prepareSparseConvWeight';
  if (w.rank !== 5 || w.shape[1] !== w.shape[2] || w.shape[2] !== w.shape[3]) {
    throw new ShapeError(op, `expects a spconv KRSC weight [Cout, k, k, k, Cin]; got ${shapeStr(w.shape)}`);
  }
  const [cout, k, , , cin] = w.shape;
  if (k === 3) return { kernel: 3, cin, cout, matrix: w.reshape([cout, SUBM_TAPS * cin]) };
  if (k === 1) {
    // spconv: features @ weight.view(Cin, Cout); linear wants [Cout, Cin] = transpose of that view.
    return { kernel: 1, cin, cout, matrix: permute(w.reshape([cin, cout]), [1, 0]) };
  }
  throw new ShapeError(op, `kernel size ${k} is not supported (1 or 3); weight ${shapeStr(w.shape)}`);
}

/**
 * Neighbour table of the 3x3x3 submanifold stencil: entry [i * 27 + (a*3+b)*3+c] is the row of the voxel at
 * coords(i) + (a-1, b-1, c-1) in the same batch item, or -1.
 * @example
 * const t = submNeighbours(new Int32Array([0, 0, 0, 0, 0, 0, 0, 1])); // t[13] = 0 (centre), t[14] = 1
 */
export function submNeighbours(coords: Int32Array): Int32Array {
  const n = coords.length / 4;
  const rows = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    rows.set(coordKey(coords[4 * i], coords[4 * i + 1], coords[4 * i + 2], coords[4 * i + 3]), i);
  }
  const out = new Int32Array(n * SUBM_TAPS).fill(-1);
  for (let i = 0; i < n; i++) {
    const b = coords[4 * i];
    const x = coords[4 * i + 1];
    const y = coords[4 * i + 2];
    const z = coords[4 * i + 3];
    for (let a = 0; a < 3; a++) {
      const xx = x + a - 1;
      if (xx < 0) continue;
      for (let bb = 0; bb < 3; bb++) {
        const yy = y + bb - 1;
        if (yy < 0) continue;
        for (let c = 0; c < 3; c++) {
          const zz = z + c - 1;
          if (zz < 0) continue;
          const r = rows.get(coordKey(b, xx, yy, zz));
          if (r !== undefined) out[i * SUBM_TAPS + (a * 3 + bb) * 3 + c] = r;
        }
      }
    }
  }
  return out;
}

interface NeighbourBlocks {
  rowsPerBlock: number;
  /** f32 index tensors [rows * 27], one per block of rows. */
  blocks: Tensor[];
  dispose(): void;
}

function neighbourBlocks(x: SparseTensor, rowsPerBlock: number, gpu: GpuContext | null): NeighbourBlocks {
  const table = x.cached('subm3.table', () => submNeighbours(x.coords));
  return x.cached(`subm3.blocks.${rowsPerBlock}.${gpu ? 'gpu' : 'cpu'}`, () => {
    const blocks: Tensor[] = [];
    for (let r0 = 0; r0 < x.n; r0 += rowsPerBlock) {
      const r1 = Math.min(x.n, r0 + rowsPerBlock);
      const idx = Float32Array.from(table.subarray(r0 * SUBM_TAPS, r1 * SUBM_TAPS));
      blocks.push(Tensor.fromArray(idx, [idx.length], { gpu }));
    }
    return {
      rowsPerBlock,
      blocks,
      dispose() {
        for (const b of blocks) b.dispose();
      },
    };
  });
}

/**
 * Submanifold 3-D convolution of a sparse tensor (output sites = input sites, per batch item).
 * @example
 * const h = submConv3d(x, prepareSparseConvWeight(w), bias); // x [N, Cin] -> [N, Cout]
 */
export function submConv3d(
  x: SparseTensor,
  w: SparseConvWeight,
  bias: Tensor | null,
  options: SubmConvOptions = {},
): SparseTensor {
  const op = 'submConv3d';
  const o = { ...SUBM_CONV_DEFAULTS, ...options };
  if (x.channels !== w.cin) {
    throw new ShapeError(
      op,
      `input has ${x.channels} channels, weight expects ${w.cin} (weight [${w.cout}, ${w.kernel}^3 x ${w.cin}])`,
    );
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== w.cout)) {
    throw new ShapeError(op, `bias must be [${w.cout}], got ${shapeStr(bias.shape)}`);
  }
  if (x.n === 0) throw new ShapeError(op, 'the sparse tensor has no voxels');
  if (w.kernel === 1) return x.withFeats(linear(x.feats, w.matrix, bias));
  const gpu = x.feats.gpu;
  if (gpu && sparseConvFusedFits(x.feats)) {
    const fused = o.variant === 'fused' || (o.variant === 'auto' && submAutoFused(gpu, x.feats.dtype));
    if (fused) {
      const table = x.cached('subm3.table', () => submNeighbours(x.coords));
      const idx = x.cached('subm3.rows', () => RowIndex.from(table));
      return x.withFeats(sparseConvFused(x.feats, idx.gpuBuffer(gpu), w.matrix, bias));
    }
  }
  const rowBytes = SUBM_TAPS * w.cin * bytesPerElement(x.feats.dtype);
  const rowsPerBlock = Math.max(1, Math.min(x.n, Math.floor(IM2COL_BUDGET_BYTES / rowBytes)));
  const nb = neighbourBlocks(x, rowsPerBlock, gpu);
  const outs: Tensor[] = [];
  for (const idx of nb.blocks) {
    const rows = idx.shape[0] / SUBM_TAPS;
    const cols = gatherRows(x.feats, idx);
    outs.push(linear(cols.reshape([rows, SUBM_TAPS * w.cin]), w.matrix, bias));
    cols.dispose();
  }
  if (outs.length === 1) return x.withFeats(outs[0]);
  const out = concat(outs, 0);
  for (const t of outs) t.dispose();
  return x.withFeats(out);
}
