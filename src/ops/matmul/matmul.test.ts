import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertClose, randomArray } from '../../../test/helpers/compare.ts';
import { FORCED_SMALL_BINDING, requireGpu } from '../../../test/helpers/gpu.ts';
import type { DType } from '../../runtime/dtype.ts';
import type { GpuContext } from '../../runtime/gpu.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { linear } from './linear.ts';
import {
  MATMUL_VARIANTS,
  type MatmulActivation,
  type MatmulVariant,
  matmul,
  matmulShader,
  matmulVariants,
  SGMAT_DEFAULT_TILE,
  SGMAT_TILES,
  sgmatVecShader,
} from './matmul.ts';
import { tiledRegShader } from './tiled_reg.ts';

interface Case {
  name: string;
  aShape: number[];
  bShape: number[];
  transA?: boolean;
  transB?: boolean;
  ta?: DType;
  tb?: DType;
  to?: DType;
  bias?: DType;
  activation?: MatmulActivation;
  alpha?: number;
}

const U32 = 2 ** -24;

/**
 * Checks the GPU result of one case against the CPU twin (f64 accumulation).
 * Tolerance per element: the standard bound for a length-K f32 dot product, |err| <= K * u * sum_k |a_k b_k|
 * (u = 2^-24), with K + 4 for alpha, bias and the activation's own roundings and a factor 1.25 for the largest
 * activation slope (GELU 1.13, SiLU 1.1); plus 2e-6 for WGSL's tanh/exp approximations (a few ulp of values
 * below ~10); plus one f16 ulp (2^-10 relative, and 2^-24 absolute for subnormals) when the output is f16, since
 * the twin rounds its f64 value and the GPU its f32 value, which can land on different sides of a rounding tie.
 */
async function check(
  gpu: GpuContext,
  c: Case,
  variant: MatmulVariant,
  seed: number,
  tiledRegBig = false,
): Promise<void> {
  const ta = c.ta ?? 'f32';
  const tb = c.tb ?? 'f32';
  const to = c.to ?? 'f32';
  const av = randomArray(
    c.aShape.reduce((x, y) => x * y, 1),
    seed,
  );
  const bv = randomArray(
    c.bShape.reduce((x, y) => x * y, 1),
    seed + 1,
  );
  const n = c.transB ? c.bShape[c.bShape.length - 2] : c.bShape[c.bShape.length - 1];
  const biasV = c.bias ? randomArray(n, seed + 2) : null;
  const opts = {
    transA: c.transA,
    transB: c.transB,
    alpha: c.alpha,
    activation: c.activation,
    dtype: to,
  };
  const cpuA = Tensor.fromArray(av, c.aShape, { dtype: ta });
  const cpuB = Tensor.fromArray(bv, c.bShape, { dtype: tb });
  const cpuBias = biasV && c.bias ? Tensor.fromArray(biasV, [n], { dtype: c.bias }) : null;
  const expected = matmul(cpuA, cpuB, { ...opts, bias: cpuBias });
  const absA = Tensor.fromArray(cpuA.data.map(Math.abs), c.aShape);
  const absB = Tensor.fromArray(cpuB.data.map(Math.abs), c.bShape);
  const absProd = matmul(absA, absB, { transA: c.transA, transB: c.transB }).data;
  const K = c.transA ? c.aShape[c.aShape.length - 2] : c.aShape[c.aShape.length - 1];
  const alpha = Math.abs(c.alpha ?? 1);
  const got = await matmul(gpu.tensor(av, c.aShape, ta), gpu.tensor(bv, c.bShape, tb), {
    ...opts,
    bias: biasV && c.bias ? gpu.tensor(biasV, [n], c.bias) : null,
    variant,
    tiledRegBig,
  }).toArray();
  assert.equal(got.length, expected.size, `${variant} ${c.name}: output length`);
  const e = expected.data;
  for (let i = 0; i < e.length; i++) {
    const nCol = i % n;
    const dot = alpha * absProd[i] + (cpuBias ? Math.abs(cpuBias.data[nCol]) : 0);
    let tol = 1.25 * (K + 4) * U32 * dot + 2e-6;
    if (to === 'f16') tol += 2 ** -10 * Math.abs(e[i]) + U32;
    const d = Math.abs(got[i] - e[i]);
    if (!(d <= tol)) {
      assert.fail(
        `${variant} ${c.name}: element ${i} got ${got[i]}, expected ${e[i]} (|diff| ${d} > tol ${tol})`,
      );
    }
  }
}

