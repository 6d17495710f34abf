import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detGenerate, detUniform, fnv1a32 } from './detweights.ts';

// Cross-language check: every literal below was printed by `python3 tools/fixtures/detweights.py` (numpy). The
// comparison is on float32 bit patterns, so it is exact: any deviation in hashing, mixing or rounding fails.
const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

test('fnv1a32 matches the Python hash (ASCII, empty, multi-byte UTF-8 path is covered below)', () => {
  assert.equal(fnv1a32('a'), 3826002220);
  assert.equal(fnv1a32(''), 2166136261);
  assert.equal(fnv1a32('blocks.0.attn.qkv.weight'), 768105552);
});

test('detGenerate reproduces the Python values bit for bit', () => {
  const cases: {
    name: string;
    scale: number;
    offset: number;
    kind: 'uniform' | 'ratio196';
    want: number[];
  }[] = [
    {
      name: 'blocks.0.attn.qkv.weight',
      scale: 0.03125,
      offset: 0,
      kind: 'uniform',
      want: [3165870310, 3169013338, 995894688, 1002693648, 1018707630, 3155145148, 1008241008, 1016394158],
    },
    {
      name: 'norm.weight',
      scale: 0.1,
      offset: 1,
      kind: 'uniform',
      want: [1063734188, 1065891051, 1064182655, 1063680509, 1066050366, 1064578657, 1065745201, 1064748383],
    },
    {
      name: 'cond.vis',
      scale: 1,
      offset: 0,
      kind: 'ratio196',
      want: [1036421078, 1060474128, 1030086823, 1059960539, 1050972745, 1044809686, 1060987716, 1054054275],
    },
    {
      name: 'é✓',
      scale: 2,
      offset: -0.5,
      kind: 'uniform',
      want: [3222652522, 3209023848, 3219905338, 3212281804, 3219539678, 3217650556, 3216556188, 1023671232],
    },
  ];
  for (const c of cases) {
    assert.deepEqual(bits(detGenerate({ ...c, shape: [2, 4] })), c.want, c.name);
  }
});

test('indices past 2^22 (numpy chunk boundary) and large i*golden products stay exact', () => {
  const g = detGenerate({ name: 'big', shape: [1 << 23], scale: 1, offset: 0 });
  const at = [0, 4194303, 4194304, 8388607].map((i) => bits(g.subarray(i, i + 1))[0]);
  assert.deepEqual(at, [3196103712, 1058965106, 3206900580, 3196128408]);
});

test('ratio196 yields exactly the 197 float32 values n/196', () => {
  const r = detGenerate({ name: 'cond.vis', shape: [20000], scale: 1, offset: 0, kind: 'ratio196' });
  const seen = new Set<number>();
  for (const v of r) {
    const n = Math.round(v * 196);
    assert.equal(v, Math.fround(n / 196));
    seen.add(n);
  }
  assert.equal(seen.size, 197);
});

test('detUniform stays in [0,1) and rejects bad shapes', () => {
  for (let i = 0; i < 1000; i++) {
    const u = detUniform(0xffffffff, i * 7919);
    assert.ok(u >= 0 && u < 1);
  }
  assert.throws(() => detGenerate({ name: 'x', shape: [2, -1], scale: 1, offset: 0 }), /invalid shape/);
});
