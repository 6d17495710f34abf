import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { maxAbs, maxAbsDiff } from '../../test/helpers/compare.ts';
import { openSafetensorsFile } from '../io/safetensors.node.ts';
import { MapWeightStore, WeightError } from '../nn/weights.ts';
import { Tensor } from '../runtime/tensor.ts';
import { Dinov2 } from './dinov2.ts';
import { HfDinov2Store, openDinov2Dir } from './dinov2-weights.ts';

const HF_DIR = 'test/fixtures/dinov2_hf';

test('HF-layout DINOv2 (save_pretrained by transformers) loads and matches transformers on the CPU', async () => {
  assert.ok(
    existsSync(`${HF_DIR}/model.safetensors`),
    `${HF_DIR} is missing: generate it on a machine with transformers: python3 tools/fixtures/dinov2_hf.py --out ${HF_DIR}`,
  );
  const { store, config, layout } = await openDinov2Dir(HF_DIR);
  assert.equal(layout, 'hf');
  const dino = await Dinov2.load(store, config, { gpu: null });
  const ref = await openSafetensorsFile(`${HF_DIR}/outputs.safetensors`);
  const image = await ref.readFloat32('image');
  const want = await ref.readFloat32('tokens');
  const got = (await dino.forward(Tensor.fromArray(image, [1, 3, config.img_size, config.img_size]))).data;
  // f32 on both sides; the LayerScale fold and summation order give ~1e-6 relative.
  const err = maxAbsDiff(got, want) / maxAbs(want);
  assert.ok(err < 1e-4, `relative error ${err}`);
  await ref.close();
  await store.close();
});

test('HF q/k/v are concatenated into the hub qkv in q, k, v order', async () => {
  const C = 2;
  const t = (v: number[]) => ({ shape: [C, C], data: Float32Array.from(v) });
  const inner = new MapWeightStore(
    new Map([
      ['encoder.layer.0.attention.attention.query.weight', t([1, 2, 3, 4])],
      ['encoder.layer.0.attention.attention.key.weight', t([5, 6, 7, 8])],
      ['encoder.layer.0.attention.attention.value.weight', t([9, 10, 11, 12])],
      ['embeddings.cls_token', { shape: [1, 1, C], data: Float32Array.from([0, 1]) }],
    ]),
  );
  const hub = new HfDinov2Store(inner);
  assert.deepEqual(hub.names().sort(), ['blocks.0.attn.qkv.weight', 'cls_token']);
  assert.deepEqual(hub.shape('blocks.0.attn.qkv.weight'), [6, 2]);
  assert.deepEqual(
    [...(await hub.readFloat32('blocks.0.attn.qkv.weight'))],
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
  );
});

test('a directory without DINOv2 weights names both accepted layouts', async () => {
  await assert.rejects(openDinov2Dir('test/fixtures/ss_dec'), (e: Error) => {
    assert.ok(e instanceof WeightError);
    assert.match(e.message, /config\.json \+ model\.safetensors/);
    assert.match(e.message, /dinov2_vitl14_reg\.safetensors/);
    return true;
  });
});
