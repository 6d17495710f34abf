/**
 * Loader for the parity fixtures written by the official PyTorch code (`tools/fixtures/*.py`, see
 * docs/fixtures.md). A fixture folder holds `manifest.json` (module, config, every weight and generated input with
 * its detweights parameters) and `outputs.safetensors` (reference outputs and the few small stored inputs).
 * Weights and generated inputs are rebuilt here with `detGenerate`, bit-identical to the Python side.
 *
 * Notes: full-size fixtures (ViT-L, 24-block flow) have ~3e8 weight elements; pass `filter` to regenerate only
 * what a test needs instead of the whole state dict.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bytesSource } from '../io/byte-source.ts';
import { SafetensorsReader } from '../io/safetensors.ts';
import { type DetKind, detGenerate } from './detweights.ts';

/** A weight entry of a manifest. */
export interface FixtureWeightSpec {
  name: string;
  shape: number[];
  scale: number;
  offset: number;
  kind: DetKind;
  /** Dtype of the parameter inside the official module (float32, or float16 under use_fp16). */
  model_dtype: string;
}

/** An input entry: generated (`uniform`/`ratio196`) or `stored` in outputs.safetensors. */
export interface FixtureInputSpec {
  name: string;
  shape: number[];
  kind: DetKind | 'stored';
  scale?: number;
  offset?: number;
}

/** The parts of `manifest.json` every fixture has (scripts add fixture-specific keys). */
export interface FixtureManifest {
  fixture: string;
  module: string;
  config: Record<string, unknown>;
  weights: FixtureWeightSpec[];
  state_dict_keys: string[];
  inputs: FixtureInputSpec[];
  outputs: { name: string; shape: number[]; dtype: string }[];
  official: Record<string, string>;
  shims: string[];
  tolerance: string;
  [key: string]: unknown;
}

/** A dense row-major tensor. `f64` is set for float64 outputs (e.g. sampler schedules). */
export interface FixtureTensor {
  shape: number[];
  data: Float32Array;
  f64?: Float64Array;
}

/** A loaded fixture. */
export interface Fixture {
  dir: string;
  manifest: FixtureManifest;
  weights: Map<string, FixtureTensor>;
  inputs: Map<string, FixtureTensor>;
  outputs: Map<string, FixtureTensor>;
}

/** Options for `loadFixture`. */
export interface LoadFixtureOptions {
  /** Regenerate only the weights whose name passes (default: all). */
  filter?: (name: string) => boolean;
}

/** Token counts of the Amodal3R condition (spec a.4): 1374 DINO tokens + 1369 visibility + 1369 occlusion. */
export const COND_TOKENS = 1374;
export const COND_PATCHES = 37 * 37;
export const COND_CHANNELS = 1024;

/**
 * Loads a fixture folder: manifest, regenerated weights and inputs, reference outputs.
 * @example
 * const fx = await loadFixture('test/fixtures/ss_flow/p1');
 * const v = fx.outputs.get('v_cond'); // [1,8,8,8,8]
 */
export async function loadFixture(dir: string, options: LoadFixtureOptions = {}): Promise<Fixture> {
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as FixtureManifest;
  const bytes = await readFile(join(dir, 'outputs.safetensors'));
  const reader = await SafetensorsReader.open(bytesSource(bytes, join(dir, 'outputs.safetensors')));
  const outputs = new Map<string, FixtureTensor>();
  for (const name of reader.names) {
    const info = reader.info(name);
    const shape = [...info.shape];
    if (info.dtype === 'F64') {
      const raw = await reader.readRaw(name);
      const f64 = new Float64Array(Uint8Array.from(raw).buffer); // aligned copy (raw may view a pooled Buffer)
      outputs.set(name, { shape, data: Float32Array.from(f64), f64 });
    } else {
      outputs.set(name, { shape, data: await reader.readFloat32(name) });
    }
  }
  const weights = new Map<string, FixtureTensor>();
  const keep = options.filter ?? (() => true);
  for (const w of manifest.weights) {
    if (!keep(w.name)) continue;
    weights.set(w.name, { shape: w.shape, data: detGenerate(w) });
  }
  const inputs = new Map<string, FixtureTensor>();
  for (const e of manifest.inputs) {
    if (e.kind === 'stored') {
      const t = outputs.get(e.name);
      if (!t)
        throw new Error(`loadFixture(${dir}): stored input '${e.name}' missing from outputs.safetensors`);
      inputs.set(e.name, t);
    } else {
      const data = detGenerate({
        name: e.name,
        shape: e.shape,
        scale: e.scale ?? 1,
        offset: e.offset ?? 0,
        kind: e.kind,
      });
      inputs.set(e.name, { shape: e.shape, data });
    }
  }
  return { dir, manifest, weights, inputs, outputs };
}

/**
 * Builds the [B, 4112, 1024] flow condition exactly as the official `get_cond_w_masks`: the 1374 image tokens,
 * then each visibility ratio repeated over the 1024 channels, then each occlusion ratio likewise.
 * @example
 * const cond = buildCond(fx.inputs.get('cond_tokens')!, fx.inputs.get('cond_vis')!, fx.inputs.get('cond_occ')!);
 */
export function buildCond(tokens: FixtureTensor, vis: FixtureTensor, occ: FixtureTensor): FixtureTensor {
  const b = tokens.shape[0] ?? 0;
  const ok =
    tokens.shape.length === 3 &&
    tokens.shape[1] === COND_TOKENS &&
    tokens.shape[2] === COND_CHANNELS &&
    vis.data.length === b * COND_PATCHES &&
    occ.data.length === b * COND_PATCHES;
  if (!ok) {
    throw new Error(
      `buildCond: expected tokens [B,${COND_TOKENS},${COND_CHANNELS}] and ratios [B,${COND_PATCHES}], got ` +
        `[${tokens.shape.join(',')}], [${vis.shape.join(',')}], [${occ.shape.join(',')}]`,
    );
  }
  const rows = COND_TOKENS + 2 * COND_PATCHES;
  const out = new Float32Array(b * rows * COND_CHANNELS);
  for (let i = 0; i < b; i++) {
    const base = i * rows * COND_CHANNELS;
    out.set(
      tokens.data.subarray(i * COND_TOKENS * COND_CHANNELS, (i + 1) * COND_TOKENS * COND_CHANNELS),
      base,
    );
    for (let p = 0; p < COND_PATCHES; p++) {
      const v = vis.data[i * COND_PATCHES + p] ?? 0;
      const o = occ.data[i * COND_PATCHES + p] ?? 0;
      out.fill(v, base + (COND_TOKENS + p) * COND_CHANNELS, base + (COND_TOKENS + p + 1) * COND_CHANNELS);
      out.fill(
        o,
        base + (COND_TOKENS + COND_PATCHES + p) * COND_CHANNELS,
        base + (COND_TOKENS + COND_PATCHES + p + 1) * COND_CHANNELS,
      );
    }
  }
  return { shape: [b, rows, COND_CHANNELS], data: out };
}
