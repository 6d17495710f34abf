import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertClose, randomArray } from '../../../test/helpers/compare.ts';
import { FORCED_SMALL_BINDING, requireGpu } from '../../../test/helpers/gpu.ts';
import type { DType } from '../../runtime/dtype.ts';
import type { GpuContext } from '../../runtime/gpu.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { softmax } from '../softmax/softmax.ts';
import {
  attention,
  attentionVarlen,
  SGMAT_ATTENTION_TILE,
  SGMAT_ATTENTION_TILES,
  sgmatAttentionShader,
  sgmatAttentionSharedBytes,
} from './attention.ts';

/** log(1e-6): the bias the mask-weighted cross-attention gives invisible patches. */
const LOG_EPS = Math.log(1e-6);

/** Key biases: most keys at log(1e-6) (invisible), a few visible ones with small weights' logs. */
function maskBias(n: number, seed: number): Float32Array {
  const r = randomArray(n, seed);
  return r.map((x, i) => (i % 5 === 0 || x > 0.6 ? Math.log(0.5 + 0.5 * Math.abs(x) + 1e-6) : LOG_EPS));
}

/**
 * Tolerances. Inputs are uniform in [-1, 1) (scaled by `amp` for q so scores reach ~ +-10), outputs are convex
 * combinations of v rows, so |out| <= 1. f32: the kernel accumulates dot products and P V in f32 in another order
 * than the f64 twin, with exp() of a few ulp: errors ~1e-6 relative per term, 2e-5 absolute is a safe bound for
 * sums over <= 517 keys. f16 output: one f16 rounding (2^-11 relative, <= 4.9e-4 for |out| <= 1) plus the f32
 * error: atol 1e-3. Inputs are rounded to f16 on both sides (same values), so no input error enters.
 */
const TOL: Record<DType, { atol: number; rtol: number }> = {
  f32: { atol: 2e-5, rtol: 1e-5 },
  f16: { atol: 1e-3, rtol: 0 },
};

interface Case {
  B: number;
  Lq: number;
  Lk: number;
  H: number;
  D: number;
  dtype: DType;
  bias: boolean;
}

async function checkDense(
  gpu: GpuContext,
  c: Case,
  seed: number,
  extra: { subgroups?: boolean; runtimeBounds?: boolean } = {},
): Promise<void> {
  const { B, Lq, Lk, H, D, dtype } = c;
  // q in [-3, 3): scores q.k/sqrt(D) spread over several units, so the softmax is peaky, not near-uniform.
  const amp = 3;
  const qv = randomArray(B * Lq * H * D, seed, amp);
  const kv = randomArray(B * Lk * H * D, seed + 1);
  const vv = randomArray(B * Lk * H * D, seed + 2);
  const bv = maskBias(B * Lk, seed + 3);
  const cpu = (x: Float32Array, s: number[]) => Tensor.fromArray(x, s, { dtype });
  const gput = (x: Float32Array, s: number[]) => gpu.tensor(x, s, dtype);
  const sq = [B, Lq, H, D];
  const sk = [B, Lk, H, D];
  const expected = attention(cpu(qv, sq), cpu(kv, sk), cpu(vv, sk), {
    keyBias: c.bias ? Tensor.fromArray(bv, [B, Lk]) : undefined,
  }).data;
  const got = await attention(gput(qv, sq), gput(kv, sk), gput(vv, sk), {
    keyBias: c.bias ? gpu.tensor(bv, [B, Lk]) : undefined,
    ...extra,
  }).toArray();
  assertClose(got, expected, { ...TOL[dtype], label: JSON.stringify(c) });
}

