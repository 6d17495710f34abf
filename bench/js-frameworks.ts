/**
 * The matmul and attention shapes of our benchmarks through two other JavaScript WebGPU stacks, for comparison:
 * TensorFlow.js (`@tensorflow/tfjs-core` + `@tensorflow/tfjs-backend-webgpu`) and onnxruntime-web's WebGPU
 * execution provider, both on Dawn through the `webgpu` package in Node.
 *
 *   node --import tsx bench/js-frameworks.ts [--json] [--robust] [--small] [--only <substr>] [--timeout <s>]
 *
 * Environment: JSF_DEBUG=1 prints the ort cases' progress to stderr.
 *
 * Every case runs in its own child process with a time limit, so a framework that hangs or runs out of memory
 * costs one case, not the session (seen on lavapipe: onnxruntime-web's FlashAttention program never finishes).
 * Each case validates first at a small shape (relative L2 error against a float64 CPU reference on random
 * inputs), then warms up for >= 1 s of back-to-back runs, then times batches of runs by wall clock
 * (submit .. `queue.onSubmittedWorkDone()`) and reports the median per-run time. Neither framework exposes
 * GPU timestamps per run in a way both share, so the wall clock is the common measure; the device probe found
 * host-timed and timestamp figures within about 15% of each other for 1–3 ms kernels.
 *
 * Notes (what was tried)
 * - onnxruntime-web 1.30's WebGPU EP is the native C++ EP compiled to wasm (asyncify build). Its
 *   `queue.writeBuffer` passes views of the wasm heap, a SharedArrayBuffer, which Dawn's Node binding rejects
 *   ("Invalid argument"): we wrap `GPUQueue.prototype.writeBuffer` to copy such views first.
 * - Both frameworks create their own GPUDevice through `navigator.gpu`, which we set to a Dawn instance with
 *   the toggles of src/runtime/gpu.ts, so they and our code run under the same toggles. Handing onnxruntime-web
 *   a device of our own (`env.webgpu.device = ...`) failed: its runs then mixed buffers of two devices.
 * - On lavapipe (2026-11-27) onnxruntime-web's first `session.run` mostly never returns (once, a 64^3 MatMul
 *   did): its program is dispatched, then nothing. Keeping Dawn's event loop busy with a 2 ms interval of
 *   `queue.onSubmittedWorkDone()` (on ort's device or on another one) did not help; cause not found. Hence the
 *   per-case child processes and time limit. tfjs asks `navigator.gpu`
 *   (which Node 20 lacks) for its own adapter/device: we give it the same Dawn GPU object.
 * - Attention in tfjs is composed (batched QK^T, scale, softmax, PV): tfjs has no fused attention. The f32
 *   score tensor of the self-attention shape is 2 GiB, over Dawn's 2 GiB - 4 binding limit, so heads run in
 *   groups whose score tensor fits in 1 GiB.
 * - Attention in onnxruntime-web uses the contrib op `com.microsoft.MultiHeadAttention` (its WebGPU EP has a
 *   flash-attention program for it), on [B, L, H*D] inputs as an exported transformer would feed it.
 * - The ONNX graphs are built here as protobuf bytes (a few fields of ModelProto), with no protobuf dependency.
 */

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { f16BitsToF32, f32ToF16Bits } from '../src/runtime/dtype.ts';

// ---------------------------------------------------------------------------------------------------------------
// Shapes

/** One matmul problem: Y[M,N] = A[M,K] B[K,N]. */
export interface MatmulShape {
  M: number;
  N: number;
  K: number;
}

/** One attention problem: B batches, H heads, Lq queries, Lk keys, head size D. */
export interface AttentionShape {
  B: number;
  H: number;
  Lq: number;
  Lk: number;
  D: number;
}

/** The shapes of bench/matmul.ts, bench/attention.ts and tools/bench_torch.py (SS-flow sized). */
export const FULL_SHAPES = {
  matmul: { M: 4096, N: 4096, K: 4096 } satisfies MatmulShape,
  self: { B: 2, H: 16, Lq: 4096, Lk: 4096, D: 64 } satisfies AttentionShape,
  cross: { B: 2, H: 16, Lq: 4096, Lk: 1374, D: 64 } satisfies AttentionShape,
};

