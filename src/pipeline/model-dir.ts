/**
 * The model directory: the Hugging Face layout of `Sm0kyWu/Amodal3R` (ARCHITECTURE.md §0).
 *
 * ```
 * <dir>/pipeline.json                       {"name": ..., "args": {"models": {role: "Amodal3R_ckpts/<stem>"}, samplers,
 *                                            "slat_normalization": {mean, std}, "image_cond_model": ...}}
 * <dir>/Amodal3R_ckpts/<stem>.json          {"name": <class>, "args": {...constructor arguments}}
 * <dir>/Amodal3R_ckpts/<stem>.safetensors
 * <dir>/dinov2/                             DINOv2 ViT-L/14-reg: HF layout (config.json + model.safetensors) or
 *                                            torch-hub names (dinov2_vitl14_reg.safetensors [+ .json])
 * ```
 *
 * `openModelDir` validates everything up front, before any weight is read: missing or unparsable files, unknown class
 * names, and each checkpoint's key/shape table against its safetensors header (the same strict check the model
 * runs at load time, without loading data). All problems are collected and reported in one `ModelDirError`, each with
 * its fix.
 *
 * Stage 2 is optional here: a pipeline.json without the SLAT models (or a build without their implementation) opens
 * with `stage2: null` and a warning; the pipeline then produces stage-1 outputs only.
 *
 * Notes: the role -> class table and the expected-shape functions are the only model knowledge in this file; the
 * stems are never hard-coded (the flow-model stems of the release are UNCONFIRMED, so they are read from
 * pipeline.json).
 */

import { joinRel, type ModelFiles, resolveModelFiles } from '../io/model-files.ts';
import { SafetensorsReader } from '../io/safetensors.ts';
import type { Dinov2Config } from '../models/dinov2.ts';
import { dinov2ExpectedShapes } from '../models/dinov2.ts';
import { openDinov2Dir } from '../models/dinov2-weights.ts';
import type { SlatDecoderConfig } from '../models/slat-decoder-base.ts';
import { slatGsExpectedShapes } from '../models/slat-decoder-gs.ts';
import { slatMeshExpectedShapes } from '../models/slat-decoder-mesh.ts';
import { slatRfExpectedShapes } from '../models/slat-decoder-rf.ts';
import { type SLatFlowConfig, slatFlowExpectedShapes } from '../models/slat-flow.ts';
import { ssDecoderExpectedShapes } from '../models/ss-decoder.ts';
import { ssFlowExpectedShapes } from '../models/ss-flow.ts';
import { SafetensorsWeightStore } from '../nn/safetensors-store.ts';
import { checkWeights, WeightError } from '../nn/weights.ts';
import { SLAT_SAMPLER_DEFAULTS, SS_SAMPLER_DEFAULTS } from './sampler.ts';

/** The models a pipeline.json lists, by role (the keys of `args.models`). */
export type ModelRole =
  | 'sparse_structure_flow_model'
  | 'sparse_structure_decoder'
  | 'slat_flow_model'
  | 'slat_decoder_gs'
  | 'slat_decoder_mesh'
  | 'slat_decoder_rf';

export const STAGE1_ROLES: readonly ModelRole[] = ['sparse_structure_flow_model', 'sparse_structure_decoder'];
/** Stage-2 roles the pipeline needs (`slat_decoder_rf` is optional and unused by Amodal3R). */
export const STAGE2_ROLES: readonly ModelRole[] = ['slat_flow_model', 'slat_decoder_gs', 'slat_decoder_mesh'];
export const ALL_ROLES: readonly ModelRole[] = [...STAGE1_ROLES, ...STAGE2_ROLES, 'slat_decoder_rf'];

/** Expected state-dict key -> shape table of a class, from its constructor arguments. */
export type ExpectedShapesFn = (args: Record<string, unknown>) => Map<string, number[]>;

interface ClassSpec {
  role: ModelRole;
  /** Null while the class is known but not implemented in this build. */
  expectedShapes: ExpectedShapesFn | null;
}