const CASES: Case[] = [
  { name: '1x1x1', aShape: [1, 1], bShape: [1, 1] },
  { name: '17x33x65', aShape: [17, 65], bShape: [65, 33] },
  { name: 'M=1 N=1000 K=7', aShape: [1, 7], bShape: [7, 1000] },
  { name: 'N=1 M=70', aShape: [70, 31], bShape: [31, 1] },
  { name: 'K=3000', aShape: [5, 3000], bShape: [3000, 9] },
  { name: 'K=0 with bias', aShape: [3, 0], bShape: [0, 4], bias: 'f32' },
  { name: 'batch-broadcast weight', aShape: [3, 2, 19, 40], bShape: [40, 23] },
  { name: 'batch-broadcast weight transB', aShape: [3, 19, 40], bShape: [23, 40], transB: true },
  { name: 'broadcast a over b batches', aShape: [19, 40], bShape: [4, 40, 23] },
  { name: 'mixed broadcast batch', aShape: [2, 1, 5, 8], bShape: [1, 3, 8, 6] },
  { name: 'batched nn', aShape: [2, 33, 29], bShape: [2, 29, 17] },
  { name: 'batched tn', aShape: [2, 29, 33], bShape: [2, 29, 17], transA: true },
  { name: 'batched nt', aShape: [2, 33, 29], bShape: [2, 17, 29], transB: true },
  { name: 'batched tt', aShape: [2, 29, 33], bShape: [2, 17, 29], transA: true, transB: true },
  { name: 'bias', aShape: [20, 50], bShape: [70, 50], transB: true, bias: 'f32', alpha: 0.5 },
  { name: 'gelu_tanh', aShape: [20, 50], bShape: [50, 70], bias: 'f32', activation: 'gelu_tanh' },
  { name: 'gelu_erf', aShape: [20, 50], bShape: [50, 70], bias: 'f32', activation: 'gelu_erf', alpha: 2 },
  { name: 'silu', aShape: [20, 50], bShape: [50, 70], bias: 'f32', activation: 'silu' },
  { name: 'f16 in, f32 out', aShape: [37, 70], bShape: [45, 70], transB: true, ta: 'f16', tb: 'f16' },
  { name: 'f32 x f16 weight', aShape: [2, 37, 70], bShape: [45, 70], transB: true, tb: 'f16', bias: 'f16' },
  {
    name: 'f16 everything, gelu',
    aShape: [37, 70],
    bShape: [70, 45],
    ta: 'f16',
    tb: 'f16',
    to: 'f16',
    bias: 'f16',
    activation: 'gelu_tanh',
  },
  { name: 'f32 in, f16 out', aShape: [130, 70], bShape: [70, 260], to: 'f16', activation: 'silu' },
  { name: 'f16 transA', aShape: [70, 37], bShape: [70, 45], transA: true, ta: 'f16', tb: 'f16' },
];

/**
 * tiled_reg bakes transposes, dtypes and the load width into each pipeline (LLVM spends seconds on each one on
 * lavapipe), so it runs a subset of CASES chosen to cover every transpose combination, the odd-size / empty / long-K
 * edges, broadcasting and f16 operands, plus REG_CASES: shapes whose strides and extents are multiples of 4, which
 * take its vec4-load kernels (all four transposes in f32, two in f16), with edge tiles (M, N not multiples of 64).
 */
const REG_SUBSET = new Set([
  '1x1x1',
  '17x33x65',
  'K=3000',
  'K=0 with bias',
  'mixed broadcast batch',
  'batched nn',
  'batched tn',
  'batched nt',
  'batched tt',
  'gelu_erf',
  'f32 x f16 weight',
  'f16 everything, gelu',
]);

const REG_CASES: Case[] = [
  { name: 'vec4 nn', aShape: [2, 68, 52], bShape: [2, 52, 44], bias: 'f32', activation: 'silu' },
  { name: 'vec4 tn', aShape: [2, 52, 68], bShape: [52, 44], transA: true },
  { name: 'vec4 nt', aShape: [68, 52], bShape: [44, 52], transB: true, alpha: 0.5 },
  { name: 'vec4 tt', aShape: [52, 68], bShape: [44, 52], transA: true, transB: true },
  {
    name: 'vec4 f16 nt',
    aShape: [2, 36, 72],
    bShape: [40, 72],
    transB: true,
    ta: 'f16',
    tb: 'f16',
    to: 'f16',
  },
  { name: 'vec4 f16 tn', aShape: [72, 36], bShape: [72, 40], transA: true, ta: 'f16', tb: 'f16' },
];

