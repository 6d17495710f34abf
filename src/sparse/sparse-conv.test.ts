import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maxAbs, maxAbsDiff } from '../../test/helpers/compare.ts';
import { FORCED_SMALL_BINDING, requireGpu } from '../../test/helpers/gpu.ts';
import { sparseConvFused, sparseConvFusedFits } from '../ops/conv/sparse_conv.ts';
import type { DType } from '../runtime/dtype.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { Tensor } from '../runtime/tensor.ts';
import {
  prepareSparseConvWeight,
  type SubmConvVariant,
  submAutoFused,
  submConv3d,
  submNeighbours,
} from './conv.ts';
import { SparseTensor } from './sparse-tensor.ts';

// The fused kernel and its twin (the CPU im2col path: one 27 Cin-long dot product per output, f64 accumulation in
// the CPU GEMM) differ only in f32 summation order over <= 27 * 70 products of O(1) terms: a few ulps of the
// output scale; 1e-5 relative has two orders of headroom and still catches a wrong tap, row or channel.
const REL_F32 = 1e-5;
// f16 storage: inputs and weights are rounded identically on both sides (CPU f16 tensors hold half-rounded
// values), both accumulate in >= f32 and round the output once, so outputs differ by at most one half ulp
// (2^-11 relative) where the f32 sums straddle a rounding boundary: 1e-3 of the output scale bounds that.
const REL_F16 = 1e-3;

/** Deterministic pseudo-random values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

/** A blob of voxels in a few batch items, with isolated voxels and grid-edge voxels (awkward neighbourhoods). */
function coordsFor(batches: number, radius: number, seed: number): Int32Array {
  const out: number[] = [];
  const r = values(4096, seed);
  for (let b = 0; b < batches; b++) {
    let k = 0;
    for (let x = 0; x < 2 * radius + 2; x++)
      for (let y = 0; y < 2 * radius + 2; y++)
        for (let z = 0; z < 2 * radius + 2; z++) {
          const d = Math.hypot(x - radius, y - radius * 0.8, z - radius * 1.1);
          const keep = d <= radius || r[k++ % r.length] > 0.97;
          if (keep) out.push(b, x, y, z);
        }
  }
  return Int32Array.from(out);
}

interface Case {
  coords: Int32Array;
  cin: number;
  cout: number;
  bias: boolean;
}

async function compare(
  gpu: GpuContext,
  c: Case,
  dtype: DType,
  variant: SubmConvVariant,
  tol: number,
): Promise<number> {
  const n = c.coords.length / 4;
  const xv = values(n * c.cin, 11 + c.cin);
  const wv = values(c.cout * 27 * c.cin, 7 + c.cout).map((v) => v / Math.sqrt(27 * c.cin));
  const bv = values(c.cout, 5);
  const run = async (g: GpuContext | null): Promise<Float32Array> => {
    const x = SparseTensor.create(Tensor.fromArray(xv, [n, c.cin], { gpu: g, dtype }), c.coords);
    const w = prepareSparseConvWeight(Tensor.fromArray(wv, [c.cout, 3, 3, 3, c.cin], { gpu: g, dtype }));
    const b = c.bias ? Tensor.fromArray(bv, [c.cout], { gpu: g, dtype }) : null;
    const y = submConv3d(x, w, b, { variant });
    assert.equal(y.feats.dtype, dtype);
    assert.deepEqual([...y.feats.shape], [n, c.cout]);
    const out = await y.feats.toArray();
    y.feats.dispose();
    x.feats.dispose();
    x.disposeCache();
    w.matrix.dispose();
    b?.dispose();
    return out;
  };
  const want = await run(null);
  const got = await run(gpu);
  const e = maxAbsDiff(got, want) / maxAbs(want);
  assert.ok(e < tol, `${variant} ${dtype} cin ${c.cin} cout ${c.cout} N ${n}: relative error ${e}`);
  return e;
}

// Awkward sizes: Cin not a multiple of the 16-deep k tile, Cout below / between / above the three tile widths,
// rows not a multiple of any tile, several batch items (neighbours must not cross items).
const CASES: Case[] = [
  { coords: coordsFor(2, 3.2, 1), cin: 5, cout: 7, bias: true },
  { coords: coordsFor(1, 4.1, 2), cin: 24, cout: 33, bias: false },
  { coords: coordsFor(3, 2.5, 3), cin: 16, cout: 70, bias: true },
];

test('fused sparse conv matches the CPU twin (f32 on three tile widths, f16)', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  for (const c of CASES) {
    const e = await compare(gpu, c, 'f32', 'fused', REL_F32);
    console.log(`fused f32 cin ${c.cin} cout ${c.cout}: rel ${e.toExponential(2)}`);
  }
  // f16 on the wide tile only: each (tile, dtype set) is its own pipeline and lavapipe compiles take seconds.
  if (gpu.features.f16) await compare(gpu, CASES[2], 'f16', 'fused', REL_F16);
});

test('im2col rung still matches the CPU twin (kept for comparison)', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  await compare(gpu, CASES[1], 'f32', 'im2col', REL_F32);
});

