/**
 * Benchmark harness: validate first, then time. GPU time comes from timestamp queries written around one
 * compute pass per timed iteration (falls back to wall time where the adapter has no timestamp-query).
 *
 * The H100 idles at 345 MHz and drops back within ~1 s of idle, so every measurement first runs the workload
 * back to back for `warmupMs` (>= 1 s by default) before timing.
 */

import {
  COND_CHANNELS,
  COND_IMAGE_TOKENS,
  COND_TOKENS,
  type FlowCondition,
  prepareFlowCondition,
} from '../src/models/ss-flow.ts';
import type { DType } from '../src/runtime/dtype.ts';
import type { GpuContext } from '../src/runtime/gpu.ts';

export interface BenchContext {
  gpu: GpuContext;
  json: boolean;
  /** Remaining command-line arguments after the benchmark name. */
  args: string[];
}

/** A benchmark prints human-readable lines itself and returns the figures for `--json`. */
export type BenchFn = (ctx: BenchContext) => Promise<Record<string, unknown>>;

export interface TimeOptions {
  warmupMs?: number;
  iterations?: number;
}

export const TIME_DEFAULTS: Required<TimeOptions> = { warmupMs: 1000, iterations: 20 };

export interface Timing {
  /** Median GPU milliseconds per iteration. */
  medianMs: number;
  minMs: number;
  /** 'timestamp' (GPU timestamps) or 'wall' (host time around submit + onSubmittedWorkDone). */
  source: 'timestamp' | 'wall';
  iterations: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * Times `record` (which records dispatches on `gpu` without flushing them). Each timed iteration is one
 * submission of one compute pass.
 */
export async function timeGpu(
  gpu: GpuContext,
  record: () => void,
  options: TimeOptions = {},
): Promise<Timing> {
  const o = { ...TIME_DEFAULTS, ...options };
  const t0 = performance.now();
  let warm = 0;
  while (performance.now() - t0 < o.warmupMs || warm < 3) {
    record();
    gpu.flush();
    if (++warm % 4 === 0) await gpu.sync();
  }
  await gpu.sync();
  const samples: number[] = [];
  if (gpu.features.timestamps) {
    const qs = gpu.device.createQuerySet({ type: 'timestamp', count: 2 });
    const resolve = gpu.device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const read = gpu.device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    for (let i = 0; i < o.iterations; i++) {
      record();
      const enc = gpu.flush({ querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 });
      if (!enc) throw new Error('timeGpu: record() recorded no dispatches');
      const e2 = gpu.device.createCommandEncoder();
      e2.resolveQuerySet(qs, 0, 2, resolve, 0);
      e2.copyBufferToBuffer(resolve, 0, read, 0, 16);
      gpu.device.queue.submit([e2.finish()]);
      await read.mapAsync(GPUMapMode.READ);
      const [a, b] = new BigUint64Array(read.getMappedRange().slice(0));
      read.unmap();
      samples.push(Number(b - a) / 1e6);
    }
    qs.destroy();
    resolve.destroy();
    read.destroy();
    return {
      medianMs: median(samples),
      minMs: Math.min(...samples),
      source: 'timestamp',
      iterations: o.iterations,
    };
  }
  for (let i = 0; i < o.iterations; i++) {
    const s = performance.now();
    record();
    await gpu.sync();
    samples.push(performance.now() - s);
  }
  return { medianMs: median(samples), minMs: Math.min(...samples), source: 'wall', iterations: o.iterations };
}

/** TFLOP/s from a FLOP count and milliseconds. */
export function tflops(flop: number, ms: number): number {
  return flop / (ms * 1e-3) / 1e12;
}

/**
 * Wall-clock timing of an async workload that records many submissions (whole networks): warm up for
 * `warmupMs`, then the median over `iterations` of (run + GPU drain).
 */
export async function timeWall(
  gpu: GpuContext,
  run: () => Promise<void>,
  options: TimeOptions = {},
): Promise<Timing> {
  const o = { ...TIME_DEFAULTS, ...options };
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < o.warmupMs || n < 2) {
    await run();
    await gpu.sync();
    n++;
  }
  const samples: number[] = [];
  for (let i = 0; i < o.iterations; i++) {
    const s = performance.now();
    await run();
    await gpu.sync();
    samples.push(performance.now() - s);
  }
  return { medianMs: median(samples), minMs: Math.min(...samples), source: 'wall', iterations: o.iterations };
}

/** `--name value` from benchmark arguments. */
export function argValue(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Random (uniform +-1/sqrt(fan_in)) weights for a key -> shape table: timing needs no real checkpoint. */
export function randomWeights(
  shapes: ReadonlyMap<string, readonly number[]>,
): Map<string, { shape: readonly number[]; data: Float32Array }> {
  let s = 0x9e3779b9;
  const out = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  for (const [k, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length > 1 ? n / shape[0] : 1;
    const scale = 1 / Math.sqrt(fanIn);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      data[i] = ((s / 4294967296) * 2 - 1) * scale;
    }
    out.set(k, { shape, data });
  }
  return out;
}

/** Levels of the synthetic mask / occlusion tokens: a spread of values in [0, 1], as real masks give. */
const SYNTHETIC_MASK_LEVELS = 197;

/**
 * The two conditions of one CFG step for the flow benchmarks (stage 1 and SLAT): a synthetic [1, 4112, 1024]
 * condition (image tokens sin(i), mask and occlusion tokens in [0, 1]) and the all-zero unconditional one, plus the
 * conditional one's raw values (what the samplers take). Timing does not depend on the values, except that a zero
 * condition takes the cross-attentions' constant shortcut, so the conditional one must not be zero.
 * @example
 * const { cond, uncond } = benchFlowConditions(gpu, flow.dtype);
 */
export function benchFlowConditions(
  gpu: GpuContext,
  dtype: DType,
): { values: Float32Array; cond: FlowCondition; uncond: FlowCondition } {
  const values = new Float32Array(COND_TOKENS * COND_CHANNELS);
  const imageEnd = COND_IMAGE_TOKENS * COND_CHANNELS;
  for (let i = 0; i < imageEnd; i++) values[i] = Math.sin(i);
  for (let i = imageEnd; i < values.length; i++) {
    values[i] = (Math.floor(i / COND_CHANNELS) % SYNTHETIC_MASK_LEVELS) / (SYNTHETIC_MASK_LEVELS - 1);
  }
  return {
    values,
    cond: prepareFlowCondition(values, gpu, dtype),
    uncond: prepareFlowCondition(new Float32Array(COND_TOKENS * COND_CHANNELS), gpu, dtype),
  };
}
