/**
 * The pipeline Worker: opens the model (validating it first), runs `runPipeline` from the library on WebGPU (or
 * the CPU twins), streams progress to the page and returns the Gaussians as a 3DGS PLY and the mesh as GLB.
 *
 * Notes:
 * - A Worker keeps the page responsive: a stage of the pipeline can block its thread for seconds between awaits.
 * - Cancel is cooperative (`AbortSignal`, checked between steps); the page also terminates the Worker if a
 *   cancelled run does not stop within a grace period, which frees the GPU device with it.
 * - Errors are sorted into kinds the page explains (no WebGPU, incomplete model, out of memory, input); the
 *   library's messages already say what to fix, so they are passed on unchanged.
 */

import type { ModelFiles } from '../../src/io/model-files.ts';
import { encodePly, rowsToProperties } from '../../src/io/ply-gaussians.ts';
import { matmul } from '../../src/ops/matmul/matmul.ts';
import { type ModelDir, openModelDir } from '../../src/pipeline/model-dir.ts';
import { runPipeline } from '../../src/pipeline/run.ts';
import { meshToGlb } from '../../src/representations/mesh.ts';
import { GpuContext } from '../../src/runtime/gpu.ts';
import { Tensor } from '../../src/runtime/tensor.ts';
import {
  countingModelFiles,
  directoryHandleModelFiles,
  fileListModelFiles,
  type ReadCounter,
  urlModelFiles,
} from './browser-model-files.ts';
import { classifyError } from './errors.ts';
import type { FromWorker, ModelSource, ToWorker } from './protocol.ts';

/** The Worker global, typed with the two members used (the DOM lib's `self` is a Window). */
interface WorkerScope {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (ev: MessageEvent<ToWorker>) => void): void;
}
const scope = self as unknown as WorkerScope;

/** Weight progress messages are sent at most this often (ms), so byte-range reads do not flood the page. */
const WEIGHT_PROGRESS_INTERVAL_MS = 100;

/** Shape of the WebGPU self-check product [M, K] x [K, N]: awkward sizes so edge tiles run. */
const PROBE_M = 37;
const PROBE_K = 61;
const PROBE_N = 53;
/**
 * Allowed relative difference of the self-check: both sides accumulate 61 f32 products in different orders, so
 * they agree to ~1e-6 relative; 1e-4 leaves room for fused multiply-add differences and still fails any wrong
 * index or tile (which give O(1) errors).
 */
const PROBE_TOLERANCE = 1e-4;

let controller: AbortController | null = null;

function post(m: FromWorker, transfer: Transferable[] = []): void {
  scope.postMessage(m, transfer);
}

function modelFiles(src: ModelSource, onWarning: (m: string) => void): ModelFiles {
  if (src.kind === 'files') return fileListModelFiles(src.files, src.root);
  if (src.kind === 'handle') return directoryHandleModelFiles(src.handle);
  return urlModelFiles(src.url, { onWarning });
}

function summarize(m: ModelDir): string {
  const stage2 = m.stage2 ? 'stages 1 and 2' : 'stage 1 only';
  return `${m.pipeline.name || 'model'}: ${Object.keys(m.models).length} checkpoints + DINOv2 (${stage2})`;
}

async function validate(src: ModelSource): Promise<void> {
  const warnings: string[] = [];
  try {
    const m = await openModelDir(modelFiles(src, (w) => warnings.push(w)));
    post({ type: 'validated', ok: true, summary: summarize(m), warnings: [...warnings, ...m.warnings] });
  } catch (e) {
    const c = classifyError(e);
    post({ type: 'validated', ok: false, kind: c.kind, message: c.message });
  }
}

