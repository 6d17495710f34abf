/**
 * Where DINOv2 weights come from: the Hugging Face transformers layout (`Dinov2WithRegistersModel`,
 * `config.json` + `model.safetensors`, e.g. facebook/dinov2-with-registers-large) or torch-hub key names
 * (`dinov2_vitl14_reg.safetensors` + `dinov2_vitl14_reg.json` holding `{"args": {...}}` with the
 * DinoVisionTransformer constructor arguments).
 *
 * The model (dinov2.ts) speaks torch-hub names; `HfDinov2Store` presents an HF checkpoint under those names. The
 * whole key mapping is the table below. We never unpickle `.pth` files: convert one with
 * `python -c "import torch,safetensors.torch as s; s.save_file(torch.load('dinov2_vitl14_reg4_pretrain.pth'), 'dinov2_vitl14_reg.safetensors')"`.
 */

import { type ModelFiles, resolveModelFiles } from '../io/model-files.ts';
import { SafetensorsReader } from '../io/safetensors.ts';
import { SafetensorsWeightStore } from '../nn/safetensors-store.ts';
import { type LoadOptions, WeightError, type WeightStore } from '../nn/weights.ts';
import { Tensor } from '../runtime/tensor.ts';
import { DINOV2_VITL14_REG, type Dinov2Config } from './dinov2.ts';

/** torch-hub name -> HF name (per block `{i}`); q/k/v are three HF tensors concatenated into hub's qkv. */
export const DINOV2_HF_KEYS: Readonly<Record<string, string>> = {
  cls_token: 'embeddings.cls_token',
  mask_token: 'embeddings.mask_token',
  register_tokens: 'embeddings.register_tokens',
  pos_embed: 'embeddings.position_embeddings',
  'patch_embed.proj.weight': 'embeddings.patch_embeddings.projection.weight',
  'patch_embed.proj.bias': 'embeddings.patch_embeddings.projection.bias',
  'blocks.{i}.norm1.weight': 'encoder.layer.{i}.norm1.weight',
  'blocks.{i}.norm1.bias': 'encoder.layer.{i}.norm1.bias',
  'blocks.{i}.attn.proj.weight': 'encoder.layer.{i}.attention.output.dense.weight',
  'blocks.{i}.attn.proj.bias': 'encoder.layer.{i}.attention.output.dense.bias',
  'blocks.{i}.ls1.gamma': 'encoder.layer.{i}.layer_scale1.lambda1',
  'blocks.{i}.norm2.weight': 'encoder.layer.{i}.norm2.weight',
  'blocks.{i}.norm2.bias': 'encoder.layer.{i}.norm2.bias',
  'blocks.{i}.mlp.fc1.weight': 'encoder.layer.{i}.mlp.fc1.weight',
  'blocks.{i}.mlp.fc1.bias': 'encoder.layer.{i}.mlp.fc1.bias',
  'blocks.{i}.mlp.fc2.weight': 'encoder.layer.{i}.mlp.fc2.weight',
  'blocks.{i}.mlp.fc2.bias': 'encoder.layer.{i}.mlp.fc2.bias',
  'blocks.{i}.ls2.gamma': 'encoder.layer.{i}.layer_scale2.lambda1',
  'norm.weight': 'layernorm.weight',
  'norm.bias': 'layernorm.bias',
};

const QKV = ['query', 'key', 'value'] as const;

/** HF `Dinov2WithRegistersConfig` fields we read. */
export interface HfDinov2Config {
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  mlp_ratio?: number;
  patch_size: number;
  image_size: number;
  num_channels?: number;
  num_register_tokens?: number;
  layerscale_value?: number;
  qkv_bias?: boolean;
  use_swiglu_ffn?: boolean;
  hidden_act?: string;
  layer_norm_eps?: number;
}

export function dinov2ConfigFromHf(c: HfDinov2Config, source: string): Dinov2Config {
  if (c.use_swiglu_ffn)
    throw new WeightError(`${source}: SwiGLU DINOv2 variants (giant) are not supported; use ViT-L/14-reg`);
  if (c.hidden_act && c.hidden_act !== 'gelu')
    throw new WeightError(
      `${source}: hidden_act '${c.hidden_act}' is not supported (DINOv2 uses exact GELU)`,
    );
  if (c.layer_norm_eps !== undefined && Math.abs(c.layer_norm_eps - 1e-6) > 1e-12) {
    throw new WeightError(`${source}: layer_norm_eps ${c.layer_norm_eps} differs from DINOv2's 1e-6`);
  }
  return {
    img_size: c.image_size,
    patch_size: c.patch_size,
    embed_dim: c.hidden_size,
    depth: c.num_hidden_layers,
    num_heads: c.num_attention_heads,
    mlp_ratio: c.mlp_ratio ?? 4,
    num_register_tokens: c.num_register_tokens ?? 4,
    qkv_bias: c.qkv_bias ?? true,
    proj_bias: true,
    ffn_bias: true,
    ffn_layer: 'mlp',
    init_values: c.layerscale_value ?? 1.0,
    in_chans: c.num_channels ?? 3,
  };
}

function hubToHf(name: string): { hf: string[] } | null {
  const m = /^blocks\.(\d+)\.attn\.qkv\.(weight|bias)$/.exec(name);
  if (m) return { hf: QKV.map((q) => `encoder.layer.${m[1]}.attention.attention.${q}.${m[2]}`) };
  const b = /^blocks\.(\d+)\.(.*)$/.exec(name);
  const key = b ? `blocks.{i}.${b[2]}` : name;
  const hf = DINOV2_HF_KEYS[key];
  return hf ? { hf: [b ? hf.replace('{i}', b[1]) : hf] } : null;
}

