/**
 * Cross-implementation check: a file written by Python's `safetensors` (tools/fixtures/safetensors_fixture.py).
 * The expected values are restated here from the script's definitions, not produced by our code.
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { roundF16 } from '../runtime/dtype.ts';
import { bytesSource } from './byte-source.ts';
import { SafetensorsReader, serializeSafetensors } from './safetensors.ts';

const FIXTURE_REL = 'test/fixtures/safetensors/python_written.safetensors';
const FIXTURE = fileURLToPath(new URL(`../../${FIXTURE_REL}`, import.meta.url));

test('reads a file written by Python safetensors and matches its layout byte for byte', async () => {
  assert.ok(
    existsSync(FIXTURE),
    `${FIXTURE_REL} is missing: generate it with \`pip install numpy safetensors && python tools/fixtures/safetensors_fixture.py\` (on the device machine) and commit it`,
  );
  const file = new Uint8Array(await readFile(FIXTURE));
  const r = await SafetensorsReader.open(bytesSource(file, FIXTURE));
  assert.deepEqual({ ...r.metadata }, { format: 'np', producer: 'tools/fixtures/safetensors_fixture.py' });

  const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
  const expectFloat: Record<string, { shape: number[]; dtype: string; values: number[] }> = {
    f64: { dtype: 'F64', shape: [2, 3], values: range(0, 6).map((i) => i * 0.5 - 1) },
    f32: { dtype: 'F32', shape: [2, 3, 4], values: range(0, 24).map((i) => i / 8 - 1.5) },
    f16: { dtype: 'F16', shape: [8], values: [0, 1, -2, 0.5, 2 ** -24, 65504, -65504, -0] },
    'f16.third': { dtype: 'F16', shape: [1], values: [roundF16(1 / 3)] },
    scalar: { dtype: 'F32', shape: [], values: [3.25] },
    empty: { dtype: 'F32', shape: [0, 3], values: [] },
  };
  const expectInt: Record<string, { shape: number[]; dtype: string; values: number[] }> = {
    i64: { dtype: 'I64', shape: [7], values: range(-3, 4) },
    i32: { dtype: 'I32', shape: [3, 4], values: range(-6, 6) },
    i16: { dtype: 'I16', shape: [3], values: [-32768, 0, 32767] },
    i8: { dtype: 'I8', shape: [4], values: [-128, -1, 0, 127] },
    u8: { dtype: 'U8', shape: [6], values: [0, 51, 102, 153, 204, 255] },
    u16: { dtype: 'U16', shape: [2], values: [0, 65535] },
    bool: { dtype: 'BOOL', shape: [4], values: [1, 0, 1, 1] },
  };
  assert.deepEqual(
    [...r.names].sort(),
    [...Object.keys(expectFloat), ...Object.keys(expectInt), 'i64.big'].sort(),
  );
  for (const [name, e] of Object.entries(expectFloat)) {
    assert.equal(r.info(name).dtype, e.dtype, name);
    assert.deepEqual(r.info(name).shape, e.shape, name);
    assert.deepEqual([...(await r.readFloat32(name))], e.values, name);
  }
  assert.ok(Object.is((await r.readFloat32('f16'))[7], -0), 'f16 -0 keeps its sign');
  for (const [name, e] of Object.entries(expectInt)) {
    assert.equal(r.info(name).dtype, e.dtype, name);
    assert.deepEqual(r.info(name).shape, e.shape, name);
    assert.deepEqual([...(await r.readInt32(name))], e.values, name);
  }
  const big = await r.readRaw('i64.big');
  assert.deepEqual([...new BigInt64Array(big.buffer, big.byteOffset, 2)], [-(2n ** 40n), 2n ** 40n + 1n]);

  // Our serialiser given the same tensors lays out the same file: same header JSON (the reference's metadata map
  // has no fixed key order, so compare parsed), same header length, byte-identical data section.
  const ours = serializeSafetensors(
    {
      f64: { dtype: 'F64', shape: [2, 3], data: Float64Array.from(expectFloat.f64.values) },
      f32: { dtype: 'F32', shape: [2, 3, 4], data: Float32Array.from(expectFloat.f32.values) },
      f16: { dtype: 'F16', shape: [8], data: Float32Array.from(expectFloat.f16.values) },
      'f16.third': { dtype: 'F16', shape: [1], data: new Float32Array([1 / 3]) },
      i64: { dtype: 'I64', shape: [7], data: BigInt64Array.from(range(-3, 4), BigInt) },
      'i64.big': { dtype: 'I64', shape: [2], data: new BigInt64Array([-(2n ** 40n), 2n ** 40n + 1n]) },
      i32: { dtype: 'I32', shape: [3, 4], data: Int32Array.from(range(-6, 6)) },
      i16: { dtype: 'I16', shape: [3], data: new Int16Array([-32768, 0, 32767]) },
      i8: { dtype: 'I8', shape: [4], data: new Int8Array([-128, -1, 0, 127]) },
      u8: { dtype: 'U8', shape: [6], data: new Uint8Array([0, 51, 102, 153, 204, 255]) },
      u16: { dtype: 'U16', shape: [2], data: new Uint16Array([0, 65535]) },
      bool: { dtype: 'BOOL', shape: [4], data: new Uint8Array([1, 0, 1, 1]) },
      scalar: { dtype: 'F32', shape: [], data: new Float32Array([3.25]) },
      empty: { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
    },
    { format: 'np', producer: 'tools/fixtures/safetensors_fixture.py' },
  );
  const headerOf = (b: Uint8Array) => {
    const n = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true));
    return { n, text: new TextDecoder().decode(b.subarray(8, 8 + n)) };
  };
  const theirs = headerOf(file);
  const mine = headerOf(ours);
  assert.equal(mine.n, theirs.n, 'header length (with padding)');
  assert.equal(theirs.n % 8, 0, 'the reference pads the header to a multiple of 8');
  assert.deepEqual(JSON.parse(mine.text), JSON.parse(theirs.text));
  assert.deepEqual(ours.subarray(8 + mine.n), file.subarray(8 + theirs.n), 'data sections are identical');
});