/** Small shapes for a CPU adapter (lavapipe): the same code paths, minutes less. */
export const SMALL_SHAPES = {
  matmul: { M: 256, N: 256, K: 256 } satisfies MatmulShape,
  self: { B: 1, H: 2, Lq: 128, Lk: 128, D: 64 } satisfies AttentionShape,
  cross: { B: 1, H: 2, Lq: 128, Lk: 70, D: 64 } satisfies AttentionShape,
};

/** Validation shapes: awkward sizes, small enough for a float64 CPU reference. */
const CHECK_MATMUL: MatmulShape = { M: 97, N: 130, K: 200 };
const CHECK_ATTENTION: AttentionShape = { B: 1, H: 2, Lq: 100, Lk: 70, D: 64 };

/** FLOPs of one matmul (multiply + add). */
export function matmulFlop(s: MatmulShape): number {
  return 2 * s.M * s.N * s.K;
}

/** FLOPs of one attention (QK^T and PV; softmax not counted, as in PyTorch's FLOP counter). */
export function attentionFlop(s: AttentionShape): number {
  return 4 * s.B * s.H * s.Lq * s.Lk * s.D;
}

// ---------------------------------------------------------------------------------------------------------------
// Cases

type Framework = 'tfjs' | 'ort';
type CaseDType = 'f32' | 'f16';

interface CaseSpec {
  id: string;
  framework: Framework;
  op: 'matmul' | 'attention';
  dtype: CaseDType;
  variant: 'matmul' | 'self' | 'cross';
}

/** tfjs has no float16 tensors, so its cases are f32 only. */
export const CASES: readonly CaseSpec[] = [
  { id: 'tfjs.matmul.f32', framework: 'tfjs', op: 'matmul', dtype: 'f32', variant: 'matmul' },
  { id: 'tfjs.attention.f32.self', framework: 'tfjs', op: 'attention', dtype: 'f32', variant: 'self' },
  { id: 'tfjs.attention.f32.cross', framework: 'tfjs', op: 'attention', dtype: 'f32', variant: 'cross' },
  { id: 'ort.matmul.f32', framework: 'ort', op: 'matmul', dtype: 'f32', variant: 'matmul' },
  { id: 'ort.matmul.f16', framework: 'ort', op: 'matmul', dtype: 'f16', variant: 'matmul' },
  { id: 'ort.attention.f16.self', framework: 'ort', op: 'attention', dtype: 'f16', variant: 'self' },
  { id: 'ort.attention.f16.cross', framework: 'ort', op: 'attention', dtype: 'f16', variant: 'cross' },
  { id: 'ort.attention.f32.self', framework: 'ort', op: 'attention', dtype: 'f32', variant: 'self' },
  { id: 'ort.attention.f32.cross', framework: 'ort', op: 'attention', dtype: 'f32', variant: 'cross' },
];

/** What one case reports. */
export interface CaseResult {
  id: string;
  ok: boolean;
  shape?: MatmulShape | AttentionShape;
  /** Median wall milliseconds per run (batches of back-to-back runs, synchronised at the end of each batch). */
  medianMs?: number;
  minMs?: number;
  tflops?: number;
  /** Relative L2 error at the validation shape against a float64 CPU reference. */
  relErr?: number;
  checkShape?: MatmulShape | AttentionShape;
  runsPerBatch?: number;
  batches?: number;
  notes?: string[];
  error?: string;
}

export interface JsFrameworksOptions {
  small: boolean;
  robustness: boolean;
  warmupMs: number;
  batches: number;
}

export const JS_FRAMEWORKS_DEFAULTS: JsFrameworksOptions = {
  small: false,
  robustness: false,
  warmupMs: 1000,
  batches: 10,
};

// ---------------------------------------------------------------------------------------------------------------
// GPU setup shared by both frameworks

/** Same toggles as src/runtime/gpu.ts, plus exact timestamps (see docs/device.md). */
function dawnFlags(robustness: boolean): string[] {
  const enable = [
    'allow_unsafe_apis',
    'vulkan_enable_f16_on_nvidia',
    ...(robustness ? [] : ['disable_robustness']),
  ];
  return [`enable-dawn-features=${enable.join(',')}`, 'disable-dawn-features=timestamp_quantization'];
}

async function nodeGpu(robustness: boolean): Promise<GPU> {
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
  const mod = (await import('webgpu')) as {
    create: (flags: string[]) => GPU;
    globals: Record<string, unknown>;
  };
  Object.assign(globalThis, mod.globals);
  const gpu = mod.create(dawnFlags(robustness));
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (!g.navigator) g.navigator = { gpu };
  else if (!g.navigator.gpu) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  patchSharedWriteBuffer();
  return gpu;
}

