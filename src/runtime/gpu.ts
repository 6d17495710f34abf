/**
 * The WebGPU side of the runtime: adapter/device acquisition, a pipeline cache, a buffer pool, batched
 * dispatches (many per command submission) and explicit readback.
 *
 * Design notes
 * - Dispatches are recorded into one compute pass per batch and submitted on `flush()` (or automatically after
 *   `MAX_DISPATCHES_PER_SUBMIT`). WebGPU orders dispatches inside a pass, so a buffer released to the pool and
 *   handed out again within the same batch is safe for kernels. It is NOT safe for `queue.writeBuffer`, which runs
 *   before the pending batch: `upload()` therefore flushes first when work is pending.
 * - Uniform buffers are taken from a pool and only returned to it after the batch that uses them is submitted, for
 *   the same reason.
 * - `maxBinding` is the largest storage binding an op may use. Tests force it low (e.g. 1 MiB) so the ops' splitting
 *   paths run in CI; it never exceeds the adapter's `maxStorageBufferBindingSize`.
 */

import { Tensor } from './tensor.ts';

/** Dawn toggles we request in Node. `disable_robustness` is on by default in Node (browsers cannot turn it off). */
export const DAWN_TOGGLES_BASE = ['allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia'] as const;

export interface GpuContextOptions {
  /** Force a lower storage-binding limit (bytes) than the adapter's, to exercise splitting paths. */
  maxBinding?: number;
  /** Keep Dawn's bounds-checking (robustness) on. Node default: off. Ignored in browsers (always on). */
  robustness?: boolean;
  /** Ask for a low-power adapter. */
  powerPreference?: GPUPowerPreference;
  /** Disable optional features, e.g. to test the f32-only kernel ladder on an adapter that has f16. */
  disableFeatures?: readonly string[];
}

export const GPU_CONTEXT_DEFAULTS: Required<Omit<GpuContextOptions, 'maxBinding' | 'disableFeatures'>> = {
  robustness: false,
  powerPreference: 'high-performance',
};

export interface GpuFeatures {
  f16: boolean;
  subgroups: boolean;
  timestamps: boolean;
  /** Subgroup-matrix configurations the adapter offers (Dawn `chromium-experimental-subgroup-matrix`). */
  subgroupMatrix: SubgroupMatrixConfig[];
}

export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

const MAX_DISPATCHES_PER_SUBMIT = 256;

/** Counters of `GpuContext.stats`. */
export interface GpuStats {
  pipelinesCompiled: number;
  buffersCreated: number;
  bufferBytesCreated: number;
  writeBytes: number;
  dispatches: number;
  submits: number;
  readbacks: number;
}

export const GPU_STATS_ZERO: Readonly<GpuStats> = {
  pipelinesCompiled: 0,
  buffersCreated: 0,
  bufferBytesCreated: 0,
  writeBytes: 0,
  dispatches: 0,
  submits: 0,
  readbacks: 0,
};

/**
 * `after - before` field by field, for a stage or step.
 * @example
 * const s0 = { ...gpu.stats }; await work(); console.log(gpuStatsDelta(s0, gpu.stats));
 */
export function gpuStatsDelta(before: Readonly<GpuStats>, after: Readonly<GpuStats>): GpuStats {
  const out = { ...GPU_STATS_ZERO };
  for (const k of Object.keys(out) as (keyof GpuStats)[]) out[k] = after[k] - before[k];
  return out;
}
const SUBGROUP_MATRIX_FEATURE = 'chromium-experimental-subgroup-matrix';

interface PendingDispatch {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: readonly [number, number, number];
}

/** Binding for a dispatch: a whole buffer, or a byte window of one. */
export interface BufferBinding {
  buffer: GPUBuffer;
  offset?: number;
  size?: number;
}

/**
 * Dawn toggles enabled in Node for a robustness setting. Timestamp quantization (65.536 us steps by default) is
 * disabled separately (`DAWN_TOGGLES_DISABLED`) so benchmark timestamps resolve sub-millisecond kernels.
 */
export function dawnToggles(robustness: boolean): string[] {
  return [...DAWN_TOGGLES_BASE, ...(robustness ? [] : ['disable_robustness'])];
}

export const DAWN_TOGGLES_DISABLED = ['timestamp_quantization'] as const;

/** Environment variable that makes `getGpu` report no adapter ("1", "true" or "yes"): forces the CPU backend. */
export const DISABLE_GPU_ENV = 'AMODAL3R_DISABLE_GPU';

