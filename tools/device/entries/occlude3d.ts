/**
 * The occlude3d benchmark (bench/occlude3d.ts) as a device entry: the device bundle of bench/main.ts leaves it out
 * because it writes PNGs through sharp; this bundle keeps `sharp` external and tools/device/occlude3d.sh carries it.
 *
 *   node --import tsx tools/device/entries/occlude3d.ts [--faces 10000,100000] [--views 4,150] [--no-write]
 *
 * Prints the figures as one JSON object on stdout (progress lines on stderr).
 */

import bench from '../../../bench/occlude3d.ts';
import { GPU_HELP, GpuContext } from '../../../src/runtime/gpu.ts';

const args = process.argv.slice(2);
const gpu = await GpuContext.create();
if (!gpu) {
  console.error(GPU_HELP);
  process.exit(2);
}
console.error(
  `# occlude3d on ${gpu.adapterInfo.vendor} ${gpu.adapterInfo.device || gpu.adapterInfo.description}`,
);
const figures = await bench({ gpu, json: true, args });
const out = {
  bench: 'occlude3d',
  adapter: {
    vendor: gpu.adapterInfo.vendor,
    device: gpu.adapterInfo.device,
    description: gpu.adapterInfo.description,
  },
  ...figures,
};
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
gpu.destroy();