/** Dawn's Node binding rejects views of a SharedArrayBuffer in writeBuffer; the ort wasm heap is one. */
function patchSharedWriteBuffer(): void {
  const proto = (globalThis as unknown as { GPUQueue: { prototype: GPUQueue } }).GPUQueue.prototype;
  const original = proto.writeBuffer;
  proto.writeBuffer = function (
    this: GPUQueue,
    buffer: GPUBuffer,
    offset: number,
    data: BufferSource,
    dataOffset = 0,
    size?: number,
  ): undefined {
    if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
      const el = (data as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
      const count = size ?? data.byteLength / el - dataOffset;
      const copy = new Uint8Array(count * el);
      copy.set(new Uint8Array(data.buffer, data.byteOffset + dataOffset * el, count * el));
      return original.call(this, buffer, offset, copy, 0, count * el);
    }
    return original.call(this, buffer, offset, data, dataOffset, size);
  } as GPUQueue['writeBuffer'];
}

// ---------------------------------------------------------------------------------------------------------------
// Random data and float64 references

/** Deterministic uniform(-1, 1) values (mulberry32), so runs are reproducible. */
export function randomValues(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/** Rounds to f16 and back, so references see exactly what an f16 input holds. */
function roundHalf(x: Float32Array): Float32Array {
  return x.map((v) => f16BitsToF32(f32ToF16Bits(v)));
}

function toHalfBits(x: Float32Array): Uint16Array {
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f32ToF16Bits(x[i]);
  return out;
}

function fromHalfBits(x: Uint16Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f16BitsToF32(x[i]);
  return out;
}

/** Y = A B in float64 (row-major). */
export function matmulRef(a: Float32Array, b: Float32Array, s: MatmulShape): Float64Array {
  const y = new Float64Array(s.M * s.N);
  for (let i = 0; i < s.M; i++) {
    for (let k = 0; k < s.K; k++) {
      const av = a[i * s.K + k];
      for (let j = 0; j < s.N; j++) y[i * s.N + j] += av * b[k * s.N + j];
    }
  }
  return y;
}

/** softmax(Q K^T / sqrt(D)) V in float64 on [B, H, L, D] tensors. */
export function attentionRef(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  s: AttentionShape,
): Float64Array {
  const { B, H, Lq, Lk, D } = s;
  const out = new Float64Array(B * H * Lq * D);
  const scale = 1 / Math.sqrt(D);
  const p = new Float64Array(Lk);
  for (let bh = 0; bh < B * H; bh++) {
    const qo = bh * Lq * D;
    const ko = bh * Lk * D;
    for (let i = 0; i < Lq; i++) {
      let m = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < Lk; j++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[qo + i * D + d] * k[ko + j * D + d];
        p[j] = dot * scale;
        m = Math.max(m, p[j]);
      }
      let sum = 0;
      for (let j = 0; j < Lk; j++) {
        p[j] = Math.exp(p[j] - m);
        sum += p[j];
      }
      for (let d = 0; d < D; d++) {
        let acc = 0;
        for (let j = 0; j < Lk; j++) acc += p[j] * v[ko + j * D + d];
        out[qo + i * D + d] = acc / sum;
      }
    }
  }
  return out;
}

