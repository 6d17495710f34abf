/**
 * Messages between the page and the pipeline Worker. Everything crosses with structured clone: images and masks
 * as raw pixels, the model as the picked `File`s, a directory handle or a URL (all cloneable), results as bytes.
 */

import type { RawImage } from '../../src/io/raw-image.ts';
import type { StageName } from '../../src/pipeline/run.ts';
import type { GrayMask } from '../../src/preprocess/mask.ts';
import type { DirHandle, RelFile } from './browser-model-files.ts';

/** Where the model comes from. */
export type ModelSource =
  | { kind: 'files'; root: string; files: RelFile[] }
  | { kind: 'handle'; handle: DirHandle }
  | { kind: 'url'; url: string };

/** Compute device choice in the page ('auto' = WebGPU when the browser has an adapter, else the CPU). */
export type WebDevice = 'auto' | 'webgpu' | 'cpu';

export interface RunSettings {
  seed: number;
  ssSteps: number;
  slatSteps: number;
  device: WebDevice;
  /** Also decode the mesh (GLB). */
  mesh: boolean;
}

export type ToWorker =
  | { type: 'validate'; model: ModelSource }
  | { type: 'run'; model: ModelSource; images: RawImage[]; masks: GrayMask[]; settings: RunSettings }
  | { type: 'cancel' }
  | { type: 'probe' };

/** Error classes the page explains differently. */
export type ErrorKind = 'no-webgpu' | 'model' | 'oom' | 'input' | 'cancelled' | 'other';

export type FromWorker =
  | { type: 'validated'; ok: true; summary: string; warnings: string[] }
  | { type: 'validated'; ok: false; kind: ErrorKind; message: string }
  | { type: 'device'; description: string }
  | { type: 'progress'; stage: StageName; done: number; total: number }
  | { type: 'weights'; read: number; total: number }
  | { type: 'warning'; message: string }
  | {
      type: 'result';
      ply: ArrayBuffer | null;
      glb: ArrayBuffer | null;
      gaussians: number;
      voxels: number;
      triangles: number;
      seconds: number;
      device: string;
      timings: { stage: string; seconds: number }[];
    }
  | { type: 'error'; kind: ErrorKind; message: string }
  | {
      type: 'probe';
      /** Adapter description, or null when the Worker gets no WebGPU adapter. */
      adapter: string | null;
      /** Largest |GPU - CPU twin| of the check product, relative to its largest |value| (null without adapter). */
      relDiff: number | null;
      ok: boolean;
      message: string;
    };
