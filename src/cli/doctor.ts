/**
 * `amodal3r doctor`: which backend the pipeline would use, with the adapter, features, limits and Dawn toggles.
 *
 * Notes
 * - Dawn (native code in the `webgpu` package) prints diagnostics straight to the process's file descriptors
 *   while a device is created: on lavapipe two "Warning: maxDynamic... artificially reduced" lines go to stderr;
 *   Dawn's info/debug log level goes to stdout. Node cannot redirect its own fd 1, so `--json` probes the GPU in a
 *   child process whose stdout is joined to our stderr and whose report comes back over the IPC channel; our
 *   stdout then holds only the JSON. (A probe crash, e.g. a driver fault, becomes a "cpu" report with a warning.)
 * - Without `--json` the probe runs in-process: native chatter mixed into human-readable output is harmless.
 */

import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type Command, Option } from 'commander';
import { GPU_CONTEXT_DEFAULTS, GPU_HELP, type SubgroupMatrixConfig } from '../runtime/gpu.ts';
import { acquireCliGpu, dawnToggles, gpuDisabledByEnv } from './gpu.ts';

export interface DoctorOptions {
  /** Print only a JSON report on stdout. */
  json?: boolean;
  /** Exit with status 2 unless a WebGPU adapter is available. */
  requireGpu?: boolean;
  /** Keep Dawn's robustness (bounds checks) on, as browsers do. */
  robust?: boolean;
}

/** Exit status of `doctor --require-gpu` without an adapter. */
export const EXIT_NO_GPU = 2;

/** Limits the kernels depend on (binding splits, workgroup sizes, shared memory). */
const REPORTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'minStorageBufferOffsetAlignment',
  'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
] as const;

export interface DoctorReport {
  backend: 'webgpu' | 'cpu';
  /** Why the backend is 'cpu' (null on webgpu). */
  reason: string | null;
  node: string;
  platform: string;
  /** Dawn's bounds checks (robustness) requested (browsers always keep them on). */
  robustness: boolean;
  dawnToggles: string[];
  adapter: {
    vendor: string;
    architecture: string;
    device: string;
    description: string;
    subgroupMinSize: number | null;
    subgroupMaxSize: number | null;
    isFallbackAdapter: boolean | null;
  } | null;
  features: {
    'shader-f16': boolean;
    subgroups: boolean;
    'timestamp-query': boolean;
    subgroupMatrixConfigs: SubgroupMatrixConfig[];
    /** Every feature enabled on the device. */
    device: string[];
  } | null;
  limits: Record<string, number> | null;
  /** The largest storage binding ops use (min of the adapter limit and any forced limit). */
  maxBinding: number | null;
  warnings: string[];
}

function environment(robustness: boolean) {
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    robustness,
    dawnToggles: dawnToggles(robustness),
  };
}

/** The report when there is no GPU, with `reason` and how to get an adapter. */
function cpuReport(reason: string, robustness: boolean): DoctorReport {
  return {
    backend: 'cpu',
    reason,
    ...environment(robustness),
    adapter: null,
    features: null,
    limits: null,
    maxBinding: null,
    warnings: [`${reason}; running on the CPU backend (slow). ${GPU_HELP}`],
  };
}

/**
 * Probes WebGPU in this process and describes it.
 * @example
 * const report = await collectDoctorReport({ robust: false });
 * console.log(report.backend, report.adapter?.device);
 */
export async function collectDoctorReport(options: DoctorOptions = {}): Promise<DoctorReport> {
  const robustness = options.robust ?? GPU_CONTEXT_DEFAULTS.robustness;
  const { gpu, reason } = await acquireCliGpu({ robustness });
  if (!gpu) return cpuReport(reason ?? 'no WebGPU adapter', robustness);
  try {
    const info = gpu.adapterInfo as GPUAdapterInfo & {
      subgroupMinSize?: number;
      subgroupMaxSize?: number;
      isFallbackAdapter?: boolean;
    };
    const limits: Record<string, number> = {};
    for (const k of REPORTED_LIMITS) limits[k] = Number(gpu.limits[k]);
    const warnings: string[] = [];
    if (info.isFallbackAdapter) warnings.push('the adapter is a software fallback: expect low performance');
    if (!gpu.features.f16) warnings.push('no shader-f16: f16 weights run through the f32 kernels');
    return {
      backend: 'webgpu',
      reason: null,
      ...environment(robustness),
      adapter: {
        vendor: info.vendor,
        architecture: info.architecture,
        device: info.device,
        description: info.description,
        subgroupMinSize: info.subgroupMinSize ?? null,
        subgroupMaxSize: info.subgroupMaxSize ?? null,
        isFallbackAdapter: info.isFallbackAdapter ?? null,
      },
      features: {
        'shader-f16': gpu.features.f16,
        subgroups: gpu.features.subgroups,
        'timestamp-query': gpu.features.timestamps,
        subgroupMatrixConfigs: gpu.features.subgroupMatrix,
        device: [...gpu.device.features].map(String).sort(),
      },
      limits,
      maxBinding: gpu.maxBinding,
      warnings,
    };
  } finally {
    gpu.destroy();
  }
}

