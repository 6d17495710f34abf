/**
 * `npm run bench -- <name> [--json] [--robust] [args...]`: runs bench/<name>.ts and prints its figures.
 * `--robust` keeps Dawn's robustness (bounds checks) on, as browsers run; the default in Node is off.
 */

import { GPU_HELP, GpuContext } from '../src/runtime/gpu.ts';
import type { BenchFn } from './harness.ts';

const BENCHES: Record<string, () => Promise<{ default: BenchFn }>> = {
  matmul: () => import('./matmul.ts'),
  attention: () => import('./attention.ts'),
  dinov2: () => import('./dinov2.ts'),
  'ss-flow': () => import('./ss-flow.ts'),
  outputs: () => import('./outputs.ts'),
  slat: () => import('./slat.ts'),
  // Computed specifier: it writes PNGs through sharp, which the device bundle of this file lacks (the device runs
  // tools/device/entries/occlude3d.ts instead, bundled with sharp carried).
  occlude3d: () => {
    const m = './occlude3d.ts';
    return import(m) as Promise<{ default: BenchFn }>;
  },
};

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const json = argv.includes('--json');
  const robustness = argv.includes('--robust');
  const rest = argv.filter((a) => a !== '--json' && a !== '--robust');
  const name = rest.shift();
  const log = json ? console.error : console.log;
  if (name === 'pipeline') {
    // The only benchmark that also runs on the CPU backend (`--device cpu`).
    const cpu = rest.includes('--device') && rest[rest.indexOf('--device') + 1] === 'cpu';
    const gpu = cpu ? null : await GpuContext.create({ robustness });
    if (!cpu && !gpu) {
      console.error(GPU_HELP);
      process.exit(2);
    }
    // Loaded by a computed specifier so device bundles (which lack sharp) do not pull in the image I/O.
    const pipelineModule = './pipeline.ts';
    const { benchPipeline } = (await import(pipelineModule)) as typeof import('./pipeline.ts');
    const figures = await benchPipeline(gpu, rest);
    log(JSON.stringify(figures));
    if (json) process.stdout.write(`${JSON.stringify({ bench: name, robustness, ...figures }, null, 2)}\n`);
    gpu?.destroy();
    return;
  }
  if (!name || !(name in BENCHES)) {
    console.error(
      `usage: npm run bench -- <${[...Object.keys(BENCHES), 'pipeline'].join('|')}> [--json] [--robust]`,
    );
    process.exit(2);
  }
  const gpu = await GpuContext.create({ robustness });
  if (!gpu) {
    console.error(GPU_HELP);
    process.exit(2);
  }
  log(
    `# ${name} on ${gpu.adapterInfo.vendor} ${gpu.adapterInfo.device || gpu.adapterInfo.description} (robustness ${robustness ? 'on' : 'off'})`,
  );
  const bench = (await BENCHES[name]()).default;
  const figures = await bench({ gpu, json, args: rest });
  const out = {
    bench: name,
    adapter: {
      vendor: gpu.adapterInfo.vendor,
      device: gpu.adapterInfo.device,
      description: gpu.adapterInfo.description,
    },
    robustness,
    ...figures,
  };
  if (json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  gpu.destroy();
}

await main();