/**
 * Classes accepted per role (the official names in each `<stem>.json`). Stage-2 entries get their shape tables
 * from the stage-2 model files through {@link registerModelClass}.
 */
const CLASSES = new Map<string, ClassSpec>([
  [
    'SparseStructureFlowModelMaskAsCondWeighted',
    {
      role: 'sparse_structure_flow_model',
      expectedShapes: (a) => ssFlowExpectedShapes(a as unknown as Parameters<typeof ssFlowExpectedShapes>[0]),
    },
  ],
  [
    'SparseStructureDecoder',
    {
      role: 'sparse_structure_decoder',
      expectedShapes: (a) =>
        ssDecoderExpectedShapes(a as unknown as Parameters<typeof ssDecoderExpectedShapes>[0]),
    },
  ],
  [
    'SLatFlowModelMaskAsCondWeighted',
    {
      role: 'slat_flow_model',
      expectedShapes: (a) => slatFlowExpectedShapes(a as unknown as SLatFlowConfig),
    },
  ],
  [
    'SLatGaussianDecoder',
    {
      role: 'slat_decoder_gs',
      expectedShapes: (a) => slatGsExpectedShapes(a as unknown as SlatDecoderConfig),
    },
  ],
  [
    'SLatMeshDecoder',
    {
      role: 'slat_decoder_mesh',
      expectedShapes: (a) => slatMeshExpectedShapes(a as unknown as SlatDecoderConfig),
    },
  ],
  [
    'SLatRadianceFieldDecoder',
    {
      role: 'slat_decoder_rf',
      expectedShapes: (a) => slatRfExpectedShapes(a as unknown as SlatDecoderConfig),
    },
  ],
]);

/**
 * Declares (or replaces) the shape table of a model class, making it loadable.
 * @example
 * registerModelClass('SLatGaussianDecoder', 'slat_decoder_gs', (a) => slatGsExpectedShapes(a));
 */
export function registerModelClass(name: string, role: ModelRole, expectedShapes: ExpectedShapesFn): void {
  CLASSES.set(name, { role, expectedShapes });
}

/** The shape table of a class, or null when the class is unknown or not implemented in this build. */
export function expectedShapesFor(className: string): ExpectedShapesFn | null {
  return CLASSES.get(className)?.expectedShapes ?? null;
}

/** The class names accepted for `role`. */
export function classesForRole(role: ModelRole): string[] {
  return [...CLASSES].filter(([, s]) => s.role === role).map(([n]) => n);
}

/** A sampler entry of pipeline.json. */
export interface SamplerJson {
  name: string;
  args?: Record<string, unknown>;
  params?: {
    steps?: number;
    cfg_strength?: number;
    cfg_interval?: [number, number];
    rescale_t?: number;
  };
}

export interface PipelineJson {
  name: string;
  args: {
    models: Partial<Record<ModelRole, string>> & Record<string, string>;
    sparse_structure_sampler?: SamplerJson;
    slat_sampler?: SamplerJson;
    slat_normalization?: { mean: number[]; std: number[] };
    image_cond_model?: string;
  };
}

/** One checkpoint: `<stem>.json` + `<stem>.safetensors`. */
export interface ModelEntry {
  role: ModelRole;
  /** The value in pipeline.json, e.g. `Amodal3R_ckpts/ss_dec_conv3d_16l8_fp16`. */
  stem: string;
  /** Config and weights paths for messages. */
  jsonPath: string;
  weightsPath: string;
  /** The model folder and the weights' path inside it. */
  files: ModelFiles;
  weightsRel: string;
  className: string;
  args: Record<string, unknown>;
}

/** Sampler settings resolved from pipeline.json (official defaults where absent). */
export interface SamplerSettings {
  steps: number;
  cfgStrength: number;
  cfgInterval: [number, number];
  rescaleT: number;
}

