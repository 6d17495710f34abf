import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertClose, randomArray } from '../../../test/helpers/compare.ts';
import { FORCED_SMALL_BINDING, requireGpu } from '../../../test/helpers/gpu.ts';
import { roundF16 } from '../../runtime/dtype.ts';
import type { GpuContext } from '../../runtime/gpu.ts';
import { Tensor } from '../../runtime/tensor.ts';
import { concat, slice } from './concat.ts';
import { patchify2d } from './patchify.ts';
import { channelsFirst3d, channelsLast3d, permute } from './permute.ts';

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

test('cpu permute: hand-checked transposes', () => {
  const x = Tensor.fromArray([1, 2, 3, 4, 5, 6], [2, 3]);
  assert.deepEqual([...permute(x, [1, 0]).data], [1, 4, 2, 5, 3, 6]);
  // [1, 2, 1, 3] -> perm [3, 1, 0, 2]: out[k, j, 0, 0] = x[0, j, 0, k].
  const y = permute(x.reshape([1, 2, 1, 3]), [3, 1, 0, 2]);
  assert.deepEqual(y.shape, [3, 2, 1, 1]);
  assert.deepEqual([...y.data], [1, 4, 2, 5, 3, 6]);
  assert.throws(
    () => permute(x, [0, 0]),
    /permute: perm \[0, 0\] is not a permutation of the axes of \[2, 3\]/,
  );
});

test('cpu channelsLast3d / channelsFirst3d: NCDHW <-> NDHWC', () => {
  // [1, 2, 1, 1, 3]: channel 0 = 1, 2, 3 along W; channel 1 = 4, 5, 6.
  const x = Tensor.fromArray([1, 2, 3, 4, 5, 6], [1, 2, 1, 1, 3]);
  const y = channelsLast3d(x);
  assert.deepEqual(y.shape, [1, 1, 1, 3, 2]);
  assert.deepEqual([...y.data], [1, 4, 2, 5, 3, 6]);
  assert.deepEqual([...channelsFirst3d(y).data], [1, 2, 3, 4, 5, 6]);
});

test('cpu concat / slice: hand-checked', () => {
  const a = Tensor.fromArray([1, 2, 3, 4], [2, 2]);
  const b = Tensor.fromArray([5, 6], [2, 1]);
  assert.deepEqual([...concat([a, b], -1).data], [1, 2, 5, 3, 4, 6]);
  assert.deepEqual([...concat([a, b.reshape([1, 2])], 0).data], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...slice(Tensor.fromArray([1, 2, 3, 4, 5, 6], [3, 2]), 0, 1, -1).data], [3, 4]);
  assert.deepEqual([...slice(a, 1, 1, 2).data], [2, 4]);
  assert.throws(
    () => concat([a, Tensor.zeros([3, 1])], 1),
    /concat: shapes \[2, 2\], \[3, 1\] differ outside axis 1/,
  );
});

test('cpu patchify2d + linear equals a direct Conv2d(kernel = stride = p)', () => {
  const [b, c, h, w, p, cout] = [2, 3, 9, 10, 3, 4]; // W = 10 leaves one column that Conv2d drops
  const img = randomArray(b * c * h * w, 7);
  const wt = randomArray(cout * c * p * p, 8);
  const tokens = patchify2d(Tensor.fromArray(img, [b, c, h, w]), p);
  const gh = Math.floor(h / p);
  const gw = Math.floor(w / p);
  assert.deepEqual(tokens.shape, [b, gh * gw, c * p * p]);
  const k = c * p * p;
  for (let bi = 0; bi < b; bi++) {
    for (let i = 0; i < gh; i++) {
      for (let j = 0; j < gw; j++) {
        for (let o = 0; o < cout; o++) {
          let conv = 0;
          for (let ci = 0; ci < c; ci++)
            for (let u = 0; u < p; u++)
              for (let v = 0; v < p; v++)
                conv +=
                  wt[((o * c + ci) * p + u) * p + v] * img[((bi * c + ci) * h + i * p + u) * w + j * p + v];
          let lin = 0;
          const row = (bi * gh * gw + i * gw + j) * k; // patch order row-major
          for (let q = 0; q < k; q++) lin += wt[o * k + q] * tokens.data[row + q];
          assert.ok(Math.abs(conv - lin) < 1e-9, `patch (${bi}, ${i}, ${j}) channel ${o}: ${conv} vs ${lin}`);
        }
      }
    }
  }
});

const PERMS: { shape: number[]; perm: number[] }[] = [
  { shape: [1], perm: [0] },
  { shape: [7, 33], perm: [1, 0] },
  { shape: [2, 3, 5, 13], perm: [0, 2, 3, 1] },
  { shape: [2, 1, 3, 5, 2, 3], perm: [5, 3, 0, 4, 2, 1] },
  { shape: [4, 6, 5, 3, 2], perm: [0, 2, 3, 4, 1] },
];

