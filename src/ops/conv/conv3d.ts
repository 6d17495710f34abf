/**
 * Dense 3-D convolution on channel-last volumes: `conv3d(x [B, D, H, W, Cin], weight, bias?) -> [B, D', H', W',
 * Cout]`, stride 1, zero padding, PyTorch `Conv3d` semantics (cross-correlation; kernel axis a runs along spatial
 * axis a). Cubic kernels of any odd or even size k with padding 0..k-1; the SS-VAE decoder uses k = 3, padding 1
 * ('same', the default for odd k) and k = 1.
 *
 * Weights: PyTorch stores [Cout, Cin, k, k, k]. `prepareConv3dWeight` rearranges once, at load, to
 * [Cout, k, k, k, Cin] flattened to [Cout, k^3 * Cin] (the "KRSC" order): one output channel's weights are one
 * contiguous row whose index k = tap * Cin + ci matches the implicit-GEMM K order, so the kernel reads B tiles
 * along contiguous K, and a split over Cout binds a contiguous range of rows. `conv3d` also accepts the raw
 * PyTorch tensor (prepared on the fly, once per call).
 *
 * Numerics: f32 or f16 storage for x, weight, bias and output independently; f32 accumulation; bias added in f32;
 * the output rounded once.
 *
 * Binding limit: the volume is processed in slabs (whole volumes grouped by batch, else depth slabs of one batch
 * item whose input window carries the (k-1)-plane halo), and the weight in Cout chunks of whole rows; every
 * (slab, Cout chunk) pair is one dispatch.
 *
 * Kernel notes (tiled implicit GEMM, conv3d.wgsl): tiles are TM voxels x TN channels x TK k-values, staged in
 * workgroup memory, RM x RN outputs per invocation, 256 invocations. Three tile shapes, picked by the Cout of a
 * dispatch so narrow layers do not compute padding channels: wide 64x64 (RM=RN=4), mid 128x32 (4x4), narrow
 * 128x16 (4x2). At most 4 output channels (the 32 -> 1 output conv) use a direct kernel instead
 * (conv3d.direct.wgsl: one voxel per invocation, no workgroup memory): 32 -> 1 at 64^3 f16 went from 17 s with a
 * 256x4 tile to 4 s on lavapipe.
 * Measured on lavapipe (2 shared cores, load ~14, so absolute numbers are noisy), 32 -> 32 channels at 32^3 f32,
 * 1.8 GFLOP: wide tile 7.5-8.6 s; mid tile 4.1-4.4 s (kept); mid with TK=32 3.5-4.3 s and 128x32 with RM=8
 * 3.3-3.7 s (within noise, and the RM=8 pipeline took ~22 s to compile at first dispatch, so not kept). The
 * project's tiled matmul on the same GEMM shape (M=32768, N=32, K=864, im2col not counted) took 7.3 s there.
 * Accumulators are generated scalars and the inner K loop is bounded by a uniform: with a private array and a
 * constant bound Mesa unrolled everything and the wide pipeline took ~19-28 s to compile (vs ~4 s).
 *
 * @example
 * const w = prepareConv3dWeight(state['blocks.2.conv.weight']); // [1024, 512, 3, 3, 3]
 * const y = conv3d(h, w, state['blocks.2.conv.bias']);         // [B, 16, 16, 16, 1024]
 */

import { splitWorkgroups } from '../../runtime/chunk.ts';
import type { DType } from '../../runtime/dtype.ts';
import { ShapeError, shapeStr } from '../../runtime/shape.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { enablesFor, specialize, templateKey } from '../../runtime/wgsl.ts';
import { permute } from '../layout/permute.ts';
import { packParams, planSlabs, windowBinding, windowBudget } from '../layout/window.ts';
import { WGSL } from '../wgsl.generated.ts';
import { conv3dCpu, convOutSize } from './conv3d.cpu.ts';
import { microKernel, TILE_MID, TILE_NARROW, TILE_WIDE, type TileConfig } from './gemm-tile.ts';

/** A conv weight in the kernel's layout: [Cout, k^3 * Cin] with inner order (kd, kh, kw, ci). */
export class Conv3dWeight {
  constructor(
    readonly weight: Tensor,
    readonly cout: number,
    readonly cin: number,
    readonly kernel: number,
  ) {
    const want = [cout, kernel * kernel * kernel * cin];
    if (weight.rank !== 2 || weight.shape[0] !== want[0] || weight.shape[1] !== want[1]) {
      throw new ShapeError('Conv3dWeight', `weight ${shapeStr(weight.shape)} is not ${shapeStr(want)}`);
    }
  }

  dispose(): void {
    this.weight.dispose();
  }
}

export interface PrepareConv3dWeightOptions {
  /** Storage dtype of the prepared weight; defaults to the source's. */
  dtype?: DType;
}

/**
 * Rearranges a PyTorch Conv3d weight [Cout, Cin, k, k, k] into the kernel layout (on the weight's device).
 * @example
 * const w = prepareConv3dWeight(Tensor.fromArray(raw, [512, 8, 3, 3, 3]), { dtype: 'f16' });
 */
