import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maxAbs, maxAbsDiff, randomArray } from '../../test/helpers/compare.ts';
import { FORCED_SMALL_BINDING, requireGpu } from '../../test/helpers/gpu.ts';
import { conv3d } from '../ops/conv/conv3d.ts';
import type { GpuContext } from '../runtime/gpu.ts';
import { Tensor } from '../runtime/tensor.ts';
import { loadFixture } from '../testing/fixtures.ts';
import { sparseSelfAttention } from './attention.ts';
import { prepareSparseConvWeight, submConv3d, submNeighbours } from './conv.ts';
import { sparseDownsample, sparseSubdivide, sparseUpsample } from './resample.ts';
import { SparseTensor } from './sparse-tensor.ts';
import { windowPartition } from './window.ts';

const FX = 'test/fixtures/sparse_ops';
// f32 ops that only reorder sums of O(1) terms (<= 27*13 products here): a few ulps of the output scale.
// 1e-5 relative leaves two orders of magnitude of headroom and still catches any wrong tap or layout.
const REL = 1e-5;

function rel(got: ArrayLike<number>, want: ArrayLike<number>): number {
  return maxAbsDiff(got, want) / Math.max(maxAbs(want), 1e-30);
}

function intCoords(a: Float32Array): Int32Array {
  return Int32Array.from(a);
}

async function fixtureParity(gpu: GpuContext | null): Promise<void> {
  const fx = await loadFixture(FX);
  const coords = intCoords(fx.outputs.get('coords')!.data);
  const feats = fx.inputs.get('feats')!;
  const x = SparseTensor.create(Tensor.fromArray(feats.data, feats.shape, { gpu }), coords);
  const w = (k: string) => {
    const t = fx.weights.get(k)!;
    return Tensor.fromArray(t.data, t.shape, { gpu });
  };
  const check = async (name: string, t: Tensor, tol = REL) => {
    const want = fx.outputs.get(name)!;
    assert.deepEqual([...t.shape], want.shape.length === 3 ? want.shape : want.shape, name);
    const e = rel(await t.toArray(), want.data);
    console.log(`sparse_ops ${gpu ? 'gpu' : 'cpu'} ${name}: rel ${e.toExponential(2)}`);
    assert.ok(e < tol, `${name}: relative error ${e}`);
  };
  for (const k of [3, 1]) {
    const cw = prepareSparseConvWeight(w(`conv${k}.conv.weight`));
    const y = submConv3d(x, cw, w(`conv${k}.conv.bias`));
    await check(`conv${k}`, y.feats);
  }
  const down = sparseDownsample(x);
  assert.deepEqual([...down.coords], [...intCoords(fx.outputs.get('down_coords')!.data)]);
  await check('down_feats', down.feats);
  await check('up_feats', sparseUpsample(down, x).feats);
  // Downsampling the same coords again reuses the cached map and the parents' cache.
  assert.equal(sparseDownsample(x).cache, down.cache);
  const sub = sparseSubdivide(x);
  assert.deepEqual([...sub.coords], [...intCoords(fx.outputs.get('subdivide_coords')!.data)]);
  await check('subdivide_feats', sub.feats);
  const qkv = fx.inputs.get('qkv')!;
  const n = x.n;
  const [H, D] = [qkv.shape[2], qkv.shape[3]];
  const part = (j: number) => {
    const out = new Float32Array(n * H * D);
    for (let r = 0; r < n; r++)
      out.set(qkv.data.subarray((r * 3 + j) * H * D, (r * 3 + j + 1) * H * D), r * H * D);
    return Tensor.fromArray(out, [n, H, D], { gpu });
  };
  const [q, k, v] = [0, 1, 2].map(part);
  await check('attn_full', sparseSelfAttention(q, k, v, x, { kind: 'full' }));
  const cfg = fx.manifest.config as { window: number; shift: number };
  const p = windowPartition(x, cfg.window, cfg.shift);
  const lens = p.starts.slice(1).map((s, i) => s - p.starts[i]);
  assert.deepEqual(lens, [...fx.outputs.get('window_seq_lens')!.data]);
  await check(
    'attn_swin',
    sparseSelfAttention(q, k, v, x, { kind: 'swin', window: cfg.window, shift: cfg.shift }),
  );
  x.disposeCache();
}

test('sparse ops match the official modules on the CPU', async () => {
  await fixtureParity(null);
});