/** True when `AMODAL3R_DISABLE_GPU` asks for the CPU backend. */
export function gpuDisabledByEnv(
  env: Record<string, string | undefined> = typeof process !== 'undefined' ? process.env : {},
): boolean {
  const v = (env[DISABLE_GPU_ENV] ?? '').trim().toLowerCase();
  return v === '1' || v === 'true' || v === 'yes';
}

const nodeGpuPromises = new Map<boolean, Promise<GPU | null>>();

async function nodeGpu(robustness: boolean): Promise<GPU | null> {
  const toggles = dawnToggles(robustness);
  const mod = (await import('webgpu')) as {
    create: (flags: string[]) => GPU;
    globals: Record<string, unknown>;
  };
  Object.assign(globalThis, mod.globals);
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
  return mod.create([
    `enable-dawn-features=${toggles.join(',')}`,
    `disable-dawn-features=${DAWN_TOGGLES_DISABLED.join(',')}`,
  ]);
}

function isNode(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node;
}

/** The GPU entry point: `navigator.gpu` in browsers, Dawn through the `webgpu` package in Node. */
export async function getGpu(robustness = GPU_CONTEXT_DEFAULTS.robustness): Promise<GPU | null> {
  if (typeof navigator !== 'undefined' && (navigator as Navigator).gpu && !isNode()) return navigator.gpu;
  if (!isNode()) return null;
  if (gpuDisabledByEnv()) return null;
  // One Dawn instance per robustness setting (the toggles are fixed at instance creation).
  let p = nodeGpuPromises.get(robustness);
  if (!p) {
    p = nodeGpu(robustness).catch(() => null);
    nodeGpuPromises.set(robustness, p);
  }
  return p;
}

/** How to get a GPU adapter on this machine, for warnings and errors. */
export const GPU_HELP =
  'No WebGPU adapter. On Linux without a GPU install Mesa lavapipe (Debian bookworm: enable bookworm-backports, ' +
  'then `apt-get install -t bookworm-backports mesa-vulkan-drivers`) and set XDG_RUNTIME_DIR; in a browser use ' +
  'Chrome/Edge 113+ or a browser with WebGPU enabled.';

export class GpuContext {
  readonly device: GPUDevice;
  readonly adapterInfo: GPUAdapterInfo;
  readonly features: GpuFeatures;
  readonly limits: GPUSupportedLimits;
  readonly robustness: boolean;
  /** Largest byte size of one storage binding that ops may use. */
  readonly maxBinding: number;
  /** Storage binding offsets must be multiples of this. */
  readonly offsetAlignment: number;

  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly freeBuffers = new Map<number, GPUBuffer[]>();
  private readonly freeUniforms = new Map<number, GPUBuffer[]>();
  private uniformsInFlight: GPUBuffer[] = [];
  private pending: PendingDispatch[] = [];
  private lost: string | null = null;
  /** Bytes currently allocated from the device by this context (pooled included), and the peak. */
  allocatedBytes = 0;
  peakBytes = 0;
  /**
   * Running counters for diagnosing slow stages (issue #7): pipeline compilations (cache misses), storage buffers
   * created (pool misses) and their bytes, bytes written by the queue, submits and readbacks. Cheap integer
   * increments; callers snapshot with `{ ...gpu.stats }` and diff.
   */
  readonly stats: GpuStats = { ...GPU_STATS_ZERO };

  private constructor(
    device: GPUDevice,
    info: GPUAdapterInfo,
    features: GpuFeatures,
    robustness: boolean,
    maxBinding?: number,
  ) {
    this.device = device;
    this.adapterInfo = info;
    this.features = features;
    this.limits = device.limits;
    this.robustness = robustness;
    this.maxBinding = Math.min(
      maxBinding ?? Number.POSITIVE_INFINITY,
      device.limits.maxStorageBufferBindingSize,
    );
    this.offsetAlignment = device.limits.minStorageBufferOffsetAlignment;
    device.lost.then((info) => {
      this.lost = `GPU device lost (${info.reason}): ${info.message}`;
    });
  }