export function prepareConv3dWeight(w: Tensor, options: PrepareConv3dWeightOptions = {}): Conv3dWeight {
  const s = w.shape;
  if (w.rank !== 5 || s[2] !== s[3] || s[3] !== s[4] || s[2] < 1) {
    throw new ShapeError('prepareConv3dWeight', `expected [Cout, Cin, k, k, k], got ${shapeStr(s)}`);
  }
  const [cout, cin, k] = s;
  const taps = k * k * k;
  const moved = permute(w.reshape([cout, cin, taps]), [0, 2, 1], { dtype: options.dtype ?? w.dtype });
  return new Conv3dWeight(moved.reshape([cout, taps * cin]), cout, cin, k);
}

export interface Conv3dOptions {
  /** Zero padding on every side; defaults to (k - 1) / 2 for odd k (shape-preserving). */
  padding?: number;
  /** Output dtype; defaults to the input's. */
  dtype?: DType;
}

/** Not a tile: the direct kernel (conv3d.direct.wgsl), 64 voxels per workgroup, up to 4 channels each. */
const DIRECT: TileConfig = { tm: 64, tn: 4, tk: 1, rm: 1, rn: 4 };

function tileFor(n: number): TileConfig {
  if (n <= DIRECT.tn) return DIRECT;
  if (n <= TILE_NARROW.tn) return TILE_NARROW;
  if (n <= TILE_MID.tn) return TILE_MID;
  return TILE_WIDE;
}

/** Generated accumulator code for the direct kernel: acc_c for each of `nc` output channels. */
function directKernel(nc: number): { ACC_DECL: string; MICRO: string; STORE: string } {
  const c = [...Array(nc).keys()];
  return {
    ACC_DECL: c.map((i) => `  var acc_${i} = 0.0;`).join('\n'),
    MICRO: c.map((i) => `          acc_${i} = acc_${i} + xv * f32(wt[wb + ${i}u * p.k + ci]);`).join('\n'),
    STORE: c.map((i) => `  store(m, ${i}u, acc_${i});`).join('\n'),
  };
}

/**
 * 3-D convolution of a channel-last volume.
 * @example
 * const y = conv3d(x, prepareConv3dWeight(w), b); // x [1, 16, 16, 16, 8], w [512, 8, 3, 3, 3] -> [1, 16, 16, 16, 512]
 */
export function conv3d(
  x: Tensor,
  weight: Conv3dWeight | Tensor,
  bias: Tensor | null = null,
  options: Conv3dOptions = {},
): Tensor {
  const op = 'conv3d';
  const prepared = weight instanceof Conv3dWeight ? weight : prepareConv3dWeight(weight);
  const { cout, cin, kernel: ks } = prepared;
  const wShape =
    weight instanceof Conv3dWeight
      ? `prepared [${cout}, ${cin}, ${ks}, ${ks}, ${ks}]`
      : shapeStr(weight.shape);
  if (x.rank !== 5 || x.shape[4] !== cin) {
    throw new ShapeError(op, `input ${shapeStr(x.shape)} is not [B, D, H, W, ${cin}] for weight ${wShape}`);
  }
  const pad = options.padding ?? (ks - 1) / 2;
  if (!Number.isInteger(pad) || pad < 0 || pad >= ks) {
    throw new ShapeError(
      op,
      `padding ${pad} is invalid for kernel ${ks} (weight ${wShape}); pass 0..${ks - 1}`,
    );
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== cout)) {
    throw new ShapeError(op, `bias ${shapeStr(bias.shape)} does not match weight ${wShape}`);
  }
  const [batch, depth, height, width] = x.shape;
  const od = convOutSize(depth, ks, pad);
  const oh = convOutSize(height, ks, pad);
  const ow = convOutSize(width, ks, pad);
  if (od < 1 || oh < 1 || ow < 1) {
    throw new ShapeError(op, `input ${shapeStr(x.shape)} is smaller than kernel ${ks} with padding ${pad}`);
  }
  for (const t of [prepared.weight, bias]) {
    if (t && t.gpu !== x.gpu) {
      throw new ShapeError(op, `input ${shapeStr(x.shape)}, weight and bias must be on one device`);
    }
  }
  const dtype = options.dtype ?? x.dtype;
  const outShape = [batch, od, oh, ow, cout];
  const g = { batch, depth, height, width, cin, cout, kernel: ks, padding: pad };
  let out: Tensor;
  if (!x.gpu) {
    out = Tensor.fromArray(conv3dCpu(x.data, prepared.weight.data, bias?.data ?? null, g, dtype), outShape, {
      dtype,
    });
  } else {
    out = conv3dGpu(x, prepared, bias, pad, outShape, dtype);
  }
  if (prepared !== weight) prepared.dispose();
  return out;
}

const bpe = (d: DType): number => (d === 'f16' ? 2 : 4);