test('sparse ops match the official modules on the GPU', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  await fixtureParity(gpu);
});

/** A random voxel set in [0, size)^3 with every boundary face touched, several batch items, lexicographic. */
function randomCoords(seed: number, size: number, fill: number, batches: number): Int32Array {
  const u = randomArray(batches * size ** 3, seed);
  const out: number[] = [];
  for (let b = 0; b < batches; b++)
    for (let x = 0; x < size; x++)
      for (let y = 0; y < size; y++)
        for (let z = 0; z < size; z++) {
          const edge =
            (x === 0 && y === 0 && z === 0) || (x === size - 1 && y === size - 1 && z === size - 1);
          if (edge || Math.abs(u[((b * size + x) * size + y) * size + z]) < fill) out.push(b, x, y, z);
        }
  return Int32Array.from(out);
}

/** Plain reference: direct sum over the stencil with a coordinate lookup (independent of the neighbour table). */
function referenceConv(
  coords: Int32Array,
  f: Float32Array,
  cin: number,
  w: Float32Array,
  cout: number,
): Float64Array {
  const n = coords.length / 4;
  const rows = new Map<string, number>();
  for (let i = 0; i < n; i++) rows.set(coords.subarray(4 * i, 4 * i + 4).join(','), i);
  const out = new Float64Array(n * cout);
  for (let i = 0; i < n; i++)
    for (let a = 0; a < 3; a++)
      for (let b = 0; b < 3; b++)
        for (let c = 0; c < 3; c++) {
          const key = [
            coords[4 * i],
            coords[4 * i + 1] + a - 1,
            coords[4 * i + 2] + b - 1,
            coords[4 * i + 3] + c - 1,
          ].join(',');
          const j = rows.get(key);
          if (j === undefined) continue;
          for (let o = 0; o < cout; o++) {
            let s = 0;
            for (let ci = 0; ci < cin; ci++)
              s += w[(((o * 3 + a) * 3 + b) * 3 + c) * cin + ci] * f[j * cin + ci];
            out[i * cout + o] += s;
          }
        }
  return out;
}

test('submConv3d CPU twin equals a direct stencil sum (random sets, single voxel, boundaries)', () => {
  for (const [seed, size, fill, batches, cin, cout] of [
    [1, 6, 0.5, 2, 13, 17],
    [2, 1, 0, 1, 3, 1],
    [3, 9, 0.15, 3, 1, 5],
  ]) {
    const coords = randomCoords(seed, size, fill, batches);
    const n = coords.length / 4;
    const f = randomArray(n * cin, seed + 10);
    const w = randomArray(cout * 27 * cin, seed + 20);
    const x = SparseTensor.create(Tensor.fromArray(f, [n, cin]), coords);
    const y = submConv3d(x, prepareSparseConvWeight(Tensor.fromArray(w, [cout, 3, 3, 3, cin])), null);
    const want = referenceConv(coords, f, cin, w, cout);
    // f32 dot products of <= 27*13 terms of magnitude <= 1: error ~ sqrt(K) ulp, far below 1e-5.
    assert.ok(rel(y.feats.data, want) < REL, `n=${n} cin=${cin}: ${rel(y.feats.data, want)}`);
  }
});

test('submConv3d on a fully occupied grid equals dense conv3d with the weight re-laid out', () => {
  const [X, Y, Z, cin, cout] = [4, 3, 5, 6, 7];
  const coords: number[] = [];
  for (let x = 0; x < X; x++) for (let y = 0; y < Y; y++) for (let z = 0; z < Z; z++) coords.push(0, x, y, z);
  const f = randomArray(X * Y * Z * cin, 5);
  const w = randomArray(cout * 27 * cin, 6);
  const bias = randomArray(cout, 7);
  const xs = SparseTensor.create(Tensor.fromArray(f, [X * Y * Z, cin]), Int32Array.from(coords));
  const sp = submConv3d(
    xs,
    prepareSparseConvWeight(Tensor.fromArray(w, [cout, 3, 3, 3, cin])),
    Tensor.fromArray(bias, [cout]),
  );
  // PyTorch layout [Cout, Cin, k, k, k] from KRSC [Cout, k, k, k, Cin].
  const wt = new Float32Array(w.length);
  for (let o = 0; o < cout; o++)
    for (let t = 0; t < 27; t++)
      for (let ci = 0; ci < cin; ci++) wt[(o * cin + ci) * 27 + t] = w[(o * 27 + t) * cin + ci];
  const dense = conv3d(
    Tensor.fromArray(f, [1, X, Y, Z, cin]),
    Tensor.fromArray(wt, [cout, cin, 3, 3, 3]),
    Tensor.fromArray(bias, [cout]),
  );
  assert.ok(rel(sp.feats.data, dense.data) < REL, `dense vs sparse: ${rel(sp.feats.data, dense.data)}`);
});