export interface ModelDir {
  /** The folder's name (an absolute path on disk, or a URL / picked folder in a browser). */
  dir: string;
  files: ModelFiles;
  pipeline: PipelineJson;
  models: Partial<Record<ModelRole, ModelEntry>>;
  dinov2: { dir: string; files: ModelFiles; config: Dinov2Config; layout: 'hf' | 'hub' };
  ssSampler: SamplerSettings;
  slatSampler: SamplerSettings;
  /** Per-channel de-normalisation of the SLAT (`x * std + mean`), when stage 2 is present. */
  slatNormalization: { mean: number[]; std: number[] } | null;
  /** True when every stage-2 model is listed, present and implemented. */
  stage2: boolean;
  /** Why stage 2 is unavailable (empty when it is available). */
  stage2Missing: string[];
  warnings: string[];
}

/** Every problem found in a model directory, one per line, each with its fix. */
export class ModelDirError extends Error {
  readonly problems: string[];
  constructor(dir: string, problems: string[]) {
    super(
      `${dir}: the model directory is not usable (${problems.length} problem${problems.length > 1 ? 's' : ''}):\n  - ${problems.join('\n  - ')}`,
    );
    this.name = 'ModelDirError';
    this.problems = problems;
  }
}

export const PIPELINE_FILE = 'pipeline.json';
export const DINOV2_SUBDIR = 'dinov2';
const FIX_DOWNLOAD =
  'run `amodal3r download --to <dir>` (or `amodal3r make-test-model` for random test weights)';

async function readJson(files: ModelFiles, rel: string): Promise<unknown> {
  return JSON.parse(await files.readText(rel));
}