function conv3dGpu(
  x: Tensor,
  w: Conv3dWeight,
  bias: Tensor | null,
  pad: number,
  outShape: number[],
  dtype: DType,
): Tensor {
  const op = 'conv3d';
  const gpu = x.gpu!;
  const wt = w.weight;
  if ([x.dtype, wt.dtype, bias?.dtype, dtype].includes('f16') && !gpu.features.f16) {
    throw new Error(`${op}: f16 tensors need the shader-f16 feature, which this adapter lacks`);
  }
  const [batch, depth, height, width, cin] = x.shape;
  const [, od, oh, ow, cout] = outShape;
  const ks = w.kernel;
  const kdim = ks * ks * ks * cin;
  const out = Tensor.empty(outShape, { dtype, gpu });
  if (out.size === 0) return out;
  const budget = windowBudget(gpu);
  if (bias && bias.byteLength > budget)
    throw new Error(`${op}: bias of ${cout} channels exceeds the binding limit`);

  // Cout chunks: whole weight rows; keep chunks a multiple of the wide tile when there are several.
  let nPer = Math.floor(budget / (kdim * bpe(wt.dtype)));
  if (nPer === 0) {
    throw new Error(`${op}: one output channel's weights (${kdim} values) exceed the storage binding limit`);
  }
  if (nPer < cout && nPer >= TILE_WIDE.tn) nPer -= nPer % TILE_WIDE.tn;
  nPer = Math.min(nPer, cout);

  const slabs = planSlabs({
    op,
    batch,
    outDepth: od,
    inDepth: depth,
    outPlaneBytes: oh * ow * cout * bpe(dtype),
    inPlaneBytes: height * width * cin * bpe(x.dtype),
    inRange: (z0, z1) => [Math.max(0, z0 - pad), Math.min(depth, z1 - 1 - pad + ks)],
    budget,
    shapes: `input ${shapeStr(x.shape)} -> ${shapeStr(outShape)}`,
  });

  const types = { TX: x.dtype, TW: wt.dtype, TB: bias ? bias.dtype : 'f32', TO: dtype };
  const enables = enablesFor(x.dtype, wt.dtype, dtype, bias?.dtype ?? 'f32');
  const pipelines = new Map<TileConfig, GPUComputePipeline>();
  const pipelineFor = (t: TileConfig, n: number): GPUComputePipeline => {
    if (t === DIRECT) {
      // One variant per channel count (1..4) so no accumulator reads weight rows outside the bound window.
      const vars = { ...types, NC: n, ...directKernel(n) };
      return gpu.pipeline(
        templateKey('conv3d.direct', vars),
        specialize(WGSL['ops/conv/conv3d.direct'], vars, enables),
      );
    }
    let pl = pipelines.get(t);
    if (!pl) {
      const wg = (t.tm / t.rm) * (t.tn / t.rn);
      const vars = {
        TX: x.dtype,
        TW: wt.dtype,
        TB: bias ? bias.dtype : 'f32',
        TO: dtype,
        TM: t.tm,
        TN: t.tn,
        TK: t.tk,
        RM: t.rm,
        RN: t.rn,
        WG: wg,
        A_ITERS: (t.tm * t.tk) / wg,
        A_SIZE: t.tm * t.tk,
        B_SIZE: t.tn * t.tk,
        ...microKernel(t),
      };
      const code = specialize(
        WGSL['ops/conv/conv3d'],
        vars,
        enablesFor(x.dtype, wt.dtype, dtype, bias?.dtype ?? 'f32'),
      );
      pl = gpu.pipeline(templateKey('conv3d', vars), code);
      pipelines.set(t, pl);
    }
    return pl;
  };

  const inPlane = height * width * cin;
  const outPlane = oh * ow * cout;
  for (const s of slabs) {
    const xw = windowBinding(x, (s.b0 * depth + s.zin0) * inPlane, s.nb * s.nzin * inPlane);
    const ow_ = windowBinding(out, (s.b0 * od + s.z0) * outPlane, s.nb * s.nz * outPlane);
    const m = s.nb * s.nz * oh * ow;
    for (let n0 = 0; n0 < cout; n0 += nPer) {
      const n = Math.min(nPer, cout - n0);
      const t = tileFor(n);
      const ww = windowBinding(wt, n0 * kdim, n * kdim);
      const bb = bias ? windowBinding(bias, 0, cout) : ww; // unread without a bias
      const [nx, ny] = splitWorkgroups(Math.ceil(m / t.tm), gpu.limits.maxComputeWorkgroupsPerDimension);
      // The direct kernel's workgroup covers 64 voxels (t.tm) and all n channels.
      const nz = t === DIRECT ? 1 : Math.ceil(n / t.tn);
      const params = packParams([
        m,
        s.nz,
        s.z0,
        s.zin0,
        s.nzin,
        depth,
        height,
        width,
        oh,
        ow,
        cin,
        cout,
        n,
        n0,
        kdim,
        ks,
        pad,
        nx,
        xw.shift,
        ww.shift,
        ow_.shift,
        t.tk,
        bias ? 1 : 0,
      ]);
      gpu.dispatch(
        pipelineFor(t, n),
        [xw.binding, ww.binding, bb.binding, ow_.binding, gpu.uniform(params)],
        [nx, ny, nz],
      );
    }
  }
  return out;
}