test('cpu matmul: a known 2x2 product, bias and alpha', () => {
  const a = Tensor.fromArray([1, 2, 3, 4], [2, 2]);
  const b = Tensor.fromArray([5, 6, 7, 8], [2, 2]);
  assert.deepEqual([...matmul(a, b).data], [19, 22, 43, 50]);
  const bias = Tensor.fromArray([1, -1], [2]);
  assert.deepEqual([...matmul(a, b, { alpha: 2, bias, transB: true }).data], [35, 45, 79, 105]);
});

test('cpu activations follow their PyTorch definitions', () => {
  const a = Tensor.fromArray([1, -2, 0.5], [3, 1]);
  const one = Tensor.fromArray([1], [1, 1]);
  const gt = matmul(a, one, { activation: 'gelu_tanh' }).data;
  const ge = matmul(a, one, { activation: 'gelu_erf' }).data;
  const si = matmul(a, one, { activation: 'silu' }).data;
  // torch.nn.functional.gelu(x, approximate='tanh') / gelu(x) / silu(x) at 1, -2, 0.5 (float32, 6 digits).
  assertClose(gt, [0.841192, -0.0454023, 0.345714], { atol: 2e-6 });
  assertClose(ge, [0.841345, -0.0455003, 0.345731], { atol: 2e-6 });
  assertClose(si, [0.731059, -0.238406, 0.31123], { atol: 2e-6 });
});

test('shape errors name the op and the shapes', () => {
  const a = Tensor.fromArray(new Float32Array(6), [2, 3]);
  const b = Tensor.fromArray(new Float32Array(8), [4, 2]);
  assert.throws(() => matmul(a, b), /matmul: inner dimensions differ \(3 vs 4\): a \[2, 3\], b \[4, 2\]/);
  assert.throws(
    () => matmul(a, Tensor.fromArray(new Float32Array(6), [3, 2]), { bias: Tensor.fromArray([1], [1]) }),
    /matmul: bias \[1\] must be \[2\]/,
  );
  const a3 = Tensor.fromArray(new Float32Array(12), [2, 2, 3]);
  const b3 = Tensor.fromArray(new Float32Array(18), [3, 3, 2]);
  assert.throws(
    () => matmul(a3, b3),
    /matmul: batch dimensions do not broadcast: a \[2, 2, 3\], b \[3, 3, 2\]/,
  );
  assert.throws(() => matmul(Tensor.fromArray([1, 2], [2]), b), /matmul: operands need rank >= 2/);
  assert.throws(() => linear(a, b), /linear: x \[2, 3\] needs last dim/);
});

test('cpu linear is x @ W^T + b for any rank of x', () => {
  const x = Tensor.fromArray(randomArray(2 * 3 * 4, 7), [2, 3, 4]);
  const w = Tensor.fromArray(randomArray(5 * 4, 8), [5, 4]);
  const bias = Tensor.fromArray(randomArray(5, 9), [5]);
  const y = linear(x, w, bias);
  assert.deepEqual(y.shape, [2, 3, 5]);
  for (let r = 0; r < 6; r++) {
    for (let o = 0; o < 5; o++) {
      let s = bias.data[o];
      for (let i = 0; i < 4; i++) s += x.data[r * 4 + i] * w.data[o * 4 + i];
      assert.ok(Math.abs(y.data[r * 5 + o] - s) < 1e-6);
    }
  }
  const v = linear(Tensor.fromArray([1, 2, 3, 4], [4]), w);
  assert.deepEqual(v.shape, [5]);
});

test('gpu matmul: every available variant vs the CPU twin', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  for (const variant of matmulVariants(gpu, 'f16', 'f16')) {
    let seed = 100;
    for (const c of CASES) {
      const need = matmulVariants(gpu, c.ta ?? 'f32', c.tb ?? 'f32');
      if (!need.includes(variant)) continue;
      if (variant === 'tiled_reg' && !REG_SUBSET.has(c.name)) continue;
      await check(gpu, c, variant, seed);
      seed += 3;
    }
  }
});

test('gpu matmul tiled_reg: vec4-load kernels for every transpose vs the CPU twin', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  let seed = 300;
  for (const c of REG_CASES) {
    if (!matmulVariants(gpu, c.ta ?? 'f32', c.tb ?? 'f32').includes('tiled_reg')) continue;
    await check(gpu, c, 'tiled_reg', seed);
    seed += 3;
  }
});