test('cpu attention equals explicit softmax(QK^T/sqrt(D) + bias) V', () => {
  // One head, tiny sizes, written out with the softmax op as an independent second route.
  const Lq = 3;
  const Lk = 4;
  const D = 2;
  const qv = randomArray(Lq * D, 1);
  const kv = randomArray(Lk * D, 2);
  const vv = randomArray(Lk * D, 3);
  const bias = [0, LOG_EPS, -1, 0.5];
  const s = new Float32Array(Lq * Lk);
  for (let i = 0; i < Lq; i++)
    for (let j = 0; j < Lk; j++)
      s[i * Lk + j] = (qv[i * D] * kv[j * D] + qv[i * D + 1] * kv[j * D + 1]) / Math.SQRT2 + bias[j];
  const p = softmax(Tensor.fromArray(s, [Lq, Lk])).data;
  const expected = new Float32Array(Lq * D);
  for (let i = 0; i < Lq; i++)
    for (let d = 0; d < D; d++)
      for (let j = 0; j < Lk; j++) expected[i * D + d] += p[i * Lk + j] * vv[j * D + d];
  const got = attention(
    Tensor.fromArray(qv, [1, Lq, 1, D]),
    Tensor.fromArray(kv, [1, Lk, 1, D]),
    Tensor.fromArray(vv, [1, Lk, 1, D]),
    { keyBias: Tensor.fromArray(bias, [1, Lk]) },
  ).data;
  // f32 softmax + f32 sums vs the f64 twin: a few f32 ulps.
  assertClose(got, expected, { atol: 1e-6 });
});

test('attention shape errors name the op and the shapes', () => {
  const q = Tensor.zeros([1, 3, 2, 8]);
  const k = Tensor.zeros([1, 5, 2, 8]);
  assert.throws(
    () => attention(q, Tensor.zeros([1, 5, 2, 4]), k),
    /attention: k and v must be \[1, Lk, 2, 8\]/,
  );
  assert.throws(
    () => attention(q, k, k, { keyBias: Tensor.zeros([1, 4]) }),
    /attention: keyBias must be \[1, 5\]; got \[1, 4\]/,
  );
  assert.throws(
    () =>
      attentionVarlen(Tensor.zeros([3, 2, 8]), Tensor.zeros([5, 2, 8]), Tensor.zeros([5, 2, 8]), {
        qStarts: [0, 2, 3],
        kStarts: [0, 6, 5],
      }),
    /attentionVarlen: kStarts must be non-decreasing integers; kStarts\[2\] = 5 after 6/,
  );
});

test('varlen starts must cover the rows', () => {
  const x = Tensor.zeros([3, 1, 4]);
  assert.throws(
    () => attentionVarlen(x, x, x, { qStarts: [0, 2], kStarts: [0, 3] }),
    /attentionVarlen: qStarts must start at 0 and end at 3; got \[0, 2\]/,
  );
});

test('gpu dense attention matches the CPU twin (f32: D 32/64/128/40, awkward lengths, bias)', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  const cases: Case[] = [
    { B: 1, Lq: 1, Lk: 1, H: 1, D: 64, dtype: 'f32', bias: true },
    { B: 2, Lq: 1, Lk: 77, H: 3, D: 32, dtype: 'f32', bias: true },
    { B: 1, Lq: 37, Lk: 1, H: 2, D: 64, dtype: 'f32', bias: true },
    { B: 2, Lq: 37, Lk: 45, H: 4, D: 40, dtype: 'f32', bias: false },
    { B: 1, Lq: 33, Lk: 70, H: 2, D: 128, dtype: 'f32', bias: true },
    { B: 1, Lq: 300, Lk: 517, H: 2, D: 64, dtype: 'f32', bias: true },
  ];
  let seed = 100;
  for (const c of cases) {
    seed += 10;
    await checkDense(gpu, c, seed);
  }
});

