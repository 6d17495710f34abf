/**
 * CPU-only checks of bench/js-frameworks.ts: the hand-built ONNX protobuf bytes (decoded here by an independent
 * wire-format reader), the float64 references and the error measure. The GPU side runs in the benchmark itself.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  attentionFlop,
  attentionRef,
  matmulFlop,
  matmulRef,
  onnxModel,
  onnxValue,
  randomValues,
  relL2,
} from '../../bench/js-frameworks.ts';

type Field = { field: number; value: bigint | Uint8Array };

/** Minimal protobuf reader (varint and length-delimited fields only, which is all the encoder writes). */
function fields(bytes: Uint8Array): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const b = bytes[i++];
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v;
      shift += 7n;
    }
  };
  while (i < bytes.length) {
    const key = Number(varint());
    const wire = key & 7;
    if (wire === 0) out.push({ field: key >> 3, value: varint() });
    else if (wire === 2) {
      const n = Number(varint());
      out.push({ field: key >> 3, value: bytes.subarray(i, i + n) });
      i += n;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}
const sub = (fs: Field[], f: number): Uint8Array[] =>
  fs.filter((x) => x.field === f).map((x) => x.value as Uint8Array);
const int = (fs: Field[], f: number): bigint[] =>
  fs.filter((x) => x.field === f).map((x) => x.value as bigint);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

test('onnxModel writes ModelProto fields a protobuf reader decodes back', () => {
  // 300 and 70000 need multi-byte varints.
  const bytes = onnxModel(
    [
      {
        op: 'MultiHeadAttention',
        inputs: ['Q', 'K'],
        outputs: ['O'],
        domain: 'com.microsoft',
        intAttrs: { num_heads: 16 },
      },
    ],
    [onnxValue('Q', 10, [2, 300, 1024]), onnxValue('K', 10, [2, 70000, 1024])],
    [onnxValue('O', 10, [2, 300, 1024])],
    { '': 17, 'com.microsoft': 1 },
  );
  const model = fields(bytes);
  assert.deepEqual(int(model, 1), [8n]); // ir_version
  const opsets = sub(model, 8).map((b) => fields(b));
  assert.deepEqual(
    opsets.map((o) => [str(sub(o, 1)[0]), int(o, 2)[0]]),
    [
      ['', 17n],
      ['com.microsoft', 1n],
    ],
  );
  const graph = fields(sub(model, 7)[0]);
  const node = fields(sub(graph, 1)[0]);
  assert.deepEqual(sub(node, 1).map(str), ['Q', 'K']);
  assert.deepEqual(sub(node, 2).map(str), ['O']);
  assert.equal(str(sub(node, 4)[0]), 'MultiHeadAttention');
  assert.equal(str(sub(node, 7)[0]), 'com.microsoft');
  const attr = fields(sub(node, 5)[0]);
  assert.equal(str(sub(attr, 1)[0]), 'num_heads');
  assert.deepEqual(int(attr, 3), [16n]);
  assert.deepEqual(int(attr, 20), [2n]); // AttributeProto.INT
  const inputs = sub(graph, 11).map((b) => fields(b));
  const dimsOf = (vi: Field[]): bigint[] => {
    const tensor = fields(sub(fields(sub(vi, 2)[0]), 1)[0]);
    assert.deepEqual(int(tensor, 1), [10n]); // FLOAT16
    return sub(fields(sub(tensor, 2)[0]), 1).map((d) => int(fields(d), 1)[0]);
  };
  assert.deepEqual(dimsOf(inputs[1]), [2n, 70000n, 1024n]);
  assert.equal(str(sub(inputs[0], 1)[0]), 'Q');
  assert.equal(sub(graph, 12).length, 1);
});

test('attentionRef equals softmax(QK^T/sqrt(D))V built from matmulRef, on awkward sizes', () => {
  const s = { B: 1, H: 3, Lq: 7, Lk: 5, D: 4 };
  const q = randomValues(s.B * s.H * s.Lq * s.D, 11);
  const k = randomValues(s.B * s.H * s.Lk * s.D, 12);
  const v = randomValues(s.B * s.H * s.Lk * s.D, 13);
  const got = attentionRef(q, k, v, s);
  for (let h = 0; h < s.H; h++) {
    const qh = q.subarray(h * s.Lq * s.D, (h + 1) * s.Lq * s.D);
    const kh = k.subarray(h * s.Lk * s.D, (h + 1) * s.Lk * s.D);
    const vh = v.subarray(h * s.Lk * s.D, (h + 1) * s.Lk * s.D);
    const kt = new Float32Array(s.D * s.Lk);
    for (let j = 0; j < s.Lk; j++) for (let d = 0; d < s.D; d++) kt[d * s.Lk + j] = kh[j * s.D + d];
    const scores = matmulRef(qh, kt, { M: s.Lq, N: s.Lk, K: s.D });
    const p = new Float32Array(scores.length);
    for (let i = 0; i < s.Lq; i++) {
      const row = Array.from(scores.subarray(i * s.Lk, (i + 1) * s.Lk), (x) => x / Math.sqrt(s.D));
      const m = Math.max(...row);
      const e = row.map((x) => Math.exp(x - m));
      const sum = e.reduce((a, b) => a + b, 0);
      for (let j = 0; j < s.Lk; j++) p[i * s.Lk + j] = e[j] / sum;
    }
    const o = matmulRef(p, vh, { M: s.Lq, N: s.D, K: s.Lk });
    // p is rounded to f32 here (the reference keeps f64): differences stay at f32 rounding, ~1e-7 relative.
    assert.ok(relL2(got.subarray(h * s.Lq * s.D, (h + 1) * s.Lq * s.D), o) < 1e-6);
  }
});

test('relL2 flags non-finite values and wrong lengths; randomValues is deterministic in (-1, 1)', () => {
  assert.equal(relL2([1, Number.NaN], [1, 2]), Number.POSITIVE_INFINITY);
  assert.throws(() => relL2([1], [1, 2]), /length/);
  assert.ok(Math.abs(relL2([1.1, 2], [1, 2]) - 0.1 / Math.sqrt(5)) < 1e-12);
  const a = randomValues(1000, 7);
  assert.deepEqual(a, randomValues(1000, 7));
  assert.notDeepEqual(a, randomValues(1000, 8));
  assert.ok(a.every((x) => x >= -1 && x < 1));
  assert.equal(matmulFlop({ M: 4096, N: 4096, K: 4096 }), 2 * 4096 ** 3);
  assert.equal(attentionFlop({ B: 2, H: 16, Lq: 4096, Lk: 1374, D: 64 }), 4 * 2 * 16 * 4096 * 1374 * 64);
});
