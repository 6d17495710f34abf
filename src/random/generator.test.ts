// Bit-exact checks of the PyTorch CPU generator port against noise dumped by PyTorch itself
// (tools/fixtures/torch_rng.py -> test/fixtures/torch_rng/<folder>/manifest.json). Every folder present is
// checked; no tolerance anywhere: the float32 bit patterns must be identical.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { f32Bits, fmaF32 } from './f32.ts';
import { TorchGenerator, type TorchGeneratorOptions, torchRand, torchRandn } from './generator.ts';
import { glibcCosf, glibcLogf, glibcSinf } from './glibc-f32.ts';
import { MT19937, seedLow32 } from './mt19937.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/torch_rng');

interface FixtureCall {
  op: 'randn' | 'rand';
  shape: number[];
  numel: number;
  bits?: number[];
  first_bits?: number[];
  last_bits?: number[];
  sum_f64?: number;
  sha256?: string;
}
interface FixtureCase {
  name: string;
  seed: number;
  calls: FixtureCall[];
}
interface Manifest {
  torch: string;
  cpu_capability: string;
  machine: string;
  cases: FixtureCase[];
}

/**
 * The normal_fill transform a fixture's torch ran: the AVX2 one when ATen used its AVX2 or AVX-512 kernels on
 * x86-64 (the AVX-512 build registers no normal_ kernel, so the AVX2 one runs: torch 1.13 with
 * ATEN_CPU_CAPABILITY=avx512 gives the AVX2 results), the libm one for the default kernels ("NO AVX"/"DEFAULT")
 * and non-x86 machines.
 */
function expectedPath(m: Manifest): TorchGeneratorOptions['normalFill'] {
  const x86 = /x86_64|amd64/i.test(m.machine);
  return x86 && /AVX2|AVX512/i.test(m.cpu_capability) ? 'avx2' : 'scalar';
}

/** Mismatching calls of one fixture under the given generator options (empty = bit-exact). */
function mismatches(m: Manifest, opts: Partial<TorchGeneratorOptions>): string[] {
  const bad: string[] = [];
  for (const c of m.cases) {
    const g = new TorchGenerator(c.seed, opts);
    c.calls.forEach((call, k) => {
      const out = call.op === 'randn' ? g.randn(call.shape) : g.rand(call.shape);
      const bits = new Uint32Array(out.buffer);
      const where = `${c.name} seed ${c.seed} call ${k} ${call.op}([${call.shape.join(', ')}])`;
      if (bits.length !== call.numel) {
        bad.push(`${where}: numel ${bits.length} != ${call.numel}`);
        return;
      }
      if (call.bits) {
        const i = call.bits.findIndex((b, idx) => b !== bits[idx]);
        if (i >= 0) bad.push(`${where}: element ${i} bits ${bits[i]} != ${call.bits[i]}`);
        return;
      }
      const first = call.first_bits ?? [];
      const last = call.last_bits ?? [];
      const tail = bits.subarray(bits.length - last.length);
      const i = first.findIndex((b, idx) => b !== bits[idx]);
      const j = last.findIndex((b, idx) => b !== tail[idx]);
      const hash = createHash('sha256').update(new Uint8Array(out.buffer)).digest('hex');
      let sum = 0;
      for (const v of out) sum += v;
      if (i >= 0) bad.push(`${where}: leading element ${i} differs`);
      else if (j >= 0) bad.push(`${where}: trailing element ${bits.length - last.length + j} differs`);
      else if (hash !== call.sha256)
        bad.push(`${where}: sha256 of the whole tensor differs (sum ${sum} vs ${call.sum_f64})`);
    });
  }
  return bad;
}

const folders = existsSync(FIXTURES)
  ? readdirSync(FIXTURES).filter((d) => existsSync(join(FIXTURES, d, 'manifest.json')))
  : [];

test('torch_rng fixtures exist (the local torch 1.13 AVX2 one at least)', () => {
  assert.ok(folders.includes('torch1.13-local'), `folders found: ${folders.join(', ')}`);
});

for (const folder of folders) {
  test(`matches PyTorch bit for bit: ${folder}`, () => {
    const m = JSON.parse(readFileSync(join(FIXTURES, folder, 'manifest.json'), 'utf8')) as Manifest;
    const path = expectedPath(m);
    const bad = mismatches(m, { normalFill: path });
    if (bad.length > 0) {
      // Say whether the other transform would have matched, so a new platform is diagnosed at once.
      const other = path === 'avx2' ? 'scalar' : 'avx2';
      const otherBad = mismatches(m, { normalFill: other }).length;
      assert.fail(
        `${folder} (torch ${m.torch}, ${m.cpu_capability}, ${m.machine}): ${bad.length} calls differ with ` +
          `normalFill '${path}' (with '${other}': ${otherBad} differ). First: ${bad.slice(0, 3).join('; ')}`,
      );
    }
  });
}