// The 8x8-per-thread configuration (what GPUs run for outputs >= 256 x 256), forced on this adapter: ~1.2 s of
// LLVM compile per pipeline on lavapipe now that the epilogue is emitted once (it was ~40 s when inlined per output).
test('gpu matmul tiled_reg 8x8 configuration vs the CPU twin', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  const big: Case[] = [
    { name: 'big vec4 nn', aShape: [140, 52], bShape: [52, 132], bias: 'f32', activation: 'gelu_tanh' },
    { name: 'big scalar tt', aShape: [37, 141], bShape: [133, 37], transA: true, transB: true },
  ];
  for (const c of big) await check(gpu, c, 'tiled_reg', 700, true);
});

test('gpu linear matches the CPU twin (rank-3 x, f16 weight)', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  if (!gpu.features.f16) return t.skip('adapter has no shader-f16');
  const xv = randomArray(2 * 9 * 40, 1);
  const wv = randomArray(33 * 40, 2);
  const bv = randomArray(33, 3);
  const want = linear(
    Tensor.fromArray(xv, [2, 9, 40]),
    Tensor.fromArray(wv, [33, 40], { dtype: 'f16' }),
    Tensor.fromArray(bv, [33]),
  );
  const got = linear(gpu.tensor(xv, [2, 9, 40]), gpu.tensor(wv, [33, 40], 'f16'), gpu.tensor(bv, [33]));
  assert.deepEqual(got.shape, [2, 9, 33]);
  // K = 40 terms of |a b| <= 1 plus |bias| <= 1: f32 summation error <= 44 * 2^-24 * 41 < 1.1e-4.
  assertClose(await got.toArray(), want.data, { atol: 1.1e-4 });
});

// Forced 1 MiB storage-binding limit: each case is sized so exactly the named split runs.
const SPLIT_CASES: Case[] = [
  // a = 8 * 160 * 256 * 4 B = 1.3 MB: batches are split.
  { name: 'batch split', aShape: [8, 160, 256], bShape: [256, 40], bias: 'f32' },
  // a = 1200 * 300 * 4 B = 1.44 MB: rows of a / out are split.
  { name: 'M split', aShape: [1200, 300], bShape: [300, 20] },
  // b = 1100 * 300 * 4 B (transB) = 1.32 MB: rows of b (N) are split.
  { name: 'N split (transB)', aShape: [10, 300], bShape: [1100, 300], transB: true, bias: 'f32' },
  // b = 600 * 500 * 4 B = 1.2 MB without transB: K is split with f32 accumulation; f16 out rounds once.
  {
    name: 'K split (b)',
    aShape: [7, 600],
    bShape: [600, 500],
    to: 'f16',
    bias: 'f32',
    activation: 'gelu_tanh',
    alpha: 0.75,
  },
  // a = 1100 * 250 * 4 B with transA: rows of M do not shrink a's span, so K is split.
  { name: 'K split (transA)', aShape: [1100, 250], bShape: [1100, 9], transA: true, activation: 'silu' },
  // f16 weight [2200, 300] = 1.32 MB, shared by a batch of activations.
  { name: 'N split f16 weight', aShape: [2, 6, 300], bShape: [2200, 300], transB: true, tb: 'f16' },
];

test('gpu matmul splits under a 1 MiB binding limit', async (t) => {
  const gpu = await requireGpu(t, { maxBinding: FORCED_SMALL_BINDING });
  if (!gpu) return;
  for (const variant of matmulVariants(gpu, 'f16', 'f16')) {
    let seed = 500;
    for (const c of SPLIT_CASES) {
      if (!matmulVariants(gpu, c.ta ?? 'f32', c.tb ?? 'f32').includes(variant)) continue;
      await check(gpu, c, variant, seed);
      seed += 3;
    }
  }
});

test('forcing an unavailable variant names the op and the shapes', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  const a = gpu.tensor(randomArray(4, 1), [2, 2]);
  if (matmulVariants(gpu, 'f32', 'f32').includes('sgmat')) return t.skip('sgmat takes f32 here');
  assert.throws(
    () => matmul(a, a, { variant: 'sgmat' }),
    /matmul: variant 'sgmat' is not available for a f32 \[2, 2\]/,
  );
});

