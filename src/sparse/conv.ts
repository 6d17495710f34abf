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
 * `auto` picks per adapter and shape by measurement (`submAutoFused`): see the notes there.
 *
 * Numerics: f32 results differ from spconv only by summation order (one 27 Cin-long dot product in the GEMM
 * versus spconv's per-tap partial sums). In f16, spconv's native algorithm rounds the running sum to half after
 * every tap (centre tap first, then the other 26 in kernel order, bias last); we accumulate all 27 taps in f32 and
 * round once, which is more accurate: expect differences of a few half-ulps of the output versus fp16 spconv.
 *
 * Alternatives: 27 gathered GEMMs with scatter-adds (27 dispatch pairs per conv, same arithmetic). Fused vs
 * im2col, `npm run bench -- slat --only conv --small` on lavapipe (2 shared cores, 32 -> 32 channels, 2,048
 * voxels, GPU timestamps, 2026-11-27): f32 306 vs 661 ms, f16 262 vs 709 ms (no 27x im2col round trip through
 * memory), so `auto` uses the fused kernel on CPU adapters. On GPUs the im2col GEMM runs on the subgroup-matrix /
 * register-tiled rungs, faster than the fused kernel's scalar tiles when its blocks have enough output tiles;
 * `auto` picks by shape from the H100 figures (`submAutoFused`).
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
import { bytesPerElement, type DType } from '../runtime/dtype.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { ShapeError, shapeStr } from '../runtime/shape.ts';
import { Tensor } from '../runtime/tensor.ts';
import { coordKey, type SparseTensor } from './sparse-tensor.ts';

/** Upper bound of one im2col block (the gathered [rows, 27 Cin] matrix). */
export const IM2COL_BUDGET_BYTES = 128 * 1024 * 1024;
export const SUBM_TAPS = 27;
/** Largest coordinate bounding box (batch x X x Y x Z cells) `submNeighbours` indexes with a dense grid (128 MiB). */
export const SUBM_DENSE_GRID_LIMIT = 2 ** 25;

/** GPU rung of `submConv3d`: the fused gather-GEMM kernel, the im2col gather + GEMM, or picked per adapter. */
export type SubmConvVariant = 'auto' | 'fused' | 'im2col';

export interface SubmConvOptions {
  /** GPU kernel rung (ignored on the CPU, which always runs the im2col twin). */
  variant?: SubmConvVariant;
}

export const SUBM_CONV_DEFAULTS: Required<SubmConvOptions> = { variant: 'auto' };

/**
 * Output elements of one im2col block below which `auto` takes the fused kernel on GPUs: 2^19 = 128 output tiles
 * of 64 x 64, about one wave on an H100's 132 SMs. A block's GEMM has rowsPerBlock x Cout outputs, and
 * rowsPerBlock = IM2COL_BUDGET_BYTES / (27 Cin bytes), so large Cin with small Cout gives a long-K GEMM with too
 * few output tiles to fill the GPU.
 */
export const SUBM_FUSED_MAX_BLOCK_OUTPUTS = 2 ** 19;

/**
 * Whether `auto` uses the fused kernel.
 *
 * CPU adapters (lavapipe): always, measured 2.2x (f32) / 2.7x (f16) faster than im2col (32 -> 32 channels, 2,048
 * voxels: 306 vs 661 ms, 262 vs 709 ms).
 *
 * GPUs: by shape. H100, f16, GPU timestamps (tools/device/bench-slat.sh, 2026-11-27), fused vs im2col:
 *   io          128 ->  128 at 20,256 rows:  1.32 vs  0.65 ms  (im2col block 2.5M outputs: im2col)
 *   out0.conv1 2048 ->  128 at 20,256 rows: 22.2  vs 45.5  ms  (block 1,213 rows x 128 = 155k outputs: fused)
 *   down.conv2 1024 -> 1024 at  3,496 rows: 16.4  vs  2.95 ms  (block 2.5M outputs: im2col)
 * The fused kernel's scalar tiles run at ~12-14 TFLOP/s whatever the shape; the im2col GEMM (subgroup-matrix /
 * register-tiled rungs) reaches 27-67 TFLOP/s when a block has enough output tiles, 6.3 TFLOP/s on the long-K,
 * 128-column case, which also materialises a 2.2 GB im2col matrix block by block. So `auto` takes the fused
 * kernel when an im2col block would have fewer than {@link SUBM_FUSED_MAX_BLOCK_OUTPUTS} outputs (which also
 * drops the 128 MiB im2col buffer from the peak). Shapes between the measured ones (e.g. the mesh decoder's
 * 768 -> 192 at 162k rows, 621k outputs per f16 block: im2col) are not measured yet.
 * @example
 * const fused = submAutoFused(gpu, 'f16', 2048, 128, 20256); // true on an H100 (and on lavapipe)
 */
export function submAutoFused(
  gpu: GpuContext,
  dtype: DType,
  cin: number,
  cout: number,
  rows: number,
): boolean {
  const adapter = `${gpu.adapterInfo.device} ${gpu.adapterInfo.description} ${gpu.adapterInfo.architecture}`;
  if (/llvmpipe|lavapipe|swiftshader/i.test(adapter)) return true;
  return im2colRowsPerBlock(cin, dtype, rows) * cout < SUBM_FUSED_MAX_BLOCK_OUTPUTS;
}

/** Rows of one im2col block: the gathered [rows, 27 Cin] matrix stays under IM2COL_BUDGET_BYTES. */
function im2colRowsPerBlock(cin: number, dtype: DType, rows: number): number {
  const rowBytes = SUBM_TAPS * cin * bytesPerElement(dtype);
  return Math.max(1, Math.min(rows, Math.floor(IM2COL_BUDGET_BYTES / rowBytes)));
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
  const out = new Int32Array(n * SUBM_TAPS).fill(-1);
  if (n === 0) return out;
  // Dense Int32 grid over the coordinates' bounding box when it is small enough (one array read per tap),
  // else a Map. The 1.3M voxels of the mesh decoder's 256^3 stage (box ~180^3): Map 1.9 s -> grid 0.73 s CPU on a
  // loaded 2-core box (most of it now writing the 140 MB table), same table.
  const lo = [Infinity, Infinity, Infinity, Infinity];
  const hi = [-1, -1, -1, -1];
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < 4; a++) {
      const c = coords[4 * i + a];
      if (c < lo[a]) lo[a] = c;
      if (c > hi[a]) hi[a] = c;
    }
  }
  const ext = hi.map((h, a) => h - lo[a] + 1);
  if (ext[0] * ext[1] * ext[2] * ext[3] <= SUBM_DENSE_GRID_LIMIT) {
    const [eb, ex, ey, ez] = ext;
    const grid = new Int32Array(eb * ex * ey * ez).fill(-1);
    const cell = (i: number): number =>
      (((coords[4 * i] - lo[0]) * ex + coords[4 * i + 1] - lo[1]) * ey + coords[4 * i + 2] - lo[2]) * ez +
      coords[4 * i + 3] -
      lo[3];
    for (let i = 0; i < n; i++) grid[cell(i)] = i;
    for (let i = 0; i < n; i++) {
      const x = coords[4 * i + 1] - lo[1];
      const y = coords[4 * i + 2] - lo[2];
      const z = coords[4 * i + 3] - lo[3];
      const base = cell(i);
      for (let a = 0; a < 3; a++) {
        const xx = x + a - 1;
        if (xx < 0 || xx >= ex) continue;
        for (let bb = 0; bb < 3; bb++) {
          const yy = y + bb - 1;
          if (yy < 0 || yy >= ey) continue;
          for (let c = 0; c < 3; c++) {
            const zz = z + c - 1;
            if (zz < 0 || zz >= ez) continue;
            out[i * SUBM_TAPS + (a * 3 + bb) * 3 + c] = grid[base + ((a - 1) * ey + (bb - 1)) * ez + (c - 1)];
          }
        }
      }
    }
    return out;
  }
  const rows = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    rows.set(coordKey(coords[4 * i], coords[4 * i + 1], coords[4 * i + 2], coords[4 * i + 3]), i);
  }
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
    const fused =
      o.variant === 'fused' ||
      (o.variant === 'auto' && submAutoFused(gpu, x.feats.dtype, w.cin, w.cout, x.n));
    if (fused) {
      const table = x.cached('subm3.table', () => submNeighbours(x.coords));
      const idx = x.cached('subm3.rows', () => RowIndex.from(table));
      return x.withFeats(sparseConvFused(x.feats, idx.gpuBuffer(gpu), w.matrix, bias));
    }
  }
  const rowsPerBlock = im2colRowsPerBlock(w.cin, x.feats.dtype, x.n);
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