test('fused sparse conv with 1 MiB bindings: row and output-channel windows', async (t) => {
  const gpu = await requireGpu(t, { maxBinding: FORCED_SMALL_BINDING });
  if (!gpu) return;
  // 2.6k rows x 24 ch f32 (0.25 MiB) fits one binding; the output (2.6k x 130 x 4 = 1.35 MiB) needs two row
  // windows and the weight (130 x 648 x 4 = 0.33 MiB) one; with Cin 200 the weight (96 x 5400 x 4 = 2 MiB)
  // needs channel windows too.
  const coords = coordsFor(1, 8.3, 4);
  const n = coords.length / 4;
  assert.ok(n * 130 * 4 > FORCED_SMALL_BINDING, `want > 1 row window, have ${n} rows`);
  await compare(gpu, { coords, cin: 24, cout: 130, bias: true }, 'f32', 'fused', REL_F32);
  const small = coordsFor(1, 3.2, 5);
  await compare(gpu, { coords: small, cin: 200, cout: 96, bias: true }, 'f32', 'fused', REL_F32);
});

test('features larger than one binding fall back to im2col, same result', async (t) => {
  const gpu = await requireGpu(t, { maxBinding: FORCED_SMALL_BINDING });
  if (!gpu) return;
  const coords = coordsFor(1, 8.3, 6);
  const n = coords.length / 4;
  const x = Tensor.fromArray(values(n * 120, 1), [n, 120], { gpu });
  assert.equal(sparseConvFusedFits(x), false, `${n} x 120 f32 should exceed 1 MiB`);
  assert.throws(
    () =>
      sparseConvFused(x, gpu.device.createBuffer({ size: n * 108, usage: GPUBufferUsage.STORAGE }), x, null),
    /weight \[\d+, 120\] is not \[Cout, 3240\]/,
  );
  x.dispose();
  await compare(gpu, { coords, cin: 120, cout: 8, bias: false }, 'f32', 'fused', REL_F32);
});

test('fused sparse conv rejects bad shapes with the shapes in the message', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  const coords = coordsFor(1, 2, 7);
  const n = coords.length / 4;
  const x = Tensor.fromArray(values(n * 4, 2), [n, 4], { gpu });
  const table = gpu.device.createBuffer({ size: n * 27 * 4, usage: GPUBufferUsage.STORAGE });
  const w = Tensor.fromArray(values(6 * 27 * 4, 3), [6, 108], { gpu });
  assert.throws(
    () => sparseConvFused(x, table, w, Tensor.fromArray([1, 2], [2], { gpu })),
    /bias \[2\] must be \[6\]/,
  );
  const short = gpu.device.createBuffer({ size: 64, usage: GPUBufferUsage.STORAGE });
  assert.throws(() => sparseConvFused(x, short, w, null), /smaller than \d+ x 27 i32/);
  assert.throws(() => sparseConvFused(x.reshape([n * 4]), table, w, null), /must be \[N, Cin\]/);
  // The table really is the neighbour table: the centre tap of every row is the row itself.
  const nb = submNeighbours(coords);
  for (let i = 0; i < n; i++) assert.equal(nb[i * 27 + 13], i);
  table.destroy();
  short.destroy();
  x.dispose();
  w.dispose();
});

test('auto rung on GPUs: the faster one at the three H100-measured shapes, always fused on lavapipe', () => {
  const adapter = (device: string) =>
    ({ adapterInfo: { device, description: '', architecture: '' } }) as unknown as GpuContext;
  const h100 = adapter('nvidia-h100-80gb-hbm3');
  // tools/device/bench-slat.sh 2026-11-27, f16 GPU timestamps, fused vs im2col (see submAutoFused).
  assert.equal(submAutoFused(h100, 'f16', 128, 128, 20256), false, 'io: 1.32 vs 0.65 ms');
  assert.equal(submAutoFused(h100, 'f16', 2048, 128, 20256), true, 'out0.conv1: 22.2 vs 45.5 ms');
  assert.equal(submAutoFused(h100, 'f16', 1024, 1024, 3496), false, 'down.conv2: 16.4 vs 2.95 ms');
  assert.equal(submAutoFused(adapter('llvmpipe (LLVM 15.0.6, 256 bits)'), 'f16', 128, 128, 20256), true);
});

test('neighbour table equals a brute-force stencil search on the dense-grid and the Map paths', () => {
  let seed = 7;
  const rnd = (m: number): number => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed % m;
  };
  // A clustered set (small box: dense grid) and the same set plus far-away voxels (box > 2^25 cells: Map).
  const near: number[] = [];
  for (let i = 0; i < 150; i++) near.push(rnd(2), 3 + rnd(5), 3 + rnd(5), 3 + rnd(5));
  const far = [...near, 1, 1023, 1023, 1023, 1, 1022, 1023, 1023, 0, 0, 0, 0];
  for (const list of [near, far]) {
    const coords = new Int32Array(list);
    const n = coords.length / 4;
    const got = submNeighbours(coords);
    for (let i = 0; i < n; i++) {
      for (let t = 0; t < 27; t++) {
        const d = [Math.floor(t / 9) - 1, (Math.floor(t / 3) % 3) - 1, (t % 3) - 1];
        let want = -1; // last matching row, as a set-by-row map keeps for duplicate coordinates
        for (let j = 0; j < n; j++) {
          if (
            coords[4 * j] === coords[4 * i] &&
            coords[4 * j + 1] === coords[4 * i + 1] + d[0] &&
            coords[4 * j + 2] === coords[4 * i + 2] + d[1] &&
            coords[4 * j + 3] === coords[4 * i + 3] + d[2]
          )
            want = j;
        }
        assert.equal(got[i * 27 + t], want, `row ${i} tap ${t} (${n} voxels)`);
      }
    }
  }
});
