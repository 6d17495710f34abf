import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { buildCond, COND_CHANNELS, COND_TOKENS, type FixtureTensor, loadFixture } from './fixtures.ts';

// Expected state-dict keys, written from the key maps of ARCHITECTURE.md (b, c.7, d) for the fixture configs.
// The manifests list the keys the OFFICIAL modules actually have, so these tests pin the spec's key maps to the
// official code (and catch a fixture script that forgot to fill a parameter or buffer).
function dinoKeys(depth: number): string[] {
  const k = [
    'cls_token',
    'pos_embed',
    'register_tokens',
    'mask_token',
    'patch_embed.proj.weight',
    'patch_embed.proj.bias',
  ];
  const per = ['norm1', 'attn.qkv', 'attn.proj', 'norm2', 'mlp.fc1', 'mlp.fc2'];
  for (let i = 0; i < depth; i++) {
    for (const p of per) k.push(`blocks.${i}.${p}.weight`, `blocks.${i}.${p}.bias`);
    k.push(`blocks.${i}.ls1.gamma`, `blocks.${i}.ls2.gamma`);
  }
  k.push('norm.weight', 'norm.bias');
  return k;
}

function flowKeys(blocks: number): string[] {
  const wb = (p: string) => [`${p}.weight`, `${p}.bias`];
  const k = ['pos_emb', ...wb('t_embedder.mlp.0'), ...wb('t_embedder.mlp.2'), ...wb('input_layer')];
  for (let i = 0; i < blocks; i++) {
    const b = `blocks.${i}`;
    k.push(...wb(`${b}.adaLN_modulation.1`), ...wb(`${b}.norm2`), ...wb(`${b}.self_attn.to_qkv`));
    k.push(
      `${b}.self_attn.q_rms_norm.gamma`,
      `${b}.self_attn.k_rms_norm.gamma`,
      ...wb(`${b}.self_attn.to_out`),
    );
    for (const a of ['cross_attn', 'cross_attn_mask']) {
      k.push(...wb(`${b}.${a}.to_q`), ...wb(`${b}.${a}.to_kv`), ...wb(`${b}.${a}.to_out`));
    }
    k.push(...wb(`${b}.mlp.mlp.0`), ...wb(`${b}.mlp.mlp.2`));
  }
  k.push(...wb('out_layer'));
  return k;
}

function decKeys(channels: number[], resBlocks: number, middle: number): string[] {
  const wb = (p: string) => [`${p}.weight`, `${p}.bias`];
  const res = (p: string) => ['norm1', 'norm2', 'conv1', 'conv2'].flatMap((n) => wb(`${p}.${n}`));
  const k = wb('input_layer');
  for (let j = 0; j < middle; j++) k.push(...res(`middle_block.${j}`));
  let idx = 0;
  channels.forEach((_, level) => {
    for (let j = 0; j < resBlocks; j++) k.push(...res(`blocks.${idx++}`));
    if (level < channels.length - 1) k.push(...wb(`blocks.${idx++}.conv`));
  });
  k.push(...wb('out_layer.0'), ...wb('out_layer.2'));
  return k;
}

const sorted = (a: string[]) => [...a].sort();
const FIX = 'test/fixtures';
const have = (d: string) => existsSync(`${FIX}/${d}/manifest.json`);

function keysMatch(dir: string, want: string[]): Promise<void> {
  return loadFixture(`${FIX}/${dir}`, { filter: () => false }).then((fx) => {
    const names = fx.manifest.weights.map((w) => w.name);
    assert.deepEqual(names, fx.manifest.state_dict_keys, `${dir}: weights list != recorded state-dict keys`);
    assert.deepEqual(sorted(names), sorted(want), `${dir}: official keys differ from the spec key map`);
  });
}

test('dinov2/ci: official keys = spec key map; tokens = layer_norm(x_prenorm, eps 1e-5)', {
  skip: !have('dinov2/ci'),
}, async () => {
  await keysMatch('dinov2/ci', dinoKeys(2));
  const fx = await loadFixture(`${FIX}/dinov2/ci`, { filter: (n) => n === 'pos_embed' });
  assert.deepEqual(fx.weights.get('pos_embed')?.shape, [1, 16 * 16 + 1, 1024]);
  const x = fx.outputs.get('x_prenorm') as FixtureTensor;
  const y = fx.outputs.get('tokens') as FixtureTensor;
  assert.deepEqual(x.shape, [1, 1 + 4 + 256, 1024]);
  // The two outputs are tied by F.layer_norm (eps 1e-5, no affine): recomputing it in float64 must agree to a few
  // float32 ulps of O(1) values (torch's CPU LN accumulates in float32 over 1024 terms: ~1e-6 abs).
  let worst = 0;
  for (let r = 0; r < x.shape[1]; r++) {
    const row = x.data.subarray(r * 1024, (r + 1) * 1024);
    let mean = 0;
    for (const v of row) mean += v;
    mean /= 1024;
    let varr = 0;
    for (const v of row) varr += (v - mean) ** 2;
    const inv = 1 / Math.sqrt(varr / 1024 + 1e-5);
    for (let c = 0; c < 1024; c++)
      worst = Math.max(worst, Math.abs(((row[c] ?? 0) - mean) * inv - (y.data[r * 1024 + c] ?? 0)));
  }
  assert.ok(worst < 1e-5, `layer_norm mismatch ${worst}`);
});