test('gpu dense attention matches the CPU twin (f16 storage)', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  if (!gpu.features.f16) return t.skip('adapter has no shader-f16');
  const cases: Case[] = [
    { B: 1, Lq: 1, Lk: 1, H: 1, D: 64, dtype: 'f16', bias: true },
    { B: 2, Lq: 37, Lk: 61, H: 2, D: 64, dtype: 'f16', bias: true },
    { B: 1, Lq: 40, Lk: 33, H: 3, D: 128, dtype: 'f16', bias: true },
    { B: 1, Lq: 19, Lk: 50, H: 4, D: 40, dtype: 'f16', bias: true },
    { B: 1, Lq: 300, Lk: 517, H: 1, D: 64, dtype: 'f16', bias: true },
  ];
  let seed = 500;
  for (const c of cases) {
    seed += 10;
    await checkDense(gpu, c, seed);
  }
});

test('gpu attention with the workgroup-memory row reductions (no subgroups)', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  await checkDense(gpu, { B: 2, Lq: 37, Lk: 90, H: 2, D: 40, dtype: 'f32', bias: true }, 77, {
    subgroups: false,
  });
});

test('gpu attention with constant loop bounds (the GPU default; lavapipe uses uniform bounds)', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  const dtype: DType = gpu.features.f16 ? 'f16' : 'f32';
  await checkDense(gpu, { B: 2, Lq: 70, Lk: 45, H: 2, D: 64, dtype, bias: true }, 88, {
    runtimeBounds: false,
  });
});

test('gpu attention with mixed dtypes: f16 q/k/v, f16 bias, f32 output', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  if (!gpu.features.f16) return t.skip('adapter has no shader-f16');
  const [B, Lq, Lk, H, D] = [2, 21, 35, 2, 64];
  const qv = randomArray(B * Lq * H * D, 7, 3);
  const kv = randomArray(B * Lk * H * D, 8);
  const vv = randomArray(B * Lk * H * D, 9);
  const bv = maskBias(B * Lk, 10);
  const mk = (x: Float32Array, s: number[], g: GpuContext | null) =>
    g ? g.tensor(x, s, 'f16') : Tensor.fromArray(x, s, { dtype: 'f16' });
  const run = (g: GpuContext | null) =>
    attention(mk(qv, [B, Lq, H, D], g), mk(kv, [B, Lk, H, D], g), mk(vv, [B, Lk, H, D], g), {
      keyBias: mk(bv, [B, Lk], g),
      dtype: 'f32',
      scale: 0.2,
    });
  const got = await run(gpu).toArray();
  // f32 output: only the f32-vs-f64 accumulation differs (see TOL).
  assertClose(got, run(null).data, { ...TOL.f32, label: 'mixed' });
});

test('gpu varlen attention: uneven sequences incl. length 1 and empty', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  const H = 3;
  // (D, dtype, with/without bias): kept to kernel variants the other tests compile too (cold lavapipe compiles
  // cost seconds each), plus the f32 D=64 no-bias one.
  for (const [D, dtype, biases] of [
    [64, 'f32', [false, true]],
    [40, 'f32', [false]],
    [64, 'f16', [true]],
  ] as const) {
    if (dtype === 'f16' && !gpu.features.f16) continue;
    // Sequence lengths (q, k): a length-1 sequence, one with no queries, one spanning several tiles, 1 key.
    const qLens = [5, 1, 0, 70, 33, 1];
    const kLens = [9, 40, 3, 101, 1, 1];
    const qStarts = [0];
    const kStarts = [0];
    for (let s = 0; s < qLens.length; s++) {
      qStarts.push(qStarts[s] + qLens[s]);
      kStarts.push(kStarts[s] + kLens[s]);
    }
    const Tq = qStarts[qStarts.length - 1];
    const Tk = kStarts[kStarts.length - 1];
    const qv = randomArray(Tq * H * D, D, 3);
    const kv = randomArray(Tk * H * D, D + 1);
    const vv = randomArray(Tk * H * D, D + 2);
    const bv = maskBias(Tk, D + 3);
    for (const withBias of biases) {
      const mk = (x: Float32Array, s: number[], g: GpuContext | null) =>
        g ? g.tensor(x, s, dtype) : Tensor.fromArray(x, s, { dtype });
      const run = (g: GpuContext | null) =>
        attentionVarlen(mk(qv, [Tq, H, D], g), mk(kv, [Tk, H, D], g), mk(vv, [Tk, H, D], g), {
          qStarts: Int32Array.from(qStarts),
          kStarts,
          keyBias: withBias ? (g ? g.tensor(bv, [Tk]) : Tensor.fromArray(bv, [Tk])) : undefined,
        });
      const got = await run(gpu).toArray();
      assertClose(got, run(null).data, { ...TOL[dtype], label: `varlen D=${D} ${dtype} bias=${withBias}` });
    }
  }
  // A sequence with queries but no keys gives zeros on both backends.
  const z = attentionVarlen(
    gpu.tensor(randomArray(2 * 40, 1), [2, 1, 40]),
    gpu.tensor(randomArray(40, 2), [1, 1, 40]),
    gpu.tensor(randomArray(40, 3), [1, 1, 40]),
    {
      qStarts: [0, 1, 2],
      kStarts: [0, 1, 1],
    },
  );
  const zv = await z.toArray();
  assert.deepEqual([...zv.subarray(40)], new Array(40).fill(0));
});