/** Opens a safetensors file of the model folder (the source is closed with the reader). */
async function openSafetensors(files: ModelFiles, rel: string): Promise<SafetensorsReader> {
  const src = await files.open(rel);
  try {
    return await SafetensorsReader.open(src);
  } catch (e) {
    await src.close?.();
    throw e;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function samplerSettings(
  json: SamplerJson | undefined,
  dflt: { steps: number; cfgStrength: number; cfgInterval: readonly [number, number]; rescaleT: number },
): SamplerSettings {
  const p = json?.params ?? {};
  return {
    steps: p.steps ?? dflt.steps,
    cfgStrength: p.cfg_strength ?? dflt.cfgStrength,
    cfgInterval: p.cfg_interval
      ? [p.cfg_interval[0], p.cfg_interval[1]]
      : [dflt.cfgInterval[0], dflt.cfgInterval[1]],
    rescaleT: p.rescale_t ?? dflt.rescaleT,
  };
}

/** Checks one checkpoint; pushes problems; returns the entry when its json is usable. */
async function checkModel(
  files: ModelFiles,
  role: ModelRole,
  stem: string,
  problems: string[],
  opts: { checkHeaders: boolean },
): Promise<{ entry: ModelEntry | null; unimplemented: boolean }> {
  const jsonRel = joinRel(`${stem}.json`);
  const weightsRel = joinRel(`${stem}.safetensors`);
  const jsonPath = files.display(jsonRel);
  const weightsPath = files.display(weightsRel);
  let entry: ModelEntry | null = null;
  let unimplemented = false;
  if ((await files.kind(jsonRel)) !== 'file') {
    problems.push(`${role}: config ${jsonPath} is missing — ${FIX_DOWNLOAD}`);
  } else {
    let json: unknown;
    try {
      json = await readJson(files, jsonRel);
    } catch (e) {
      problems.push(`${role}: ${jsonPath} is not valid JSON (${(e as Error).message}) — re-download it`);
    }
    if (json !== undefined) {
      if (!isRecord(json) || typeof json.name !== 'string' || !isRecord(json.args)) {
        problems.push(`${role}: ${jsonPath} must be {"name": <class>, "args": {...}} — re-download it`);
      } else {
        const spec = CLASSES.get(json.name);
        if (!spec || spec.role !== role) {
          problems.push(
            `${role}: ${jsonPath} names class '${json.name}', expected one of ${classesForRole(role).join(', ')} — check that pipeline.json points this role at the right checkpoint`,
          );
        } else {
          entry = {
            role,
            stem,
            jsonPath,
            weightsPath,
            files,
            weightsRel,
            className: json.name,
            args: json.args,
          };
          unimplemented = spec.expectedShapes === null;
        }
      }
    }
  }
  if ((await files.kind(weightsRel)) !== 'file') {
    problems.push(`${role}: weights ${weightsPath} are missing — ${FIX_DOWNLOAD}`);
    return { entry, unimplemented };
  }
  if (!opts.checkHeaders) return { entry, unimplemented };
  let reader: SafetensorsReader | null = null;
  try {
    reader = await openSafetensors(files, weightsRel);
    const spec = entry ? CLASSES.get(entry.className) : undefined;
    if (entry && spec?.expectedShapes) {
      let expected: Map<string, number[]> | null = null;
      try {
        expected = spec.expectedShapes(entry.args);
      } catch (e) {
        problems.push(`${role}: ${jsonPath} has unusable args: ${(e as Error).message}`);
      }
      if (expected) checkWeights(new SafetensorsWeightStore(reader, weightsPath), expected, entry.className);
    }
  } catch (e) {
    problems.push(`${role}: ${(e as Error).message}`);
  } finally {
    await reader?.close();
  }
  return { entry, unimplemented };
}

/** DINOv2 configuration constraints imposed by Amodal3R's fixed condition layout. */
function dinov2Problems(c: Dinov2Config, where: string): string[] {
  const out: string[] = [];
  if (c.embed_dim !== 1024)
    out.push(`${where}: DINOv2 width ${c.embed_dim}, but the condition is 1024 channels wide (ViT-L)`);
  if (c.patch_size !== 14 || Math.floor(c.img_size / c.patch_size) !== 37)
    out.push(
      `${where}: DINOv2 must see 518x518 images in 14-pixel patches (37x37 grid), got img_size ${c.img_size} / patch ${c.patch_size}`,
    );
  if (c.num_register_tokens !== 4)
    out.push(`${where}: DINOv2 needs 4 register tokens (dinov2_vitl14_reg), got ${c.num_register_tokens}`);
  return out;
}

export interface OpenModelDirOptions {
  /** Check every checkpoint's keys and shapes against its safetensors header (default true). */
  checkHeaders?: boolean;
  /** Fail unless stage 2 is available (default false: stage 1 alone is usable). */
  requireStage2?: boolean;
}

/**
 * Opens and validates a model directory. Throws one {@link ModelDirError} listing every problem.
 *
 * @example
 * const model = await openModelDir('models/Amodal3R');
 * if (!model.stage2) console.warn(model.stage2Missing.join('\n'));
 */
export async function openModelDir(
  dirOrFiles: string | ModelFiles,
  options: OpenModelDirOptions = {},
): Promise<ModelDir> {
  const checkHeaders = options.checkHeaders ?? true;
  const files = await resolveModelFiles(dirOrFiles);
  const dirIn = typeof dirOrFiles === 'string' ? dirOrFiles : files.root;
  const dir = files.root;
  if ((await files.kind('')) !== 'dir') {
    throw new ModelDirError(dirIn, [`${dir} is not a directory — ${FIX_DOWNLOAD}`]);
  }
  const problems: string[] = [];
  const warnings: string[] = [];
  const pipelinePath = files.display(PIPELINE_FILE);
  let pipeline: PipelineJson | null = null;
  if ((await files.kind(PIPELINE_FILE)) !== 'file') {
    problems.push(`${pipelinePath} is missing — ${FIX_DOWNLOAD}`);
  } else {
    try {
      const json = await readJson(files, PIPELINE_FILE);
      if (!isRecord(json) || !isRecord(json.args) || !isRecord(json.args.models)) {
        problems.push(`${pipelinePath}: expected {"name": ..., "args": {"models": {...}}} — re-download it`);
      } else pipeline = json as unknown as PipelineJson;
    } catch (e) {
      problems.push(`${pipelinePath} is not valid JSON (${(e as Error).message}) — re-download it`);
    }
  }
  const models: Partial<Record<ModelRole, ModelEntry>> = {};
  const stage2Missing: string[] = [];
  if (pipeline) {
    const listed = pipeline.args.models;
    for (const k of Object.keys(listed)) {
      if (!ALL_ROLES.includes(k as ModelRole))
        warnings.push(`${pipelinePath}: unknown model role '${k}' ignored`);
    }
    for (const role of ALL_ROLES) {
      const stem = listed[role];
      if (typeof stem !== 'string') {
        if (STAGE1_ROLES.includes(role))
          problems.push(`${pipelinePath}: args.models.${role} is missing — re-download pipeline.json`);
        else if (STAGE2_ROLES.includes(role)) stage2Missing.push(`pipeline.json lists no ${role}`);
        continue;
      }
      const { entry, unimplemented } = await checkModel(files, role, stem, problems, { checkHeaders });
      if (entry) models[role] = entry;
      if (unimplemented) {
        const msg = `${role} (${entry?.className}) is not implemented in this build`;
        if (STAGE2_ROLES.includes(role)) stage2Missing.push(msg);
        else if (role !== 'slat_decoder_rf') problems.push(msg);
      }
    }
    const norm = pipeline.args.slat_normalization;
    if (
      norm &&
      !(Array.isArray(norm.mean) && Array.isArray(norm.std) && norm.mean.length === norm.std.length)
    )
      problems.push(`${pipelinePath}: args.slat_normalization must hold equal-length mean and std arrays`);
  }
  const dinoDir = files.display(DINOV2_SUBDIR);
  const dinoFiles = files.sub(DINOV2_SUBDIR);
  let dinov2: ModelDir['dinov2'] | null = null;
  if ((await files.kind(DINOV2_SUBDIR)) !== 'dir') {
    problems.push(
      `${dinoDir} is missing (DINOv2 is not part of the Amodal3R repo) — ${FIX_DOWNLOAD}, which fetches facebook/dinov2-with-registers-large into it`,
    );
  } else {
    try {
      const { store, config, layout } = await openDinov2Dir(dinoFiles);
      try {
        const dp = dinov2Problems(config, dinoDir);
        problems.push(...dp);
        if (checkHeaders && dp.length === 0) checkWeights(store, dinov2ExpectedShapes(config), 'DINOv2');
      } catch (e) {
        problems.push(`dinov2: ${(e as Error).message}`);
      } finally {
        await store.close();
      }
      dinov2 = { dir: dinoDir, files: dinoFiles, config, layout };
    } catch (e) {
      problems.push(`dinov2: ${(e as Error).message}`);
    }
  }
  if (problems.length > 0 || !pipeline || !dinov2) throw new ModelDirError(dirIn, problems);
  const norm = pipeline.args.slat_normalization ?? null;
  if (stage2Missing.length === 0 && !norm) stage2Missing.push('pipeline.json has no args.slat_normalization');
  const stage2 = stage2Missing.length === 0;
  if (!stage2) {
    if (options.requireStage2)
      throw new ModelDirError(
        dirIn,
        stage2Missing.map((m) => `stage 2: ${m}`),
      );
    warnings.push(
      `stage 2 unavailable (${stage2Missing.join('; ')}): only stage-1 outputs (occupancy.ply) can be made`,
    );
  }
  return {
    dir,
    files,
    pipeline,
    models,
    dinov2,
    ssSampler: samplerSettings(pipeline.args.sparse_structure_sampler, SS_SAMPLER_DEFAULTS),
    slatSampler: samplerSettings(pipeline.args.slat_sampler, SLAT_SAMPLER_DEFAULTS),
    slatNormalization: norm,
    stage2,
    stage2Missing,
    warnings,
  };
}

/**
 * Opens a checkpoint's weights as a `WeightStore` (close it after loading).
 * @example
 * const store = await openModelWeights(model.models.sparse_structure_decoder!);
 * try { dec = await SparseStructureDecoder.load(store, entry.args as SsDecoderConfig, { gpu }); } finally { await store.close(); }
 */
export async function openModelWeights(entry: ModelEntry): Promise<SafetensorsWeightStore> {
  try {
    return new SafetensorsWeightStore(
      await openSafetensors(entry.files, entry.weightsRel),
      entry.weightsPath,
    );
  } catch (e) {
    throw new WeightError(`${entry.role}: ${(e as Error).message}`);
  }
}