/** ||got - ref|| / ||ref||; Infinity when any value is not finite. */
export function relL2(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (got.length !== ref.length) throw new Error(`relL2: length ${got.length} vs ${ref.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    if (!Number.isFinite(got[i])) return Number.POSITIVE_INFINITY;
    num += (got[i] - ref[i]) ** 2;
    den += ref[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** [B, H, L, D] -> [B, L, H*D] (the layout MultiHeadAttention takes). */
function bhldToBlhd(x: Float32Array, B: number, H: number, L: number, D: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let l = 0; l < L; l++)
        for (let d = 0; d < D; d++) out[((b * L + l) * H + h) * D + d] = x[((b * H + h) * L + l) * D + d];
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Timing

interface Timed {
  medianMs: number;
  minMs: number;
  runsPerBatch: number;
  batches: number;
}

/**
 * Warms up for `warmupMs` (>= 3 runs), then times `batches` batches of back-to-back `run()` calls, each batch
 * closed by `sync()`. The batch size aims at ~50 ms per batch so host overheads are amortised.
 */
async function timeRuns(
  run: () => Promise<void> | void,
  sync: () => Promise<void>,
  o: JsFrameworksOptions,
): Promise<Timed> {
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < o.warmupMs || n < 3) {
    await run();
    if (++n % 4 === 0) await sync();
  }
  await sync();
  const perRun = (performance.now() - t0) / n;
  const runsPerBatch = Math.max(1, Math.min(50, Math.round(50 / perRun)));
  const samples: number[] = [];
  for (let b = 0; b < o.batches; b++) {
    const s = performance.now();
    for (let i = 0; i < runsPerBatch; i++) await run();
    await sync();
    samples.push((performance.now() - s) / runsPerBatch);
  }
  samples.sort((x, y) => x - y);
  return {
    medianMs: samples[Math.floor(samples.length / 2)],
    minMs: samples[0],
    runsPerBatch,
    batches: o.batches,
  };
}

function tflopsOf(flop: number, ms: number): number {
  return flop / (ms * 1e-3) / 1e12;
}

// ---------------------------------------------------------------------------------------------------------------
// TensorFlow.js

type Tf = typeof import('@tensorflow/tfjs-core');
type TfTensor = import('@tensorflow/tfjs-core').Tensor;

/** The parts of tfjs-backend-webgpu's backend we use (not in its public types). */
interface TfWebgpuBackend {
  device: GPUDevice;
  commandEncoder: GPUCommandEncoder | null;
  submitQueue: () => void;
}

async function loadTf(): Promise<{ tf: Tf; backend: TfWebgpuBackend }> {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs: setBackend("webgpu") failed');
  await tf.ready();
  return { tf, backend: tf.backend() as unknown as TfWebgpuBackend };
}

/** Heads per group so one f32 score tensor stays within 1 GiB (under Dawn's 2 GiB - 4 binding limit). */
const TF_SCORE_BYTES = 1 << 30;

function tfAttention(tf: Tf, q: TfTensor, k: TfTensor, v: TfTensor, s: AttentionShape): TfTensor[] {
  const heads = s.B * s.H;
  const group = Math.max(1, Math.min(heads, Math.floor(TF_SCORE_BYTES / (s.Lq * s.Lk * 4))));
  const outs: TfTensor[] = [];
  const scale = 1 / Math.sqrt(s.D);
  for (let h0 = 0; h0 < heads; h0 += group) {
    const g = Math.min(group, heads - h0);
    outs.push(
      tf.tidy(() => {
        const qs = tf.slice(q, [h0, 0, 0], [g, s.Lq, s.D]);
        const ks = tf.slice(k, [h0, 0, 0], [g, s.Lk, s.D]);
        const vs = tf.slice(v, [h0, 0, 0], [g, s.Lk, s.D]);
        const scores = tf.mul(tf.matMul(qs, ks, false, true), tf.scalar(scale));
        return tf.matMul(tf.softmax(scores), vs);
      }),
    );
  }
  return outs;
}

async function runTf(spec: CaseSpec, o: JsFrameworksOptions): Promise<CaseResult> {
  const { tf, backend } = await loadTf();
  const shapes = o.small ? SMALL_SHAPES : FULL_SHAPES;
  const sync = async (): Promise<void> => {
    // submitQueue() throws when nothing was recorded since the last submission.
    if (backend.commandEncoder) backend.submitQueue();
    await backend.device.queue.onSubmittedWorkDone();
  };
  const notes = [`tfjs-core ${tf.version_core}; backend webgpu`];
  if (spec.op === 'matmul') {
    // Validate.
    const c = CHECK_MATMUL;
    const a0 = randomValues(c.M * c.K, 1);
    const b0 = randomValues(c.K * c.N, 2);
    const y0 = tf.matMul(tf.tensor2d(a0, [c.M, c.K]), tf.tensor2d(b0, [c.K, c.N]));
    const relErr = relL2(await y0.data(), matmulRef(a0, b0, c));
    tf.disposeVariables();
    const s = shapes.matmul;
    const a = tf.tensor2d(randomValues(s.M * s.K, 3), [s.M, s.K]);
    const b = tf.tensor2d(randomValues(s.K * s.N, 4), [s.K, s.N]);
    const t = await timeRuns(
      () => {
        tf.matMul(a, b).dispose();
      },
      sync,
      o,
    );
    return finish(spec, s, matmulFlop(s), t, relErr, c, notes);
  }
  const c = CHECK_ATTENTION;
  const n = (L: number) => c.B * c.H * L * c.D;
  const q0 = randomValues(n(c.Lq), 5);
  const k0 = randomValues(n(c.Lk), 6);
  const v0 = randomValues(n(c.Lk), 7);
  const o0 = tfAttention(
    tf,
    tf.tensor3d(q0, [c.B * c.H, c.Lq, c.D]),
    tf.tensor3d(k0, [c.B * c.H, c.Lk, c.D]),
    tf.tensor3d(v0, [c.B * c.H, c.Lk, c.D]),
    c,
  );
  const got = tf.concat(o0, 0);
  const relErr = relL2(await got.data(), attentionRef(q0, k0, v0, c));
  const s = spec.variant === 'self' ? shapes.self : shapes.cross;
  const m = (L: number) => s.B * s.H * L * s.D;
  const q = tf.tensor3d(randomValues(m(s.Lq), 8), [s.B * s.H, s.Lq, s.D]);
  const k = tf.tensor3d(randomValues(m(s.Lk), 9), [s.B * s.H, s.Lk, s.D]);
  const v = tf.tensor3d(randomValues(m(s.Lk), 10), [s.B * s.H, s.Lk, s.D]);
  const group = Math.max(1, Math.min(s.B * s.H, Math.floor(TF_SCORE_BYTES / (s.Lq * s.Lk * 4))));
  notes.push(
    `composed attention (matMul, mul, softmax, matMul); ${group} of ${s.B * s.H} heads per group (score tensor <= 1 GiB)`,
  );
  const t = await timeRuns(
    () => {
      for (const x of tfAttention(tf, q, k, v, s)) x.dispose();
    },
    sync,
    o,
  );
  return finish(spec, s, attentionFlop(s), t, relErr, c, notes);
}

// ---------------------------------------------------------------------------------------------------------------
// onnxruntime-web: ONNX graphs as protobuf bytes

const ONNX_FLOAT = 1;
const ONNX_FLOAT16 = 10;
const utf8 = new TextEncoder();

function pbVarint(value: number): number[] {
  const out: number[] = [];
  let v = BigInt(value);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}
const pbKey = (field: number, wire: number): number[] => pbVarint((field << 3) | wire);
const pbBytes = (field: number, body: number[]): number[] => [
  ...pbKey(field, 2),
  ...pbVarint(body.length),
  ...body,
];
const pbString = (field: number, s: string): number[] => pbBytes(field, [...utf8.encode(s)]);
const pbInt = (field: number, v: number): number[] => [...pbKey(field, 0), ...pbVarint(v)];

/**
 * ValueInfoProto{name, type: TypeProto{tensor_type{elem_type, shape{dim{dim_value}}}}} as bytes.
 * @example
 * const a = onnxValue('A', 1, [2, 3]); // float32 [2, 3]
 */
export function onnxValue(name: string, elemType: number, dims: readonly number[]): number[] {
  const shape = dims.flatMap((d) => pbBytes(1, pbInt(1, d)));
  const tensorType = [...pbInt(1, elemType), ...pbBytes(2, shape)];
  return [...pbString(1, name), ...pbBytes(2, pbBytes(1, tensorType))];
}

interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  domain?: string;
  intAttrs?: Record<string, number>;
}

/** NodeProto{input, output, op_type, domain, attribute{name, i, type=INT}}. */
function onnxNode(n: OnnxNode): number[] {
  const attrs = Object.entries(n.intAttrs ?? {}).flatMap(([name, v]) =>
    pbBytes(5, [...pbString(1, name), ...pbInt(3, v), ...pbInt(20, 2)]),
  );
  return [
    ...n.inputs.flatMap((i) => pbString(1, i)),
    ...n.outputs.flatMap((o) => pbString(2, o)),
    ...pbString(4, n.op),
    ...(n.domain ? pbString(7, n.domain) : []),
    ...attrs,
  ];
}

/**
 * A one-graph ModelProto (IR version 8) as bytes.
 * @example
 * const bytes = onnxModel([{ op: 'MatMul', inputs: ['A', 'B'], outputs: ['Y'] }],
 *   [onnxValue('A', 1, [2, 3]), onnxValue('B', 1, [3, 4])], [onnxValue('Y', 1, [2, 4])], { '': 17 });
 */
export function onnxModel(
  nodes: OnnxNode[],
  inputs: number[][],
  outputs: number[][],
  opsets: Record<string, number>,
): Uint8Array {
  const graph = [
    ...nodes.flatMap((n) => pbBytes(1, onnxNode(n))),
    ...pbString(2, 'bench'),
    ...inputs.flatMap((v) => pbBytes(11, v)),
    ...outputs.flatMap((v) => pbBytes(12, v)),
  ];
  const opsetProtos = Object.entries(opsets).flatMap(([domain, version]) =>
    pbBytes(8, [...pbString(1, domain), ...pbInt(2, version)]),
  );
  return new Uint8Array([
    ...pbInt(1, 8),
    ...opsetProtos,
    ...pbString(2, 'amodal3r-bench'),
    ...pbBytes(7, graph),
  ]);
}

function matmulModel(s: MatmulShape, elem: number): Uint8Array {
  return onnxModel(
    [{ op: 'MatMul', inputs: ['A', 'B'], outputs: ['Y'] }],
    [onnxValue('A', elem, [s.M, s.K]), onnxValue('B', elem, [s.K, s.N])],
    [onnxValue('Y', elem, [s.M, s.N])],
    { '': 17 },
  );
}

function mhaModel(s: AttentionShape, elem: number): Uint8Array {
  const hd = s.H * s.D;
  return onnxModel(
    [
      {
        op: 'MultiHeadAttention',
        inputs: ['Q', 'K', 'V'],
        outputs: ['O'],
        domain: 'com.microsoft',
        intAttrs: { num_heads: s.H },
      },
    ],
    [
      onnxValue('Q', elem, [s.B, s.Lq, hd]),
      onnxValue('K', elem, [s.B, s.Lk, hd]),
      onnxValue('V', elem, [s.B, s.Lk, hd]),
    ],
    [onnxValue('O', elem, [s.B, s.Lq, hd])],
    { '': 17, 'com.microsoft': 1 },
  );
}

type Ort = typeof import('onnxruntime-web');
type OrtTensor = import('onnxruntime-web').Tensor;

/** Where ort's wasm lives: $ORT_WASM_DIR (device recipe), else the installed package's dist/. */
function ortWasmDir(): string {
  const fromEnv = process.env.ORT_WASM_DIR;
  if (fromEnv) return pathToFileURL(fromEnv.endsWith('/') ? fromEnv : `${fromEnv}/`).href;
  const wasm = createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm');
  return pathToFileURL(`${dirname(wasm)}/`).href;
}

async function loadOrt(): Promise<Ort> {
  const ort = (await import('onnxruntime-web/webgpu')) as unknown as Ort;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = ortWasmDir();
  ort.env.logLevel = 'error';
  return ort;
}

function ortTensor(ort: Ort, x: Float32Array, dims: number[], dtype: CaseDType): OrtTensor {
  return dtype === 'f16'
    ? new ort.Tensor('float16', toHalfBits(x), dims)
    : new ort.Tensor('float32', x, dims);
}

/** A device buffer holding x (as f32 or f16 bits) wrapped as an ort GPU tensor. */
function ortGpuTensor(
  ort: Ort,
  device: GPUDevice,
  x: Float32Array,
  dims: number[],
  dtype: CaseDType,
): OrtTensor {
  const data = dtype === 'f16' ? toHalfBits(x) : x;
  const size = Math.ceil(data.byteLength / 16) * 16;
  const buffer = device.createBuffer({
    size,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(
    buffer,
    0,
    new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength),
  );
  return ort.Tensor.fromGpuBuffer(buffer as unknown as Parameters<Ort['Tensor']['fromGpuBuffer']>[0], {
    dataType: dtype === 'f16' ? 'float16' : 'float32',
    dims,
  });
}

async function ortOutput(t: OrtTensor): Promise<Float32Array> {
  const data = (await t.getData()) as Float32Array | Uint16Array;
  return data instanceof Uint16Array ? fromHalfBits(data) : Float32Array.from(data);
}

async function runOrt(spec: CaseSpec, o: JsFrameworksOptions): Promise<CaseResult> {
  const dbg = (m: string): void => {
    if (process.env.JSF_DEBUG) console.error(`js-frameworks ${spec.id}: ${m}`);
  };
  const ort = await loadOrt();
  // A first session makes ort create its GPUDevice through navigator.gpu (our Dawn instance and toggles); inputs
  // and the sync point must use that device (a device of our own is rejected: "associated with [Device]").
  await ort.InferenceSession.create(matmulModel({ M: 1, N: 1, K: 1 }, ONNX_FLOAT), {
    executionProviders: ['webgpu'],
  });
  const device = (await (ort.env.webgpu as unknown as { device: Promise<GPUDevice> }).device) as GPUDevice;
  dbg(`device features ${[...device.features].join(',')}`);
  dbg('ort');
  return runOrtCase(spec, o, ort, device, dbg);
}

async function runOrtCase(
  spec: CaseSpec,
  o: JsFrameworksOptions,
  ort: Ort,
  device: GPUDevice,
  dbg: (m: string) => void,
): Promise<CaseResult> {
  const elem = spec.dtype === 'f16' ? ONNX_FLOAT16 : ONNX_FLOAT;
  const shapes = o.small ? SMALL_SHAPES : FULL_SHAPES;
  const notes = ['onnxruntime-web 1.30 webgpu EP, own GPUDevice, numThreads 1'];
  const round = (x: Float32Array) => (spec.dtype === 'f16' ? roundHalf(x) : x);
  const sync = () => device.queue.onSubmittedWorkDone();
  if (spec.op === 'matmul') {
    const c = CHECK_MATMUL;
    const check = await ort.InferenceSession.create(matmulModel(c, elem), { executionProviders: ['webgpu'] });
    dbg('session');
    const a0 = round(randomValues(c.M * c.K, 1));
    const b0 = round(randomValues(c.K * c.N, 2));
    const r0 = await check.run({
      A: ortTensor(ort, a0, [c.M, c.K], spec.dtype),
      B: ortTensor(ort, b0, [c.K, c.N], spec.dtype),
    });
    const relErr = relL2(await ortOutput(r0.Y), matmulRef(a0, b0, c));
    await check.release();
    const s = shapes.matmul;
    const session = await ort.InferenceSession.create(matmulModel(s, elem), {
      executionProviders: ['webgpu'],
      preferredOutputLocation: 'gpu-buffer',
    });
    const feeds = {
      A: ortGpuTensor(ort, device, randomValues(s.M * s.K, 3), [s.M, s.K], spec.dtype),
      B: ortGpuTensor(ort, device, randomValues(s.K * s.N, 4), [s.K, s.N], spec.dtype),
    };
    const t = await timeRuns(
      async () => {
        const r = await session.run(feeds);
        r.Y.dispose();
      },
      sync,
      o,
    );
    return finish(spec, s, matmulFlop(s), t, relErr, c, notes);
  }
  const c = CHECK_ATTENTION;
  const n = (L: number) => c.B * c.H * L * c.D;
  const q0 = round(randomValues(n(c.Lq), 5));
  const k0 = round(randomValues(n(c.Lk), 6));
  const v0 = round(randomValues(n(c.Lk), 7));
  const hd = c.H * c.D;
  const check = await ort.InferenceSession.create(mhaModel(c, elem), { executionProviders: ['webgpu'] });
  const r0 = await check.run({
    Q: ortTensor(ort, bhldToBlhd(q0, c.B, c.H, c.Lq, c.D), [c.B, c.Lq, hd], spec.dtype),
    K: ortTensor(ort, bhldToBlhd(k0, c.B, c.H, c.Lk, c.D), [c.B, c.Lk, hd], spec.dtype),
    V: ortTensor(ort, bhldToBlhd(v0, c.B, c.H, c.Lk, c.D), [c.B, c.Lk, hd], spec.dtype),
  });
  const ref = attentionRef(q0, k0, v0, c);
  const relErr = relL2(await ortOutput(r0.O), bhldToBlhd(Float32Array.from(ref), c.B, c.H, c.Lq, c.D));
  await check.release();
  const s = spec.variant === 'self' ? shapes.self : shapes.cross;
  const shd = s.H * s.D;
  const session = await ort.InferenceSession.create(mhaModel(s, elem), {
    executionProviders: ['webgpu'],
    preferredOutputLocation: 'gpu-buffer',
  });
  const feeds = {
    Q: ortGpuTensor(ort, device, randomValues(s.B * s.Lq * shd, 8), [s.B, s.Lq, shd], spec.dtype),
    K: ortGpuTensor(ort, device, randomValues(s.B * s.Lk * shd, 9), [s.B, s.Lk, shd], spec.dtype),
    V: ortGpuTensor(ort, device, randomValues(s.B * s.Lk * shd, 10), [s.B, s.Lk, shd], spec.dtype),
  };
  notes.push('com.microsoft.MultiHeadAttention on [B, L, H*D]');
  const t = await timeRuns(
    async () => {
      const r = await session.run(feeds);
      r.O.dispose();
    },
    sync,
    o,
  );
  return finish(spec, s, attentionFlop(s), t, relErr, c, notes);
}

function finish(
  spec: CaseSpec,
  shape: MatmulShape | AttentionShape,
  flop: number,
  t: Timed,
  relErr: number,
  checkShape: MatmulShape | AttentionShape,
  notes: string[],
): CaseResult {
  return {
    id: spec.id,
    ok: Number.isFinite(relErr),
    shape,
    medianMs: t.medianMs,
    minMs: t.minMs,
    tflops: tflopsOf(flop, t.medianMs),
    relErr,
    checkShape,
    runsPerBatch: t.runsPerBatch,
    batches: t.batches,
    notes,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Driver: one child process per case

/** Runs one case in this process (the child side). */
export async function runCase(id: string, o: JsFrameworksOptions): Promise<CaseResult> {
  const spec = CASES.find((c) => c.id === id);
  if (!spec) throw new Error(`js-frameworks: unknown case ${id}`);
  await nodeGpu(o.robustness);
  return spec.framework === 'tfjs' ? runTf(spec, o) : runOrt(spec, o);
}

const RESULT_MARK = '@@js-frameworks-result ';

function runChild(id: string, argv: string[], timeoutS: number): Promise<CaseResult> {
  return new Promise((resolve) => {
    const args = [...process.execArgv, process.argv[1], ...argv, '--case', id];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith(RESULT_MARK));
      if (line) {
        resolve(JSON.parse(line.slice(RESULT_MARK.length)) as CaseResult);
        return;
      }
      const tail = err
        .split('\n')
        .filter((l) => l.trim() && !l.includes('artificially reduced'))
        .slice(-6)
        .join(' | ');
      const why = signal === 'SIGKILL' ? `timed out after ${timeoutS} s` : `exit ${code ?? signal}`;
      resolve({ id, ok: false, error: `${why}${tail ? `: ${tail}` : ''}` });
    });
  });
}

function parseArgs(argv: string[]): {
  json: boolean;
  caseId?: string;
  only?: string;
  timeoutS: number;
  options: JsFrameworksOptions;
} {
  const val = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const small = argv.includes('--small');
  return {
    json: argv.includes('--json'),
    caseId: val('--case'),
    only: val('--only'),
    timeoutS: Number(val('--timeout') ?? (small ? 60 : 120)),
    options: { ...JS_FRAMEWORKS_DEFAULTS, small, robustness: argv.includes('--robust') },
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const a = parseArgs(argv);
  if (a.caseId) {
    let result: CaseResult;
    try {
      result = await runCase(a.caseId, a.options);
    } catch (e) {
      result = { id: a.caseId, ok: false, error: e instanceof Error ? e.message : String(e) };
    }
    process.stdout.write(`${RESULT_MARK}${JSON.stringify(result)}\n`);
    process.exit(0);
  }
  const childArgs = argv.filter((x) => x !== '--json');
  const results: CaseResult[] = [];
  // A framework whose case timed out most likely hangs in every case (one limit each would add up): skip it.
  const hung = new Set<Framework>();
  for (const spec of CASES) {
    if (a.only && !spec.id.includes(a.only)) continue;
    const r: CaseResult = hung.has(spec.framework)
      ? { id: spec.id, ok: false, error: `skipped: an earlier ${spec.framework} case timed out` }
      : await runChild(spec.id, childArgs, a.timeoutS);
    if (r.error?.startsWith('timed out')) hung.add(spec.framework);
    results.push(r);
    const line = r.ok
      ? `${r.id.padEnd(26)} ${r.medianMs?.toFixed(3).padStart(9)} ms ${r.tflops?.toFixed(2).padStart(8)} TFLOP/s  relErr ${r.relErr?.toExponential(1)}`
      : `${r.id.padEnd(26)} FAILED: ${r.error}`;
    (a.json ? console.error : console.log)(line);
  }
  const report = {
    bench: 'js-frameworks',
    robustness: a.options.robustness,
    small: a.options.small,
    dawnFlags: dawnFlags(a.options.robustness),
    timing: 'wall clock per run: median over batches of back-to-back runs after >= 1 s warm-up',
    results,
  };
  if (a.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

const entry = process.argv[1] ?? '';
if (/js-frameworks\.(ts|mjs|js)$/.test(entry)) await main();