test('gpu attention under a 1 MiB binding limit splits over sequences and query rows', async (t) => {
  const gpu = await requireGpu(t, { maxBinding: FORCED_SMALL_BINDING });
  if (!gpu) return;
  // f32: q rows are 8 x 128 x 4 B = 4 KiB, 2 x 150 rows = 1.2 MiB: split across and inside sequences;
  // k/v: 200 rows per sequence = 800 KiB: one sequence fits a binding, two do not.
  await checkDense(gpu, { B: 2, Lq: 150, Lk: 200, H: 8, D: 128, dtype: 'f32', bias: true }, 900);
  if (gpu.features.f16) {
    // f16: 2 KiB rows; k/v 260 rows = 520 KiB per sequence, two exceed 1 MiB: one dispatch per sequence.
    await checkDense(gpu, { B: 3, Lq: 64, Lk: 260, H: 8, D: 128, dtype: 'f16', bias: true }, 910);
  }
  // One sequence's keys over the limit: a clear error naming the op.
  const big = gpu.tensor(new Float32Array(1100 * 4 * 64), [1, 1100, 4, 64]);
  const small = gpu.tensor(new Float32Array(4 * 64), [1, 1, 4, 64]);
  assert.throws(() => attention(small, big, big), /attention: one sequence's keys .* storage binding limit/);
});

test('the sgmat attention kernel specialises for every benchmarked tile and fits 48 KiB at D = 64', () => {
  for (const [nsg, bk] of SGMAT_ATTENTION_TILES) {
    for (const bias of ['f32', null] as const) {
      const { code } = sgmatAttentionShader(nsg, bk, 64, 'f16', bias);
      assert.doesNotMatch(code, /\{\{|\}\}/, `[${nsg}, ${bk}]: unfilled placeholder`);
      assert.match(code, /^enable f16;\nenable subgroups;\nenable chromium_experimental_subgroup_matrix;\n/);
      // Per key tile: (BK / 16) x (D / 16) multiply-accumulates for Q K^T and as many for P V.
      assert.equal(code.match(/subgroupMatrixMultiplyAccumulate/g)?.length, 2 * (bk / 16) * 4);
      assert.equal(code.includes('kb[kg - p.b_base]'), bias !== null);
    }
    assert.ok(sgmatAttentionSharedBytes(nsg, bk, 64) <= 49152, `[${nsg}, ${bk}] exceeds 48 KiB`);
  }
  assert.ok(SGMAT_ATTENTION_TILES.some((t) => String(t) === String(SGMAT_ATTENTION_TILE)));
  // [4, 128] was tried and does not fit (the dispatcher then falls back to the tiled kernel).
  assert.ok(sgmatAttentionSharedBytes(4, 128, 64) > 49152);
});
