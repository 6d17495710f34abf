/**
 * Device entry of `npm run bench -- pipeline` (bench/main.ts loads that benchmark by a computed specifier, which a
 * bundle cannot follow). Bundled by tools/device/prepare.sh; run by tools/device/bench-pipeline.sh:
 *   node .device/bundle/tools-device-entries-bench-pipeline.mjs --config full --model /tmp/full --runs 2 [--device cpu]
 * Prints the figures as one JSON object on stdout (progress on stderr).
 */

import { benchPipeline } from '../../../bench/pipeline.ts';
import { GPU_HELP, GpuContext } from '../../../src/runtime/gpu.ts';

const args = process.argv.slice(2);
const cpu = args.includes('--device') && args[args.indexOf('--device') + 1] === 'cpu';
const gpu = cpu ? null : await GpuContext.create();
if (!cpu && !gpu) {
  console.error(GPU_HELP);
  process.exit(2);
}
const figures = await benchPipeline(gpu, args);
process.stdout.write(`${JSON.stringify({ bench: 'pipeline', ...figures }, null, 2)}\n`);
gpu?.destroy();