function bytesStr(n: number): string {
  if (n >= 2 ** 30) return `${n} (${(n / 2 ** 30).toFixed(1)} GiB)`;
  if (n >= 2 ** 20) return `${n} (${(n / 2 ** 20).toFixed(1)} MiB)`;
  return String(n);
}

/** Human-readable report (the non-JSON output). */
export function formatDoctorReport(r: DoctorReport): string {
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  const lines = [`backend        ${r.backend}${r.reason ? ` (${r.reason})` : ''}`];
  lines.push(`node           ${r.node} ${r.platform}`);
  if (r.adapter) {
    const a = r.adapter;
    lines.push(
      `adapter        vendor=${a.vendor || '?'} architecture=${a.architecture || '?'} device=${a.device || '?'}`,
    );
    lines.push(`               description=${a.description || '?'}`);
    if (a.subgroupMinSize !== null)
      lines.push(`               subgroup size ${a.subgroupMinSize}..${a.subgroupMaxSize}`);
  }
  if (r.features) {
    const f = r.features;
    lines.push(
      `features       shader-f16 ${yes(f['shader-f16'])}, subgroups ${yes(f.subgroups)}, timestamp-query ${yes(f['timestamp-query'])}`,
    );
    const sg = f.subgroupMatrixConfigs;
    lines.push(
      `subgroup-matrix ${sg.length === 0 ? 'none' : sg.map((c) => `${c.componentType}->${c.resultComponentType} ${c.M}x${c.N}x${c.K}`).join(', ')}`,
    );
    lines.push(`device features ${f.device.join(', ')}`);
  }
  if (r.limits) {
    lines.push('limits');
    for (const [k, v] of Object.entries(r.limits)) lines.push(`  ${k.padEnd(36)} ${bytesStr(v)}`);
  }
  lines.push(`dawn toggles   ${r.dawnToggles.join(', ')}`);
  lines.push(
    `robustness     ${r.robustness ? 'on (Dawn bounds checks, as in browsers)' : 'off (pass --robust to keep Dawn bounds checks, as browsers do)'}`,
  );
  return `${lines.join('\n')}\n`;
}

/** Runs the probe in a child process (see the notes); its stdout goes to our stderr. */
async function probeInChild(options: DoctorOptions): Promise<DoctorReport> {
  const entry = fileURLToPath(new URL('../../bin/amodal3r.mjs', import.meta.url));
  const args = ['doctor', '--probe-child', ...(options.robust ? ['--robust'] : [])];
  const child = fork(entry, args, { stdio: ['ignore', 2, 2, 'ipc'], execArgv: [] });
  return new Promise<DoctorReport>((resolve) => {
    let report: DoctorReport | null = null;
    child.on('message', (m) => {
      report = m as DoctorReport;
    });
    const fallback = (why: string) => cpuReport(why, !!options.robust);
    child.on('error', (e) => resolve(fallback(`GPU probe could not start: ${e.message}`)));
    child.on('exit', (code, signal) => {
      resolve(report ?? fallback(`GPU probe exited without a report (code ${code}, signal ${signal})`));
    });
  });
}

/** The child side: probe, send the report to the parent, exit. */
async function probeChild(options: DoctorOptions): Promise<number> {
  const report = await collectDoctorReport(options);
  await new Promise<void>((resolve, reject) => {
    if (!process.send) return reject(new Error('--probe-child needs an IPC channel'));
    process.send(report, (err: Error | null) => (err ? reject(err) : resolve()));
  });
  process.disconnect?.();
  return 0;
}

/**
 * Runs the doctor command and returns its exit status.
 * @example
 * process.exitCode = await runDoctor({ json: true });
 */
export async function runDoctor(options: DoctorOptions & { probeChild?: boolean }): Promise<number> {
  if (options.probeChild) return probeChild(options);
  // With the GPU disabled Dawn is never loaded, so nothing native can write to stdout: no child needed.
  const isolate = options.json && !gpuDisabledByEnv();
  const report = isolate ? await probeInChild(options) : await collectDoctorReport(options);
  for (const w of report.warnings) process.stderr.write(`warning: ${w}\n`);
  if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(formatDoctorReport(report));
  if (options.requireGpu && report.backend !== 'webgpu') {
    process.stderr.write(`error: --require-gpu given but the backend is ${report.backend}\n`);
    return EXIT_NO_GPU;
  }
  return 0;
}

/** Adds `doctor` to the program; the action stores its exit status in `process.exitCode`. */
export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description(
      'report the compute backend (WebGPU adapter, features, limits, Dawn toggles) or why it is the CPU',
    )
    .option('--json', 'print only a JSON report on stdout')
    .option('--require-gpu', `exit with status ${EXIT_NO_GPU} when no WebGPU adapter is available`)
    .option('--robust', "keep Dawn's bounds checks (robustness) on, as browsers do")
    .addOption(new Option('--probe-child', 'internal: probe and report to the parent over IPC').hideHelp())
    .action(async (opts: DoctorOptions & { probeChild?: boolean }) => {
      process.exitCode = await runDoctor(opts);
    });
}