test('the AVX2 transform without FMA contraction, and the scalar one, differ from the AVX2 fixture', () => {
  // Guards against a fixture or comparison that cannot fail: both wrong variants must be caught.
  const all = JSON.parse(
    readFileSync(join(FIXTURES, 'torch1.13-local', 'manifest.json'), 'utf8'),
  ) as Manifest;
  const m = { ...all, cases: all.cases.filter((c) => c.name.startsWith('stage.') && c.seed === 42) };
  assert.ok(m.cases.length > 0);
  assert.ok(mismatches(m, { normalFill: 'avx2', avx2Contract: false }).length > 0);
  assert.ok(mismatches(m, { normalFill: 'scalar' }).length > 0);
});

test('mt19937 matches std::mt19937 (seed 5489: first output 3499211612, 10000th 4123659995)', () => {
  const mt = new MT19937(5489);
  const first = mt.nextUint32();
  let v = first;
  for (let i = 2; i <= 10000; i++) v = mt.nextUint32();
  assert.equal(first, 3499211612);
  assert.equal(v, 4123659995);
  // seeds use the low 32 bits of their uint64 value, as at::mt19937 does
  assert.equal(seedLow32(2 ** 32 + 7), 7);
  assert.equal(seedLow32(-1), 0xffffffff);
  assert.equal(seedLow32(2n ** 40n + 5n), 5);
  assert.throws(() => seedLow32(1.5), /integer/);
});

test('well-known torch values: manual_seed(0); randn(3) and rand(3)', () => {
  // Printed by every PyTorch since 1.x: tensor([ 1.5410, -0.2934, -2.1788]) / tensor([0.4963, 0.7682, 0.0885])
  const n = torchRandn(0, [3]);
  assert.deepEqual(
    Array.from(n, (x) => Math.round(x * 1e4) / 1e4),
    [1.541, -0.2934, -2.1788],
  );
  const u = torchRand(0, [3]);
  assert.deepEqual(
    Array.from(u, (x) => Math.round(x * 1e4) / 1e4),
    [0.4963, 0.7682, 0.0885],
  );
});

test('randn keeps the stream across calls like one generator', () => {
  const g = new TorchGenerator(7);
  const a = g.randn([20]);
  const b = g.randn([5]);
  const c = g.randn([5]);
  const again = new TorchGenerator(7);
  assert.deepEqual(again.randn([20]), a);
  assert.deepEqual(again.randn([5]), b);
  assert.notDeepEqual(b, c);
  // manual_seed restarts the engine and drops the cached Box-Muller sample
  g.manualSeed(7);
  assert.deepEqual(g.randn([20]), a);
  assert.throws(() => g.randn([2, -1]), /TorchGenerator\.randn: invalid shape \[2, -1\]/);
});

test('fmaF32 rounds once (double rounding case) and matches exact cases', () => {
  // exact a*b + c = 2^29 + 96 - 2^-41 lies just below a float32 tie: correct result 2^29 + 64;
  // Math.fround(a*b + c) lands on the tie (2^29 + 96) and rounds to even, 2^29 + 128.
  const a = Math.fround(1 + 2 ** -23);
  const b = Math.fround(32 - 2 ** -18);
  const c = Math.fround(2 ** 29 + 64);
  assert.equal(fmaF32(a, b, c), 2 ** 29 + 64);
  assert.equal(Math.fround(a * b + c), 2 ** 29 + 128);
  assert.equal(fmaF32(Math.fround(1 + 2 ** -23), Math.fround(1 - 2 ** -23), -1), -(2 ** -46));
  assert.ok(Object.is(fmaF32(-0, 1, 0), 0));
});

test('glibc float32 ports on simple points agree with correctly rounded values', () => {
  // These arguments are far from float32 rounding ties, so the 0.82/0.56 ulp functions must round correctly.
  for (const x of [0.25, 0.3, 0.5, 0.75, 0.999, 1e-7, 3e-30].map(Math.fround)) {
    assert.equal(f32Bits(glibcLogf(x)), f32Bits(Math.log(x)), `logf(${x})`);
  }
  assert.equal(glibcLogf(1), 0);
  for (const x of [1e-5, 0.1, 0.7, 1, 2, 3, 4.5, 6.2].map(Math.fround)) {
    assert.ok(Math.abs(glibcSinf(x) - Math.sin(x)) <= 2 ** -23, `sinf(${x})`);
    assert.ok(Math.abs(glibcCosf(x) - Math.cos(x)) <= 2 ** -23, `cosf(${x})`);
  }
  assert.throws(() => glibcSinf(200), /large-argument/);
});