async function run(msg: Extract<ToWorker, { type: 'run' }>): Promise<void> {
  const ctl = new AbortController();
  controller = ctl;
  const counter: ReadCounter = { read: 0, total: 0 };
  let last = 0;
  const onRead = () => {
    const now = performance.now();
    if (now - last < WEIGHT_PROGRESS_INTERVAL_MS) return;
    last = now;
    post({ type: 'weights', read: counter.read, total: counter.total });
  };
  const warn = (message: string) => post({ type: 'warning', message });
  let gpu: GpuContext | null = null;
  try {
    const s = msg.settings;
    if (s.device !== 'cpu') {
      gpu = await GpuContext.create();
      if (!gpu && s.device === 'webgpu') {
        post({
          type: 'error',
          kind: 'no-webgpu',
          message: 'This browser gives no WebGPU adapter to the page.',
        });
        return;
      }
      if (!gpu) warn('No WebGPU adapter: running on the CPU, which is much slower.');
    }
    post({
      type: 'device',
      description: gpu
        ? `WebGPU (${[gpu.adapterInfo.vendor, gpu.adapterInfo.architecture, gpu.adapterInfo.description].filter(Boolean).join(' ')})`
        : 'CPU',
    });
    const files = countingModelFiles(modelFiles(msg.model, warn), counter, onRead);
    const model = await openModelDir(files);
    for (const w of model.warnings) warn(w);
    const r = await runPipeline({
      images: msg.images,
      masks: msg.masks,
      model,
      gpu,
      seed: s.seed,
      ssSteps: s.ssSteps,
      slatSteps: s.slatSteps,
      outputs: { gaussians: true, mesh: s.mesh, frames: false },
      onProgress: (e) => post({ type: 'progress', stage: e.stage, done: e.done, total: e.total }),
      onWarning: warn,
      signal: ctl.signal,
    });
    post({ type: 'weights', read: counter.read, total: counter.total });
    const ply = r.gaussians ? encodePly(rowsToProperties(r.gaussians.toPlyProperties())) : null;
    const glb = r.mesh ? await meshToGlb(r.mesh) : null;
    for (const sk of r.skipped) warn(`${sk.output}: not produced (${sk.reason})`);
    const plyBuf = ply ? (ply.buffer as ArrayBuffer) : null;
    const glbBuf = glb
      ? (glb.buffer.slice(glb.byteOffset, glb.byteOffset + glb.byteLength) as ArrayBuffer)
      : null;
    post(
      {
        type: 'result',
        ply: plyBuf,
        glb: glbBuf,
        gaussians: r.gaussians?.count ?? 0,
        voxels: r.voxels,
        triangles: r.mesh ? r.mesh.faces.length / 3 : 0,
        seconds: r.totalSeconds,
        device: r.device,
        timings: r.timings.map((t) => ({ stage: t.stage, seconds: t.seconds })),
      },
      [plyBuf, glbBuf].filter((b): b is ArrayBuffer => b !== null),
    );
  } catch (e) {
    if (ctl.signal.aborted) post({ type: 'error', kind: 'cancelled', message: 'Cancelled.' });
    else {
      const c = classifyError(e);
      post({ type: 'error', kind: c.kind, message: c.message });
    }
  } finally {
    controller = null;
    gpu?.destroy();
  }
}

/** Deterministic values in [-1, 1) (a 32-bit LCG): the check needs no randomness, only non-trivial inputs. */
function probeValues(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x / 2 ** 31 - 1;
  }
  return out;
}

/**
 * WebGPU self-check: creates the device the pipeline would use and compares one matmul on it with the CPU twin,
 * so the page can tell "WebGPU works here" from "an adapter exists" in a second instead of a whole run.
 */
async function probe(): Promise<void> {
  let gpu: GpuContext | null = null;
  try {
    gpu = await GpuContext.create();
    if (!gpu) {
      post({
        type: 'probe',
        adapter: null,
        relDiff: null,
        ok: false,
        message: 'no WebGPU adapter in the Worker',
      });
      return;
    }
    const a = probeValues(PROBE_M * PROBE_K, 1);
    const b = probeValues(PROBE_K * PROBE_N, 2);
    const cpu = matmul(Tensor.fromArray(a, [PROBE_M, PROBE_K]), Tensor.fromArray(b, [PROBE_K, PROBE_N]));
    const ga = Tensor.fromArray(a, [PROBE_M, PROBE_K], { gpu });
    const gb = Tensor.fromArray(b, [PROBE_K, PROBE_N], { gpu });
    const gc = matmul(ga, gb);
    const got = await gc.toArray();
    const want = await cpu.toArray();
    let maxAbs = 0;
    let maxDiff = 0;
    for (let i = 0; i < want.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(want[i]));
      maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
    }
    for (const t of [ga, gb, gc]) t.dispose();
    const relDiff = maxDiff / Math.max(maxAbs, Number.MIN_VALUE);
    const info = gpu.adapterInfo;
    const adapter = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'WebGPU';
    const ok = relDiff <= PROBE_TOLERANCE;
    post({
      type: 'probe',
      adapter,
      relDiff,
      ok,
      message: ok
        ? `matmul on WebGPU matches the CPU twin (relative difference ${relDiff.toExponential(1)})`
        : `matmul on WebGPU differs from the CPU twin by ${relDiff.toExponential(1)} (relative): this GPU/driver gives wrong results; use the CPU device`,
    });
  } catch (e) {
    post({ type: 'probe', adapter: null, relDiff: null, ok: false, message: classifyError(e).message });
  } finally {
    gpu?.destroy();
  }
}

scope.addEventListener('message', (ev) => {
  const m = ev.data;
  if (m.type === 'cancel') controller?.abort(new Error('cancelled by the user'));
  else if (m.type === 'validate') void validate(m.model);
  else if (m.type === 'run') void run(m);
  else if (m.type === 'probe') void probe();
});