test('kernel-size-1 conv reinterprets the stored weight as [Cin, Cout] (spconv)', () => {
  const coords = Int32Array.from([0, 0, 0, 0, 0, 1, 2, 3]);
  const f = Float32Array.from([1, 2, 3, 4, 5, 6]); // [2, 3]
  const w = Float32Array.from([1, 0, 0, 0, 1, 0]); // stored [2, 1, 1, 1, 3], viewed [3, 2]: rows (1,0), (0,0), (1,0)
  const x = SparseTensor.create(Tensor.fromArray(f, [2, 3]), coords);
  const y = submConv3d(x, prepareSparseConvWeight(Tensor.fromArray(w, [2, 1, 1, 1, 3])), null);
  assert.deepEqual([...y.feats.data], [1 + 3, 0, 4 + 6, 0]);
});

test('neighbour table: centre tap, boundaries, batch separation', () => {
  const t = submNeighbours(Int32Array.from([0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0]));
  assert.equal(t[13], 0);
  assert.equal(t[14], 1); // (0,0,+1)
  assert.equal(t[27 + 12], 0); // row 1's (0,0,-1) is row 0
  assert.deepEqual(
    [...t.subarray(54, 81)].filter((r) => r >= 0),
    [2],
  ); // batch 1 sees only itself
});

test('downsample divides by count + 1 (official include_self mean) and sorts parents', () => {
  const coords = Int32Array.from([0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 2, 0, 1]);
  const x = SparseTensor.create(Tensor.fromArray([2, 4, 6, 8], [4, 1]), coords);
  const d = sparseDownsample(x);
  assert.deepEqual([...d.coords], [0, 0, 0, 0, 0, 1, 0, 0]);
  assert.deepEqual([...d.feats.data], [(4 + 6) / 3, (2 + 8) / 3].map(Math.fround));
  assert.deepEqual([...sparseUpsample(d, x).feats.data], [10 / 3, 10 / 3, 10 / 3, 10 / 3].map(Math.fround));
});

async function gpuVsCpu(gpu: GpuContext): Promise<void> {
  for (const [seed, size, fill, batches, cin, cout] of [
    [11, 7, 0.45, 2, 13, 19],
    [12, 1, 0, 1, 4, 3],
    [13, 14, 0.2, 1, 33, 9], // im2col 27*33*4 B * ~550 rows > 1 MiB: split gathers
  ]) {
    const coords = randomCoords(seed, size, fill, batches);
    const n = coords.length / 4;
    const f = randomArray(n * cin, seed + 1);
    const w = randomArray(cout * 27 * cin, seed + 2);
    const b = randomArray(cout, seed + 3);
    const run = (g: GpuContext | null) => {
      const x = SparseTensor.create(Tensor.fromArray(f, [n, cin], { gpu: g }), coords);
      const y = submConv3d(
        x,
        prepareSparseConvWeight(Tensor.fromArray(w, [cout, 3, 3, 3, cin], { gpu: g })),
        Tensor.fromArray(b, [cout], { gpu: g }),
      );
      const d = sparseDownsample(y);
      const u = sparseUpsample(d, y);
      const s = sparseSubdivide(d);
      return { y: y.feats, d: d.feats, u: u.feats, s: s.feats };
    };
    const c = run(null);
    const g = run(gpu);
    for (const k of ['y', 'd', 'u', 's'] as const) {
      const e = rel(await g[k].toArray(), c[k].data);
      // Same f32 arithmetic, GEMM tile order vs sequential: a few ulps.
      assert.ok(e < REL, `n=${n} ${k}: ${e}`);
    }
  }
}

test('sparse ops: GPU matches the CPU twin (awkward sizes, single voxel, boundaries)', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  await gpuVsCpu(gpu);
});

test('sparse ops: GPU matches the CPU twin with a 1 MiB binding limit', async (t) => {
  const gpu = await requireGpu(t, { maxBinding: FORCED_SMALL_BINDING });
  if (!gpu) return;
  await gpuVsCpu(gpu);
});