/** Presents an HF-layout checkpoint under torch-hub key names. */
export class HfDinov2Store implements WeightStore {
  readonly source: string;
  private readonly inner: WeightStore;
  private readonly hubNames: string[];

  constructor(inner: WeightStore) {
    this.inner = inner;
    this.source = inner.source;
    const have = new Set(inner.names());
    const hub: string[] = [];
    const used = new Set<string>();
    // Walk every hub name we can derive from the HF names present.
    for (const n of have) {
      let h: string | null = null;
      const qkv = /^encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)\.(weight|bias)$/.exec(n);
      if (qkv) h = `blocks.${qkv[1]}.attn.qkv.${qkv[3]}`;
      else {
        for (const [hubKey, hfKey] of Object.entries(DINOV2_HF_KEYS)) {
          const re = new RegExp(`^${hfKey.replaceAll('.', '\\.').replace('{i}', '(\\d+)')}$`);
          const mm = re.exec(n);
          if (mm) h = hubKey.replace('{i}', mm[1] ?? '');
        }
      }
      // Unknown HF keys keep their name so the model's strict check reports them.
      const name = h ?? n;
      if (!used.has(name)) {
        used.add(name);
        hub.push(name);
      }
    }
    this.hubNames = hub;
  }

  names(): string[] {
    return this.hubNames;
  }

  shape(name: string): readonly number[] | undefined {
    const m = hubToHf(name);
    if (!m) return this.inner.shape(name);
    const shapes = m.hf.map((k) => this.inner.shape(k));
    if (shapes.some((s) => !s)) return undefined;
    if (shapes.length === 1) return shapes[0];
    return [shapes.reduce((a, s) => a + s![0], 0), ...shapes[0]!.slice(1)];
  }

  async readFloat32(name: string): Promise<Float32Array> {
    const m = hubToHf(name);
    if (!m) return this.inner.readFloat32(name);
    const parts = await Promise.all(m.hf.map((k) => this.inner.readFloat32(k)));
    if (parts.length === 1) return parts[0];
    const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  async load(name: string, options: LoadOptions): Promise<Tensor> {
    const m = hubToHf(name);
    if (m && m.hf.length === 1) return this.inner.load(m.hf[0], options);
    const shape = this.shape(name);
    if (!shape) throw new WeightError(`${this.source}: no tensor for ${name}`);
    return Tensor.fromArray(await this.readFloat32(name), shape, { gpu: options.gpu, dtype: options.dtype });
  }
}

/** File names looked for in a DINOv2 directory. */
export const DINOV2_FILES = {
  hfConfig: 'config.json',
  hfWeights: 'model.safetensors',
  hubWeights: 'dinov2_vitl14_reg.safetensors',
  hubConfig: 'dinov2_vitl14_reg.json',
} as const;

/**
 * Opens a DINOv2 weights directory in either layout.
 * @example
 * const { store, config } = await openDinov2Dir('model/dinov2');
 * const dino = await Dinov2.load(store, config, { gpu });
 */
export async function openDinov2Dir(
  dirOrFiles: string | ModelFiles,
): Promise<{ store: WeightStore & { close(): Promise<void> }; config: Dinov2Config; layout: 'hf' | 'hub' }> {
  const files = await resolveModelFiles(dirOrFiles);
  const isFile = async (rel: string) => (await files.kind(rel)) === 'file';
  const openStore = async (rel: string) => {
    const src = await files.open(rel);
    try {
      return new SafetensorsWeightStore(await SafetensorsReader.open(src), files.display(rel));
    } catch (e) {
      await src.close?.();
      throw e;
    }
  };
  if ((await isFile(DINOV2_FILES.hfConfig)) && (await isFile(DINOV2_FILES.hfWeights))) {
    const cfg = JSON.parse(await files.readText(DINOV2_FILES.hfConfig)) as HfDinov2Config;
    const inner = await openStore(DINOV2_FILES.hfWeights);
    const store = Object.assign(new HfDinov2Store(inner), { close: () => inner.close() });
    return { store, config: dinov2ConfigFromHf(cfg, files.display(DINOV2_FILES.hfConfig)), layout: 'hf' };
  }
  if (await isFile(DINOV2_FILES.hubWeights)) {
    let config = DINOV2_VITL14_REG;
    if (await isFile(DINOV2_FILES.hubConfig)) {
      const json = JSON.parse(await files.readText(DINOV2_FILES.hubConfig)) as {
        args?: Partial<Dinov2Config>;
      };
      if (!json.args)
        throw new WeightError(
          `${files.display(DINOV2_FILES.hubConfig)}: expected {"args": {...DinoVisionTransformer arguments}}`,
        );
      config = { ...DINOV2_VITL14_REG, ...json.args };
    }
    return { store: await openStore(DINOV2_FILES.hubWeights), config, layout: 'hub' };
  }
  throw new WeightError(
    `${files.root}: no DINOv2 weights found. Expected either ${DINOV2_FILES.hfConfig} + ${DINOV2_FILES.hfWeights} (Hugging Face facebook/dinov2-with-registers-large) or ${DINOV2_FILES.hubWeights} (+ ${DINOV2_FILES.hubConfig}) with torch-hub key names.`,
  );
}
