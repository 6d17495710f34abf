/**
 * `amodal3r encode`: images + 3-level masks -> the Amodal3R condition ([V, 4112, 1024] DINOv2 + mask tokens) as a
 * safetensors file (`cond`, `visible_fraction`), reusable with `amodal3r reconstruct --cond`.
 */

import type { Command } from 'commander';
import { writeConditioning } from '../pipeline/conditioning-file.ts';
import { encodeCondition } from '../pipeline/encode.ts';
import { acquireDevice, type DeviceChoice } from '../pipeline/reconstruct.ts';
import { createProgress } from './progress.ts';

export interface EncodeCliOptions {
  image: string[];
  mask: string[];
  dinov2: string;
  out: string;
  device: string;
  dilation?: string;
  json?: boolean;
}

/**
 * Runs the command; returns a summary object.
 * @example
 * await runEncode({ image: ['a.png'], mask: ['a_mask.png'], dinov2: 'model/dinov2', out: 'cond.safetensors', device: 'auto' });
 */
export async function runEncode(
  opts: EncodeCliOptions,
): Promise<{ out: string; views: number; visibleFractions: number[]; seconds: number; warnings: string[] }> {
  const t0 = performance.now();
  if (!['auto', 'webgpu', 'cpu'].includes(opts.device))
    throw new Error(`--device must be auto, webgpu or cpu, got "${opts.device}"`);
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    if (!opts.json) process.stderr.write(`warning: ${m}\n`);
  };
  const { gpu, owned } = await acquireDevice(opts.device as DeviceChoice, warn);
  const progress = createProgress({ quiet: !!opts.json });
  try {
    const dilation = opts.dilation === undefined ? undefined : Number(opts.dilation);
    const cond = await encodeCondition(opts.image, opts.mask, {
      dinov2: opts.dinov2,
      gpu,
      ...(dilation !== undefined && { dilationKernel: dilation }),
      onWarning: warn,
      onView: (done, total) => progress.update({ stage: 'encode', done, total }),
    });
    await writeConditioning(opts.out, cond);
    return {
      out: opts.out,
      views: cond.views,
      visibleFractions: cond.visibleFractions,
      seconds: (performance.now() - t0) / 1000,
      warnings,
    };
  } finally {
    progress.stop();
    if (owned) gpu?.destroy();
  }
}

const collect = (v: string, prev: string[]) => [...prev, v];

/**
 * Registers `encode` on the program.
 * @example
 * registerEncode(program);
 */
export function registerEncode(program: Command): void {
  program
    .command('encode')
    .description('encode images + 3-level masks into the Amodal3R condition (DINOv2 tokens + mask tokens)')
    .option('--image <file>', 'input image (repeat for more views)', collect, [])
    .option('--mask <file>', '3-level mask of the image before it (repeat)', collect, [])
    .requiredOption('--dinov2 <dir>', 'DINOv2 weights (HF layout or torch-hub names), e.g. <model>/dinov2')
    .requiredOption('--out <file>', 'output .safetensors (cond [V,4112,1024], visible_fraction [V])')
    .option('--device <d>', 'auto | webgpu | cpu', 'auto')
    .option('--dilation <k>', 'occluded-region dilation kernel (official 3; 0 = off)')
    .option('--json', 'print a JSON summary')
    .action(async (opts: EncodeCliOptions) => {
      const r = await runEncode(opts);
      if (opts.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else
        process.stdout.write(
          `wrote ${r.out}: ${r.views} view(s), visible ${r.visibleFractions.map((f) => `${(100 * f).toFixed(1)}%`).join(', ')} (${r.seconds.toFixed(1)} s)\n`,
        );
    });
}