test('ss_flow/p1, p2: official keys = spec key map; cond builder layout', {
  skip: !have('ss_flow/p1'),
}, async () => {
  await keysMatch('ss_flow/p1', flowKeys(2));
  await keysMatch('ss_flow/p2', flowKeys(2));
  const fx = await loadFixture(`${FIX}/ss_flow/p2`, {
    filter: (n) => n === 'input_layer.weight' || n === 'pos_emb',
  });
  assert.deepEqual(fx.weights.get('input_layer.weight')?.shape, [128, 8 * 8]); // C * p^3 inputs for patch 2
  assert.deepEqual(fx.weights.get('pos_emb')?.shape, [8 * 8 * 8, 128]);
  assert.deepEqual(fx.outputs.get('v_cond')?.shape, [1, 8, 16, 16, 16]);
  assert.deepEqual([...(fx.outputs.get('t')?.data ?? [])], [750]);
  const vis = fx.inputs.get('cond_vis') as FixtureTensor;
  const occ = fx.inputs.get('cond_occ') as FixtureTensor;
  const cond = buildCond(fx.inputs.get('cond_tokens') as FixtureTensor, vis, occ);
  assert.deepEqual(cond.shape, [1, 4112, COND_CHANNELS]);
  assert.equal(cond.data[COND_TOKENS * COND_CHANNELS + 1023], vis.data[0]);
  assert.equal(cond.data[(COND_TOKENS + 1369 + 5) * COND_CHANNELS + 7], occ.data[5]);
  assert.throws(() => buildCond(vis, vis, occ), /buildCond: expected tokens/);
});

test('ss_dec/ci: official keys = spec key map; logits shape', { skip: !have('ss_dec/ci') }, async () => {
  await keysMatch('ss_dec/ci', decKeys([32, 16, 8], 1, 1));
  const fx = await loadFixture(`${FIX}/ss_dec/ci`, { filter: (n) => n === 'blocks.1.conv.weight' });
  assert.deepEqual(fx.weights.get('blocks.1.conv.weight')?.shape, [16 * 8, 32, 3, 3, 3]); // upsample conv: C_out * 8
  assert.deepEqual(fx.outputs.get('logits')?.shape, [1, 1, 64, 64, 64]);
  // Unfiltered load regenerates every weight with its recorded shape; norm weights centre on their offset 1.
  const all = await loadFixture(`${FIX}/ss_dec/ci`);
  assert.equal(all.weights.size, all.manifest.weights.length);
  for (const [name, w] of all.weights) {
    assert.equal(
      w.data.length,
      w.shape.reduce((a, b) => a * b, 1),
      name,
    );
  }
  const g = all.weights.get('out_layer.0.weight')?.data ?? new Float32Array();
  assert.ok(
    g.every((v) => v >= 0.9 && v <= 1.1),
    'norm weight outside offset 1 +- scale 0.1',
  );
});

test('ss_sample/ci: TS-regenerated noise + recorded velocities reproduce the official Euler/CFG steps', {
  skip: !have('ss_sample/ci'),
}, async () => {
  await keysMatch('ss_sample/ci', flowKeys(2));
  const fx = await loadFixture(`${FIX}/ss_sample/ci`, { filter: () => false });
  const runs = fx.manifest.runs as Record<string, { calls: string[]; t_seq: number[] }>;
  assert.deepEqual(runs.single?.calls, ['view0', 'neg', 'view0', 'neg', 'view0', 'neg']);
  // Stochastic multi-view: view = step mod 2; the last step (t = 0.4286 < 0.5) is outside the CFG interval.
  assert.deepEqual(runs.multi?.calls, [
    'view0',
    'neg',
    'view1',
    'neg',
    'view0',
    'neg',
    'view1',
    'neg',
    'view0',
  ]);
  const s = 7.5;
  for (const prefix of ['single', 'multi']) {
    const tSeq = fx.outputs.get(`${prefix}.t_seq`)?.f64 as Float64Array;
    const calls = runs[prefix]?.calls ?? [];
    let x = (fx.inputs.get('noise') as FixtureTensor).data;
    let c = 0;
    for (let i = 0; i + 1 < tSeq.length; i++) {
      const t = tSeq[i] ?? 0;
      const dt = t - (tSeq[i + 1] ?? 0);
      const vc = fx.outputs.get(`${prefix}.call${c}.v`)?.data as Float32Array;
      assert.equal(fx.outputs.get(`${prefix}.call${c}.t`)?.data[0], Math.fround(1000 * t));
      const cfg = calls[c + 1] === 'neg';
      const vu = cfg ? (fx.outputs.get(`${prefix}.call${c + 1}.v`)?.data as Float32Array) : null;
      c += cfg ? 2 : 1;
      const next = new Float32Array(x.length);
      for (let j = 0; j < x.length; j++) {
        const v = vu
          ? Math.fround(Math.fround((1 + s) * (vc[j] ?? 0)) - Math.fround(s * (vu[j] ?? 0)))
          : (vc[j] ?? 0);
        next[j] = (x[j] ?? 0) - Math.fround(dt * v);
      }
      const want = fx.outputs.get(`${prefix}.x_step${i}`)?.data as Float32Array;
      // Same float32 operation sequence as torch; only the rounding of the python-float scalars (7.5, dt) inside
      // torch's kernels may differ by an ulp, so allow 1e-5 of the latent's O(1) magnitude.
      let worst = 0;
      for (let j = 0; j < x.length; j++) worst = Math.max(worst, Math.abs((next[j] ?? 0) - (want[j] ?? 0)));
      assert.ok(worst < 1e-5, `${prefix} step ${i}: max diff ${worst}`);
      x = want;
    }
    assert.deepEqual(fx.outputs.get(`${prefix}.samples`)?.data, x);
  }
});
