import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { assertClose, randomArray } from '../../test/helpers/compare.ts';
import { requireGpu } from '../../test/helpers/gpu.ts';
import { roundF16 } from '../runtime/dtype.ts';
import { writeFileAtomic } from './atomic-write.ts';
import { FileByteSource } from './byte-source.node.ts';
import { type ByteSource, blobSource, bytesSource } from './byte-source.ts';
import { openSafetensorsFile, writeSafetensors } from './safetensors.node.ts';
import {
  f32ToBf16Bits,
  MAX_HEADER_BYTES,
  SafetensorsError,
  SafetensorsReader,
  serializeSafetensors,
  topLevelKeys,
  type WritableTensor,
} from './safetensors.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'amodal3r-st-'));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const enc = new TextEncoder();

/** A file assembled by hand from the spec: u64 LE length, header text, then data bytes. */
function handBuilt(header: string, data: Uint8Array | number[] = []): Uint8Array<ArrayBuffer> {
  const h = enc.encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function open(bytes: Uint8Array, name = 'test.safetensors'): Promise<SafetensorsReader> {
  return SafetensorsReader.open(bytesSource(bytes, name));
}

async function rejectsWith(bytes: Uint8Array, pattern: RegExp): Promise<void> {
  await assert.rejects(open(bytes, 'bad.safetensors'), (e: unknown) => {
    assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${e}`);
    assert.match(e.message, /^bad\.safetensors: /);
    assert.match(e.message, pattern);
    return true;
  });
}

const f32Bytes = (v: number[]) => new Uint8Array(new Float32Array(v).buffer);

// ---- serialiser vs the reference implementation's own byte vectors (safetensors/src/tensor.rs tests) ----

test('serializer reproduces the reference byte layout', () => {
  const six = new Float32Array([0, 1, 2, 3, 4, 5]);
  const a = serializeSafetensors({ 'attn.0': { dtype: 'F32', shape: [1, 2, 3], data: six } });
  // Reference: header length 64, compact JSON without padding (already a multiple of 8), then the data.
  const json = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
  assert.equal(json.length, 64);
  assert.deepEqual([...a.subarray(0, 8)], [64, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(new TextDecoder().decode(a.subarray(8, 72)), json);
  assert.deepEqual(a.subarray(72), f32Bytes([0, 1, 2, 3, 4, 5]));

  // Reference: a 65-byte header is padded with 7 spaces to 72 so the f32 data stays aligned.
  const b = serializeSafetensors({ attn0: { dtype: 'F32', shape: [1, 1, 2, 3], data: six } });
  assert.equal(b[0], 72);
  assert.equal(new TextDecoder().decode(b.subarray(8, 80)).trimEnd().length, 65);
  assert.deepEqual([...b.subarray(73, 80)], [32, 32, 32, 32, 32, 32, 32]);
  assert.deepEqual(b.subarray(80), f32Bytes([0, 1, 2, 3, 4, 5]));

  // Reference: no tensors -> "{}" + 6 spaces; with metadata {framework: pt} -> 40-byte header.
  assert.deepEqual([...serializeSafetensors({})], [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
  const m = serializeSafetensors({}, { framework: 'pt' });
  assert.equal(m[0], 40);
  assert.equal(new TextDecoder().decode(m.subarray(8)), '{"__metadata__":{"framework":"pt"}}     ');
});

test('serializer orders tensors by descending dtype then name, keeping each aligned', async () => {
  const bytes = serializeSafetensors({
    z8: { dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
    b64: { dtype: 'I64', shape: [1], data: new BigInt64Array([5n]) },
    a16: { dtype: 'F16', shape: [1], data: new Float32Array([1]) },
    a32: { dtype: 'F32', shape: [1], data: new Float32Array([1]) },
    aa32: { dtype: 'F32', shape: [1], data: new Float32Array([1]) },
  });
  const r = await open(bytes);
  assert.deepEqual(r.names, ['b64', 'a32', 'aa32', 'a16', 'z8']);
  for (const name of r.names) {
    const e = r.info(name);
    assert.equal(e.byteOffset % (e.byteLength / e.numel), 0, `${name} is aligned`);
  }
});

// ---- round trips through the writer ----

function allDtypes(): Record<string, WritableTensor> {
  return {
    f64: { dtype: 'F64', shape: [2, 3], data: new Float64Array([1e-300, -2.5, 3, 1 / 3, 1e30, -0]) },
    f32: { dtype: 'F32', shape: [3, 5], data: randomArray(15, 7) },
    'f16.values': { dtype: 'F16', shape: [4], data: new Float32Array([1, 1 / 3, 65504, 1e-7]) },
    'f16.bits': { dtype: 'F16', shape: [2], data: new Uint16Array([0x3c00, 0xc000]) },
    bf16: { dtype: 'BF16', shape: [3], data: new Float32Array([1, 1 / 3, -1e38]) },
    i64: { dtype: 'I64', shape: [3], data: new BigInt64Array([-5n, 0n, 2147483647n]) },
    'i64.big': { dtype: 'I64', shape: [1], data: new BigInt64Array([1n << 40n]) },
    i32: { dtype: 'I32', shape: [2, 2], data: new Int32Array([-2147483648, -1, 0, 2147483647]) },
    i16: { dtype: 'I16', shape: [2], data: new Int16Array([-32768, 32767]) },
    i8: { dtype: 'I8', shape: [2], data: new Int8Array([-128, 127]) },
    u8: { dtype: 'U8', shape: [3], data: new Uint8Array([0, 128, 255]) },
    u16: { dtype: 'U16', shape: [1], data: new Uint16Array([65535]) },
    mask: { dtype: 'BOOL', shape: [2, 2], data: new Uint8Array([1, 0, 0, 1]) },
    scalar: { dtype: 'F32', shape: [], data: new Float32Array([-7.5]) },
    empty: { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
    'empty.i32': { dtype: 'I32', shape: [4, 0], data: new Int32Array(0) },
    'ünïcode.名前': { dtype: 'F32', shape: [1], data: new Float32Array([42]) },
  };
}

test('round trip of every dtype, 0-d and empty tensors and metadata through a file', async () => {
  const dir = await tempDir();
  const path = join(dir, 'all.safetensors');
  const meta = { format: 'pt', note: 'quotes " and \\ and \n newline' };
  await writeSafetensors(path, allDtypes(), meta);
  assert.deepEqual(await readdir(dir), ['all.safetensors'], 'no temporary file left behind');
  const r = await openSafetensorsFile(path);
  try {
    assert.deepEqual({ ...r.metadata }, meta);
    assert.deepEqual([...r.names].sort(), Object.keys(allDtypes()).sort());
    assert.deepEqual(await r.readFloat32('f64'), Float32Array.from([1e-300, -2.5, 3, 1 / 3, 1e30, -0]));
    assert.deepEqual(await r.readFloat32('f32'), randomArray(15, 7));
    assert.deepEqual([...(await r.readFloat32('f16.values'))], [1, roundF16(1 / 3), 65504, roundF16(1e-7)]);
    assert.deepEqual([...(await r.readFloat32('f16.bits'))], [1, -2]);
    // bf16 keeps 8 mantissa bits: 1/3 -> 0x3eab -> 0.333984375; -1e38 -> 0xfe96 (round to nearest even).
    assert.deepEqual(
      [...(await r.readFloat32('bf16'))],
      [1, 0.333984375, new Float32Array(new Uint32Array([0xfe960000]).buffer)[0]],
    );
    assert.equal(f32ToBf16Bits(Number.NaN) & 0x7fc0, 0x7fc0);
    assert.deepEqual([...(await r.readInt32('i64'))], [-5, 0, 2147483647]);
    await assert.rejects(r.readInt32('i64.big'), /outside the int32 range/);
    const big = await r.readRaw('i64.big');
    assert.equal(new BigInt64Array(big.buffer, big.byteOffset, 1)[0], 1n << 40n);
    assert.deepEqual([...(await r.readInt32('i32'))], [-2147483648, -1, 0, 2147483647]);
    assert.deepEqual([...(await r.readInt32('i16'))], [-32768, 32767]);
    assert.deepEqual([...(await r.readInt32('i8'))], [-128, 127]);
    assert.deepEqual([...(await r.readInt32('u8'))], [0, 128, 255]);
    assert.deepEqual([...(await r.readInt32('u16'))], [65535]);
    assert.deepEqual([...(await r.readInt32('mask'))], [1, 0, 0, 1]);
    assert.deepEqual(r.info('scalar').shape, []);
    assert.deepEqual([...(await r.readFloat32('scalar'))], [-7.5]);
    assert.deepEqual(r.info('empty').shape, [0, 3]);
    assert.equal((await r.readFloat32('empty')).length, 0);
    assert.equal((await r.readInt32('empty.i32')).length, 0);
    assert.deepEqual([...(await r.readFloat32('ünïcode.名前'))], [42]);
    const t = await r.loadTensor('scalar');
    assert.deepEqual(t.shape, []);
    assert.deepEqual([...t.data], [-7.5]);
    // The writer's output parses with a plain JSON reader and has a multiple-of-8 header.
    const bytes = await readFile(path);
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    assert.equal(n % 8, 0);
    assert.equal(r.dataStart, 8 + n);
  } finally {
    await r.close();
  }
});

test('writer rejects inconsistent tensors', () => {
  assert.throws(
    () => serializeSafetensors({ w: { dtype: 'F32', shape: [2, 2], data: new Float32Array(3) } }),
    /tensor 'w' has 3 values for shape \[2, 2\] \(4\)/,
  );
  assert.throws(
    () => serializeSafetensors({ m: { dtype: 'BOOL', shape: [1], data: new Uint8Array([2]) } }),
    /BOOL value 2/,
  );
  assert.throws(
    () => serializeSafetensors({ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }),
    /reserved/,
  );
});

test('a file built byte by byte from the spec reads back', async () => {
  // Header in arbitrary key order with whitespace; offsets put 'b' first in the data section.
  const header =
    '{ "a" : {"dtype":"F16","shape":[2],"data_offsets":[12,16]},\n' +
    '  "__metadata__": {"k": "v"},\n' +
    '  "b": {"shape": [3], "dtype": "F32", "data_offsets": [0, 12]} }';
  const data = new Uint8Array(16);
  const dv = new DataView(data.buffer);
  dv.setFloat32(0, 1.5, true);
  dv.setFloat32(4, -2, true);
  dv.setFloat32(8, 1e-3, true);
  dv.setUint16(12, 0x3555, true); // f16 0.333251953125
  dv.setUint16(14, 0x0001, true); // smallest subnormal 2^-24
  const r = await open(handBuilt(header, data));
  assert.deepEqual(r.names, ['b', 'a']);
  assert.deepEqual({ ...r.metadata }, { k: 'v' });
  assert.deepEqual(r.info('a'), {
    name: 'a',
    dtype: 'F16',
    shape: [2],
    numel: 2,
    byteOffset: 8 + header.length + 12,
    byteLength: 4,
  });
  assert.deepEqual([...(await r.readFloat32('a'))], [0.333251953125, 2 ** -24]);
  assert.deepEqual([...(await r.readFloat32('b'))], [1.5, -2, Math.fround(1e-3)]);
});

test('top-level key scan sees duplicates and ignores nested keys and strings', () => {
  assert.deepEqual(topLevelKeys('{"a":{"a":1},"b\\"}":"x:","c" :[{"d":2}]}'), ['a', 'b"}', 'c']);
  assert.deepEqual(topLevelKeys('{"a":1,"a":2}'), ['a', 'a']);
});

// ---- hostile and broken files ----

const GOOD_HEADER = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
const GOOD = handBuilt(GOOD_HEADER, f32Bytes([1, 2]));

test('truncated files say how many bytes were expected and found', async () => {
  await rejectsWith(
    GOOD.subarray(0, GOOD.length - 1),
    new RegExp(`file is truncated: expected ${GOOD.length} bytes, found ${GOOD.length - 1} — re-download it`),
  );
  await rejectsWith(
    GOOD.subarray(0, 5),
    /file is truncated: expected at least 8 bytes \(the header length\), found 5 — re-download it/,
  );
  await rejectsWith(
    GOOD.subarray(0, 20),
    /file is truncated: expected at least \d+ bytes \(8 \+ a \d+-byte header\), found 20/,
  );
});

test('a hostile header length is refused before any allocation', async () => {
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 0xffffffffffffffffn, true);
  await rejectsWith(huge, /header length 18446744073709551615 exceeds the 100000000-byte limit/);
  new DataView(huge.buffer).setBigUint64(0, BigInt(MAX_HEADER_BYTES + 1), true);
  await rejectsWith(huge, /exceeds the 100000000-byte limit/);
  // Within the limit but beyond the file.
  new DataView(huge.buffer).setBigUint64(0, 1000n, true);
  await rejectsWith(huge, /truncated: expected at least 1008 bytes/);
});

test('malformed headers are rejected with the reason', async () => {
  await rejectsWith(handBuilt('{"w": nope}'), /header is not valid JSON/);
  await rejectsWith(handBuilt('[1,2]'), /header is not a JSON object/);
  const badUtf8 = handBuilt('{"w":1}  ');
  badUtf8[10] = 0xff;
  await rejectsWith(badUtf8, /not valid UTF-8/);
  await rejectsWith(
    handBuilt('{"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}', f32Bytes([1, 2])),
    /tensor 'w' has unknown dtype "Q4" \(known: F64, F32/,
  );
  await rejectsWith(
    handBuilt('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', f32Bytes([1, 2])),
    /tensor 'w' \(F32 \[3\]\) needs 12 bytes but data_offsets \[0, 8\] span 8/,
  );
  await rejectsWith(
    handBuilt('{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', f32Bytes([1, 2])),
    /invalid shape \[-2\]/,
  );
  await rejectsWith(
    handBuilt('{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}', f32Bytes([1, 2])),
    /invalid shape \[2.5\]/,
  );
  await rejectsWith(
    handBuilt('{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}', f32Bytes([1, 2])),
    /invalid data_offsets \[8,0\]/,
  );
  await rejectsWith(
    handBuilt(
      `{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`,
      f32Bytes([1, 2]),
    ),
    /header lists 'w' more than once/,
  );
  await rejectsWith(
    handBuilt(`{"__metadata__":{"n":1},${GOOD_HEADER.slice(1)}`, f32Bytes([1, 2])),
    /__metadata__ value 'n' is 1, not a string/,
  );
  await rejectsWith(
    handBuilt(
      '{"w":{"dtype":"F32","shape":[99999999999,99999999999],"data_offsets":[0,8]}}',
      f32Bytes([1, 2]),
    ),
    /overflows|needs/,
  );
});

test('overlapping, gapped and incomplete offsets are rejected', async () => {
  const two = (a: [number, number], b: [number, number], data: number) =>
    handBuilt(
      `{"a":{"dtype":"F32","shape":[1],"data_offsets":[${a}]},"b":{"dtype":"F32","shape":[1],"data_offsets":[${b}]}}`,
      new Uint8Array(data),
    );
  await rejectsWith(
    two([0, 4], [0, 4], 8),
    /tensor 'b' at data bytes \[0, 4\] overlaps tensor 'a' \(ends at 4\)/,
  );
  await rejectsWith(
    two([0, 4], [8, 12], 12),
    /tensor 'b' at data bytes \[8, 12\] leaves a gap of 4 bytes after tensor 'a'/,
  );
  await rejectsWith(two([4, 8], [8, 12], 12), /leaves a gap of 4 bytes after the start of the data section/);
  await rejectsWith(two([0, 4], [4, 8], 10), /2 bytes after the last tensor are not described by the header/);
  await rejectsWith(
    two([0, 4], [4, 8], 6),
    /file is truncated: expected \d+ bytes, found \d+ — re-download it/,
  );
});

test('requests against a valid file fail with the tensor named', async () => {
  const bytes = serializeSafetensors({
    idx: { dtype: 'I64', shape: [2], data: new BigInt64Array([1n, 2n]) },
    'blocks.0.weight': { dtype: 'F32', shape: [2, 2], data: new Float32Array(4) },
  });
  const r = await open(bytes, 'm.safetensors');
  await assert.rejects(
    r.loadTensor('idx'),
    /m\.safetensors: loadTensor: tensor 'idx' is I64, not floating point.*weights must be floating point/,
  );
  await assert.rejects(r.readFloat32('idx'), /tensor 'idx' is I64/);
  await assert.rejects(
    r.readInt32('blocks.0.weight'),
    /readInt32: tensor 'blocks.0.weight' is F32, not an integer type/,
  );
  await assert.rejects(
    r.loadTensor('blocks.1.weight'),
    /no tensor named 'blocks.1.weight' \(the file has 2 tensors; similar: blocks.0.weight\)/,
  );
  await assert.rejects(
    r.loadTensor('blocks.0.weight', { expectShape: [4] }),
    /tensor 'blocks.0.weight' has shape \[2, 2\] but \[4\] is expected/,
  );
});

// ---- sources ----

/** Wraps a source and records every read, to check the reader never reads more than it needs. */
function counting(src: ByteSource): { src: ByteSource; reads: [number, number][] } {
  const reads: [number, number][] = [];
  return {
    reads,
    src: {
      size: src.size,
      name: src.name,
      read: (o, l) => {
        reads.push([o, l]);
        return src.read(o, l);
      },
    },
  };
}

test('the reader reads only the header, then only the tensor asked for', async () => {
  const bytes = serializeSafetensors({
    a: { dtype: 'F32', shape: [100], data: randomArray(100, 1) },
    b: { dtype: 'F32', shape: [50], data: randomArray(50, 2) },
  });
  const c = counting(bytesSource(bytes));
  const r = await SafetensorsReader.open(c.src);
  const n = r.dataStart - 8;
  assert.deepEqual(c.reads, [
    [0, 8],
    [8, n],
  ]);
  assert.deepEqual(await r.readFloat32('b'), randomArray(50, 2));
  assert.deepEqual(c.reads[2], [r.info('b').byteOffset, 200]);
});

test('file and Blob sources read ranges and refuse to read past the end', async () => {
  const dir = await tempDir();
  const path = join(dir, 'x.bin');
  const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
  await writeFile(path, bytes);
  const file = await FileByteSource.open(path);
  const blob = blobSource(new Blob([bytes]), 'x.blob');
  try {
    for (const src of [file, blob, bytesSource(bytes)]) {
      assert.equal(src.size, 1000);
      assert.deepEqual(await src.read(995, 5), bytes.subarray(995));
      assert.deepEqual(await src.read(0, 0), new Uint8Array(0));
      await assert.rejects(src.read(996, 5), /runs past the end \(1000 bytes\)/);
      await assert.rejects(src.read(-1, 2), /runs past the end/);
    }
  } finally {
    await file.close();
  }
  await assert.rejects(FileByteSource.open(dir), /is not a regular file|EISDIR/);
  const r = await SafetensorsReader.open(blobSource(new Blob([GOOD]), 'g.safetensors'));
  assert.deepEqual([...(await r.readFloat32('w'))], [1, 2]);
});

test('writeFileAtomic replaces the file whole or leaves it untouched', async () => {
  const dir = await tempDir();
  const path = join(dir, 'out.txt');
  await writeFileAtomic(path, 'first');
  await assert.rejects(
    writeFileAtomic(path, async (fh) => {
      await fh.write('partial');
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(await readFile(path, 'utf8'), 'first');
  assert.deepEqual(await readdir(dir), ['out.txt'], 'temporary file removed after the error');
  await writeFileAtomic(path, enc.encode('second'));
  assert.equal(await readFile(path, 'utf8'), 'second');
  await assert.rejects(writeFileAtomic(join(dir, 'missing', 'f'), 'x'), /ENOENT/);
});

// ---- loading onto the GPU ----

test('loadTensor to the CPU converts to the target dtype', async () => {
  const v = randomArray(37, 3, 10);
  const r = await open(serializeSafetensors({ w: { dtype: 'F32', shape: [37], data: v } }));
  const t16 = await r.loadTensor('w', { dtype: 'f16' });
  assert.equal(t16.dtype, 'f16');
  assert.deepEqual([...t16.data], [...v].map(roundF16));
});

test('loadTensor streams every float dtype to CPU tensors, through readInto (file) and read (memory)', async () => {
  const v = randomArray(1031, 12, 4);
  const tensors = {
    f32: { dtype: 'F32', shape: [1031], data: v },
    f16: { dtype: 'F16', shape: [1, 1031], data: v },
    bf16: { dtype: 'BF16', shape: [1031], data: v },
    f64: { dtype: 'F64', shape: [1031, 1], data: Float64Array.from(v) },
    empty: { dtype: 'F32', shape: [0], data: new Float32Array(0) },
  } as const;
  const bytes = serializeSafetensors(tensors);
  const path = join(await tempDir(), 'cpu.safetensors');
  await writeFile(path, bytes);
  const file = await openSafetensorsFile(path);
  assert.ok(file.source.readInto, 'the file source offers readInto (the reused-buffer path)');
  const mem = await open(bytes);
  try {
    for (const r of [file, mem]) {
      for (const name of Object.keys(tensors)) {
        const want32 = await r.readFloat32(name);
        for (const chunkBytes of [48, undefined]) {
          for (const dtype of ['f32', 'f16'] as const) {
            const t = await r.loadTensor(name, { dtype, chunkBytes });
            assert.equal(t.dtype, dtype);
            assert.deepEqual(t.shape, r.info(name).shape);
            // Exact: a chunked decode must equal the whole-tensor decode (rounded once for f16 storage).
            const want = dtype === 'f16' ? Float32Array.from(want32, roundF16) : want32;
            assert.deepEqual(t.data, want, `${r.source.name}: ${name} -> ${dtype} chunk ${chunkBytes}`);
          }
        }
      }
    }
    const src = file.source as FileByteSource;
    await assert.rejects(src.readInto(bytes.length - 4, new Uint8Array(8)), /runs past the end/);
  } finally {
    await file.close();
  }
});

test('loadTensor streams F32/F16/BF16/F64 tensors onto the GPU in f32 and f16', async (t) => {
  const gpu = await requireGpu(t);
  if (!gpu) return;
  // 1031 elements (odd, prime) with 48-byte chunks: 6 elements per step, a short odd last step.
  const n = 1031;
  const v = randomArray(n, 11, 4);
  const bytes = serializeSafetensors({
    f32: { dtype: 'F32', shape: [1031], data: v },
    f16: { dtype: 'F16', shape: [1, 1031], data: v },
    bf16: { dtype: 'BF16', shape: [1031], data: v },
    f64: { dtype: 'F64', shape: [1031, 1], data: Float64Array.from(v) },
    one: { dtype: 'F16', shape: [1], data: new Float32Array([0.1]) },
    empty: { dtype: 'F32', shape: [0], data: new Float32Array(0) },
  });
  const r = await open(bytes);
  const f16Of = (x: ArrayLike<number>) => Float32Array.from(x, roundF16);
  for (const name of ['f32', 'f16', 'bf16', 'f64', 'one', 'empty']) {
    const want32 = await r.readFloat32(name);
    for (const chunkBytes of [48, undefined]) {
      for (const dtype of ['f32', 'f16'] as const) {
        if (dtype === 'f16' && !gpu.features.f16) continue;
        const g = await r.loadTensor(name, { gpu, dtype, chunkBytes });
        assert.equal(g.device, 'webgpu');
        assert.equal(g.dtype, dtype);
        assert.deepEqual(g.shape, r.info(name).shape);
        // Exact: the upload is a copy or the same deterministic conversion the CPU twin applies.
        assertClose(await g.toArray(), dtype === 'f16' ? f16Of(want32) : want32, {
          atol: 0,
          label: `${name} -> ${dtype} chunk ${chunkBytes}`,
        });
        g.dispose();
      }
    }
  }
  await assert.rejects(r.loadTensor('f32', { gpu, chunkBytes: 24 }), /multiple of 16/);
});