  /** Creates a context, or returns null when no adapter exists. */
  static async create(options: GpuContextOptions = {}): Promise<GpuContext | null> {
    const robustness = options.robustness ?? GPU_CONTEXT_DEFAULTS.robustness;
    const gpu = await getGpu(robustness);
    if (!gpu) return null;
    const adapter = await gpu.requestAdapter({
      powerPreference: options.powerPreference ?? 'high-performance',
    });
    if (!adapter) return null;
    const disabled = new Set(options.disableFeatures ?? []);
    const wanted = ['shader-f16', 'subgroups', 'timestamp-query', SUBGROUP_MATRIX_FEATURE].filter(
      (f) => adapter.features.has(f) && !disabled.has(f),
    ) as GPUFeatureName[];
    const al = adapter.limits;
    const requiredLimits: Record<string, number> = {
      maxStorageBufferBindingSize: al.maxStorageBufferBindingSize,
      maxBufferSize: al.maxBufferSize,
      maxComputeWorkgroupStorageSize: al.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: al.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: al.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: al.maxComputeWorkgroupSizeY,
      maxComputeWorkgroupSizeZ: al.maxComputeWorkgroupSizeZ,
      maxStorageBuffersPerShaderStage: al.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupsPerDimension: al.maxComputeWorkgroupsPerDimension,
    };
    const device = await adapter.requestDevice({ requiredFeatures: wanted, requiredLimits });
    const info = adapter.info;
    const configs = (info as unknown as { subgroupMatrixConfigs?: SubgroupMatrixConfig[] })
      .subgroupMatrixConfigs;
    const features: GpuFeatures = {
      f16: wanted.includes('shader-f16'),
      subgroups: wanted.includes('subgroups'),
      timestamps: wanted.includes('timestamp-query'),
      subgroupMatrix: wanted.includes(SUBGROUP_MATRIX_FEATURE as GPUFeatureName)
        ? [...(configs ?? [])].map((c) => ({
            componentType: String(c.componentType),
            resultComponentType: String(c.resultComponentType),
            M: c.M,
            N: c.N,
            K: c.K,
          }))
        : [],
    };
    device.addEventListener?.('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      console.error(`WebGPU error: ${e.message}`);
    });
    return new GpuContext(device, info, features, robustness, options.maxBinding);
  }

  /** Throws if the device was lost, with the reason. */
  checkAlive(): void {
    if (this.lost) throw new Error(this.lost);
  }

  /** A cached compute pipeline for `code`; `key` must identify the code (op name + variant + specialisation). */
  pipeline(key: string, code: string, entryPoint = 'main'): GPUComputePipeline {
    const k = `${key}#${entryPoint}`;
    let p = this.pipelines.get(k);
    if (!p) {
      const module = this.device.createShaderModule({ code, label: key });
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint }, label: key });
      this.pipelines.set(k, p);
      this.stats.pipelinesCompiled++;
    }
    return p;
  }

  /** Number of cached pipelines (for tests and diagnostics). */
  get pipelineCount(): number {
    return this.pipelines.size;
  }

  private static bucket(bytes: number): number {
    // Power-of-two buckets above 64 KiB, 256-byte granularity below: bounds waste at 2x, keeps small ones tight.
    const b = Math.max(256, Math.ceil(bytes / 256) * 256);
    if (b <= 65536) return b;
    return 2 ** Math.ceil(Math.log2(b));
  }

  /** A storage buffer of at least `bytes` bytes (from the pool when possible). Contents are undefined. */
  allocBuffer(bytes: number): GPUBuffer {
    this.checkAlive();
    const size = GpuContext.bucket(bytes);
    if (size > this.limits.maxBufferSize) {
      throw new Error(
        `GPU buffer of ${bytes} bytes exceeds the adapter's maxBufferSize (${this.limits.maxBufferSize}); use a smaller input or the CPU backend`,
      );
    }
    const list = this.freeBuffers.get(size);
    const hit = list?.pop();
    if (hit) return hit;
    const buffer = this.device.createBuffer({
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    this.allocatedBytes += size;
    this.peakBytes = Math.max(this.peakBytes, this.allocatedBytes);
    this.stats.buffersCreated++;
    this.stats.bufferBytesCreated += size;
    return buffer;
  }

  /** Returns a buffer to the pool. Kernels already recorded that use it still see its old contents. */
  releaseBuffer(buffer: GPUBuffer): void {
    const size = buffer.size;
    let list = this.freeBuffers.get(size);
    if (!list) {
      list = [];
      this.freeBuffers.set(size, list);
    }
    list.push(buffer);
  }

  /** Destroys pooled (free) buffers, e.g. after a pipeline stage, so their memory goes back to the device. */
  trimPool(): void {
    this.flush();
    for (const list of this.freeBuffers.values()) {
      for (const b of list) {
        this.allocatedBytes -= b.size;
        b.destroy();
      }
    }
    this.freeBuffers.clear();
  }

  /** A uniform buffer holding `data` (u32/f32 words), valid for dispatches recorded before the next flush. */
  uniform(data: ArrayBuffer | ArrayBufferView): GPUBuffer {
    const bytes = data instanceof ArrayBuffer ? data.byteLength : data.byteLength;
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const list = this.freeUniforms.get(size);
    const buffer =
      list?.pop() ??
      this.device.createBuffer({ size, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    const view =
      data instanceof ArrayBuffer
        ? new Uint8Array(data)
        : new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, bytes);
    this.device.queue.writeBuffer(buffer, 0, view);
    this.stats.writeBytes += bytes;
    this.uniformsInFlight.push(buffer);
    return buffer;
  }

  /**
   * Records one dispatch. `bindings[i]` goes to `@binding(i)` of `@group(0)`.
   * Workgroup counts above the per-dimension limit are the caller's to split.
   */
  dispatch(
    pipeline: GPUComputePipeline,
    bindings: readonly (BufferBinding | GPUBuffer)[],
    workgroups: readonly [number, number?, number?],
  ): void {
    this.checkAlive();
    const [x, y = 1, z = 1] = workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const maxWg = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw new Error(`dispatch of [${x}, ${y}, ${z}] workgroups exceeds the per-dimension limit ${maxWg}`);
    }
    const entries: GPUBindGroupEntry[] = bindings.map((b, i) => {
      const bb = 'buffer' in b ? b : { buffer: b };
      return { binding: i, resource: { buffer: bb.buffer, offset: bb.offset ?? 0, size: bb.size } };
    });
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    this.pending.push({ pipeline, bindGroup, workgroups: [x, y, z] });
    this.stats.dispatches++;
    if (this.pending.length >= MAX_DISPATCHES_PER_SUBMIT) this.flush();
  }

  /** Number of dispatches recorded but not submitted. */
  get pendingCount(): number {
    return this.pending.length;
  }

  /** Submits the recorded dispatches (one command buffer, one compute pass). */
  flush(timestampWrites?: GPUComputePassTimestampWrites): GPUCommandEncoder | null {
    if (this.pending.length === 0 && !timestampWrites) return null;
    const encoder = this.device.createCommandEncoder();
    const pass = encoder.beginComputePass(timestampWrites ? { timestampWrites } : {});
    for (const d of this.pending) {
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
    }
    pass.end();
    this.device.queue.submit([encoder.finish()]);
    this.stats.submits++;
    this.pending = [];
    for (const u of this.uniformsInFlight) {
      let list = this.freeUniforms.get(u.size);
      if (!list) {
        list = [];
        this.freeUniforms.set(u.size, list);
      }
      list.push(u);
    }
    this.uniformsInFlight = [];
    return encoder;
  }

  /** Writes bytes into a buffer; flushes pending dispatches first so they cannot see the new contents. */
  writeBuffer(buffer: GPUBuffer, byteOffset: number, data: ArrayBufferView): void {
    this.checkAlive();
    if (this.pending.length > 0) this.flush();
    // writeBuffer needs a multiple of 4 bytes.
    const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    this.stats.writeBytes += bytes.byteLength;
    if (bytes.byteLength % 4 === 0) {
      this.device.queue.writeBuffer(buffer, byteOffset, bytes);
    } else {
      const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(bytes);
      this.device.queue.writeBuffer(buffer, byteOffset, padded);
    }
  }

  /** Copies `bytes` bytes of `buffer` from `byteOffset` back to the CPU. */
  async readBuffer(buffer: GPUBuffer, byteOffset: number, bytes: number): Promise<ArrayBuffer> {
    this.flush();
    this.stats.readbacks++;
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(buffer, byteOffset, staging, 0, size);
    this.device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    this.checkAlive();
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    return out;
  }

  /** Waits until the GPU has finished all submitted work. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.checkAlive();
  }

  /** Convenience: a contiguous tensor on this context from CPU values. */
  tensor(
    data: Float32Array | readonly number[],
    shape: readonly number[],
    dtype: 'f32' | 'f16' = 'f32',
  ): Tensor {
    return Tensor.fromArray(data, shape, { dtype, gpu: this });
  }

  destroy(): void {
    this.trimPool();
    this.device.destroy();
  }
}