async function checkPermutes(gpu: GpuContext, cases: typeof PERMS, seed: number): Promise<void> {
  for (const c of cases) {
    const v = randomArray(numel(c.shape), seed++);
    for (const dt of gpu.features.f16 ? (['f32', 'f16'] as const) : (['f32'] as const)) {
      const want = permute(Tensor.fromArray(v, c.shape, { dtype: dt }), c.perm).data;
      const got = await permute(gpu.tensor(v, c.shape, dt), c.perm).toArray();
      // A pure copy: exact.
      assertClose(got, want, { atol: 0, label: `${dt} ${c.shape} ${c.perm}` });
    }
  }
}

test('gpu permute matches the CPU twin (ranks 1-6, f32/f16, dtype conversion)', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  await checkPermutes(gpu, PERMS, 1);
  const v = randomArray(105, 99);
  const got = await permute(gpu.tensor(v, [3, 5, 7]), [2, 0, 1], { dtype: 'f16' }).toArray();
  const want = permute(Tensor.fromArray(v, [3, 5, 7]), [2, 0, 1]).data.map(roundF16);
  assertClose(got, want, { atol: 0 }); // f32 -> f16 rounds once, round-to-nearest-even on both sides
});

test('gpu concat / slice / patchify2d match the CPU twins', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  await checkConcat(
    gpu,
    [
      [3, 5, 7],
      [3, 1, 7],
      [3, 33, 7],
    ],
    1,
    11,
  );
  await checkConcat(
    gpu,
    [
      [1, 4],
      [2, 4],
      [1, 4],
    ],
    0,
    12,
  );
  await checkConcat(
    gpu,
    [
      [5, 3],
      [5, 1],
    ],
    -1,
    13,
  );
  await checkSlice(gpu, [4, 9, 5], 1, 2, 7, 14);
  await checkSlice(gpu, [13], 0, -5, 100, 15);
  const img = randomArray(2 * 3 * 16 * 15, 16);
  const want = patchify2d(Tensor.fromArray(img, [2, 3, 16, 15]), 7).data;
  const got = await patchify2d(gpu.tensor(img, [2, 3, 16, 15]), 7).toArray();
  assertClose(got, want, { atol: 0 });
});

async function checkConcat(gpu: GpuContext, shapes: number[][], axis: number, seed: number): Promise<void> {
  const vals = shapes.map((s, i) => randomArray(numel(s), seed * 10 + i));
  const want = concat(
    vals.map((v, i) => Tensor.fromArray(v, shapes[i])),
    axis,
  );
  const got = concat(
    vals.map((v, i) => gpu.tensor(v, shapes[i])),
    axis,
  );
  assert.deepEqual(got.shape, want.shape);
  assertClose(await got.toArray(), want.data, { atol: 0, label: `concat ${JSON.stringify(shapes)}` });
  // Concatenation then slicing gives the parts back (checks the CPU twins against each other's inverse).
  let off = 0;
  const a = axis < 0 ? axis + shapes[0].length : axis;
  for (let i = 0; i < shapes.length; i++) {
    const part = slice(want, a, off, off + shapes[i][a]);
    assertClose(part.data, vals[i], { atol: 0 });
    off += shapes[i][a];
  }
}

async function checkSlice(
  gpu: GpuContext,
  shape: number[],
  axis: number,
  s: number,
  e: number,
  seed: number,
): Promise<void> {
  const v = randomArray(numel(shape), seed);
  const want = slice(Tensor.fromArray(v, shape), axis, s, e);
  const got = slice(gpu.tensor(v, shape), axis, s, e);
  assert.deepEqual(got.shape, want.shape);
  assertClose(await got.toArray(), want.data, { atol: 0, label: `slice ${shape} ${axis} ${s}:${e}` });
}

test('gpu layout ops under a 1 MiB binding limit', async (t) => {
  const gpu = await requireGpu(t, { maxBinding: FORCED_SMALL_BINDING });
  if (!gpu) return;
  // 1.27 MiB input and output: 2 x 2 (output chunk, input window) passes.
  await checkPermutes(gpu, [{ shape: [6, 130, 11, 37], perm: [2, 0, 3, 1] }], 21);
  // Row-chunked concat (0.6 MiB parts, 1.2 MiB output).
  await checkConcat(
    gpu,
    [
      [300, 2, 260],
      [300, 1, 260],
    ],
    1,
    22,
  );
  // One output row of 1.2 MiB: column pieces.
  await checkConcat(
    gpu,
    [
      [2, 300000],
      [2, 11],
    ],
    1,
    23,
  );
  await checkSlice(gpu, [3, 120000], 1, 5, 119999, 24);
});