test('every rung specialises fully (sgmat included, which lavapipe cannot compile)', () => {
  for (const variant of MATMUL_VARIANTS) {
    for (const big of [false, true]) {
      const sh = matmulShader(
        variant,
        { a: 'f16', b: 'f16', out: 'f16', bias: 'f32' },
        { big, subgroupSize: 32 },
      );
      assert.doesNotMatch(sh.code, /\{\{|\}\}/, `${variant}: unfilled placeholder`);
      assert.match(sh.code, /fn main\(/);
    }
  }
  const sg = matmulShader(
    'sgmat',
    { a: 'f16', b: 'f16', out: 'f32', bias: 'f32' },
    { big: true, subgroupSize: 32 },
  );
  assert.match(
    sg.code,
    /^enable f16;\nenable chromium_experimental_subgroup_matrix;\ndiagnostic\(off, chromium\.subgroup_matrix_uniformity\);\n/,
  );
  assert.match(sg.code, /const SG = 32u;/);
  assert.equal(sg.BM, 128);
});

test('the sgmat vec4 fast path specialises for every tile and transpose combination', () => {
  for (const tile of SGMAT_TILES) {
    for (const [transA, transB] of [
      [false, false],
      [false, true],
      [true, false],
      [true, true],
    ] as const) {
      const sh = sgmatVecShader({ a: 'f16', b: 'f16', out: 'f16', bias: 'f32' }, tile, transA, transB, 32);
      assert.doesNotMatch(sh.code, /\{\{|\}\}/, `${tile}: unfilled placeholder`);
      const [bm, bn, , wm, wn] = tile.split(/[x/]/).map(Number);
      assert.equal(sh.BM, bm);
      assert.equal(sh.BN, bn);
      // Each subgroup issues one multiply-accumulate per 16x16 result matrix of its WM x WN block per k step.
      assert.equal(sh.code.match(/subgroupMatrixMultiplyAccumulate/g)?.length, (wm / 16) * (wn / 16));
      assert.match(
        sh.code,
        transB ? /&Bs, \(sn \+ 0u\) \* LDS_B \+ ks, true/ : /&Bs, ks \* LDS_B \+ sn \+ 0u, false/,
      );
    }
  }
  assert.ok(SGMAT_TILES.includes(SGMAT_DEFAULT_TILE));
  assert.throws(
    () =>
      sgmatVecShader({ a: 'f16', b: 'f16', out: 'f16', bias: 'f32' }, '128x128x32/24x64', false, false, 32),
    /matmul: sgmat tile/,
  );
});

test('tiled_reg specialises for every transpose, load width and tile, with no per-thread arrays', () => {
  for (const big of [false, true]) {
    for (const vec of [false, true]) {
      for (const [transA, transB] of [
        [false, false],
        [false, true],
        [true, false],
        [true, true],
      ] as const) {
        const sh = tiledRegShader(
          { a: 'f16', b: 'f32', out: 'f16', bias: 'f32' },
          { transA, transB, vec, big },
        );
        const what = `tiled_reg ${JSON.stringify({ transA, transB, vec, big })}`;
        assert.doesNotMatch(sh.code, /\{\{|\}\}/, `${what}: unfilled placeholder`);
        const TM = big ? 8 : 4;
        assert.equal(sh.BM, 16 * TM, what);
        // One FMA line per accumulator; one epilogue call site (a loop over the thread's rows and columns).
        assert.equal(sh.code.match(/acc_\d+_\d+ = fma\(/g)?.length, TM * TM, what);
        assert.equal(sh.code.match(/epilogue_store\(batch, m, n/g)?.length, 1, what);
        assert.equal(sh.code.match(/ case \d+u: \{ r0 = /g)?.length, TM, what);
        // Only workgroup arrays and bindings: nothing per thread is an array.
        assert.doesNotMatch(sh.code, /\bvar\s+\w+\s*:\s*array/, what);
        assert.match(sh.code, vec ? /array<vec4<f16>>/ : /var<storage, read> a: array<f16>/, what);
        // Transposes are baked in: a contiguous operand stores one vec4 per slot, a strided one 4 scalars.
        assert.match(sh.code, transA ? /As\[\(idx \/ BM4\) \* LD4/ : /As\[c \+ 3u \* LD4\]\[e\]/, what);
        assert.match(sh.code, transB ? /Bs\[c \+ 3u \* LD4\]\[e\]/ : /Bs\[\(idx \/ BM4\) \* LD4/, what);
      }
    }
  }
});
