/**
 * Adapter dump for the device machine: adapter info, features, limits and subgroup-matrix configurations under
 * our Dawn toggles (as src/runtime/gpu.ts sets them), plus a check of Dawn's timestamp quantization.
 *
 *   node --import tsx tools/device/entries/adapter.ts [--robust]     (prints one JSON object)
 *
 * Notes
 * - `GpuContext.create()` (src/runtime/gpu.ts) gives the context our code runs with; its `features` and limits
 *   are reported as "context".
 * - Timestamp quantization: Dawn rounds timestamp-query results down to a coarse quantum unless the toggle
 *   `timestamp_quantization` is disabled. We time the same short dispatch 24 times through a fresh Dawn instance
 *   with the toggle left at its default and with `disable-dawn-features=timestamp_quantization`, and report the
 *   largest power of two dividing every nonzero delta (ns) and the distinct values. Coarse steps there mean
 *   bench/harness.ts figures for sub-millisecond kernels are quantized unless gpu.ts disables the toggle too.
 */

import { DAWN_TOGGLES_BASE, GpuContext } from '../../../src/runtime/gpu.ts';

interface QuantProbe {
  flags: string[];
  deltasNs: number[];
  /** Largest power of two (ns) dividing every nonzero delta; 1 means fine-grained. */
  commonPow2Ns: number;
  distinct: number;
}

const SHADER = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> data: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let i = id.x;
  if (i >= arrayLength(&data)) { return; }
  var x = data[i];
  for (var k = 0u; k < 64u; k++) { x = fma(x, 1.0001, 0.5); }
  data[i] = x;
}`;

function pow2Divisor(values: number[]): number {
  let p = 1;
  const nz = values.filter((v) => v > 0);
  if (nz.length === 0) return 0;
  while (p < 2 ** 40 && nz.every((v) => v % (p * 2) === 0)) p *= 2;
  return p;
}

async function quantProbe(flags: string[]): Promise<QuantProbe | { flags: string[]; error: string }> {
  const mod = (await import('webgpu')) as { create: (f: string[]) => GPU; globals: Record<string, unknown> };
  Object.assign(globalThis, mod.globals);
  const gpu = mod.create(flags);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return { flags, error: 'no adapter' };
  if (!adapter.features.has('timestamp-query')) return { flags, error: 'no timestamp-query' };
  const device = await adapter.requestDevice({ requiredFeatures: ['timestamp-query'] });
  const n = 1 << 20;
  const buf = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(buf, 0, new Float32Array(n).fill(1));
  const module = device.createShaderModule({ code: SHADER });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const bg = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: buf } }],
  });
  const qs = device.createQuerySet({ type: 'timestamp', count: 2 });
  const resolve = device.createBuffer({
    size: 16,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const deltas: number[] = [];
  for (let i = 0; i < 24; i++) {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass({
      timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
    });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(n / 256);
    pass.end();
    enc.resolveQuerySet(qs, 0, 2, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, read, 0, 16);
    device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const [a, b] = new BigUint64Array(read.getMappedRange().slice(0));
    read.unmap();
    deltas.push(Number(b - a));
  }
  device.destroy();
  return { flags, deltasNs: deltas, commonPow2Ns: pow2Divisor(deltas), distinct: new Set(deltas).size };
}

async function main(): Promise<void> {
  const robustness = process.argv.includes('--robust');
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
  const gpu = await GpuContext.create({ robustness });
  if (!gpu) {
    process.stdout.write(`${JSON.stringify({ ok: false, error: 'no WebGPU adapter' })}\n`);
    process.exitCode = 2;
    return;
  }
  const info = gpu.adapterInfo;
  const limits: Record<string, number> = {};
  for (const key in gpu.limits) {
    const v = (gpu.limits as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') limits[key] = v;
  }
  const toggles = [...DAWN_TOGGLES_BASE, ...(robustness ? [] : ['disable_robustness'])];
  const report = {
    ok: true,
    adapter: {
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
      subgroupMinSize: (info as unknown as { subgroupMinSize?: number }).subgroupMinSize,
      subgroupMaxSize: (info as unknown as { subgroupMaxSize?: number }).subgroupMaxSize,
    },
    context: { robustness, toggles, features: gpu.features, deviceFeatures: [...gpu.device.features].sort() },
    limits,
    timestampQuantization: [
      await quantProbe([`enable-dawn-features=${toggles.join(',')}`]),
      await quantProbe([
        `enable-dawn-features=${toggles.join(',')}`,
        'disable-dawn-features=timestamp_quantization',
      ]),
    ],
    node: process.version,
  };
  gpu.destroy();
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

await main();
