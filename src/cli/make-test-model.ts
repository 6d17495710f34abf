/**
 * `amodal3r make-test-model`: a randomly initialised model directory in the released layout
 * (src/pipeline/make-test-model.ts), for tests and trying the pipeline without the real weights.
 */

import type { Command } from 'commander';
import { makeTestModel, type TestModelSize } from '../pipeline/make-test-model.ts';
import { acquireDevice, type DeviceChoice } from '../pipeline/reconstruct.ts';

export interface MakeTestModelCliOptions {
  config: string;
  out: string;
  seed: string;
  device: string;
  force?: boolean;
  json?: boolean;
  /** Commander's `--no-calibrate` sets this false. */
  calibrate: boolean;
  targetVoxels?: string;
}

/**
 * Registers `make-test-model` on the program.
 * @example
 * registerMakeTestModel(program);
 */
export function registerMakeTestModel(program: Command): void {
  program
    .command('make-test-model')
    .description(
      'write a randomly initialised model directory (tiny or full size) in the Hugging Face layout',
    )
    .option('--config <size>', 'tiny (reduced, fast) | full (released sizes, ~4 GB)', 'tiny')
    .requiredOption('--out <dir>', 'output model directory')
    .option('--seed <n>', 'weight seed', '0')
    .option('--device <d>', 'device for the occupancy calibration: auto | webgpu | cpu', 'auto')
    .option('--force', 'replace an existing non-empty --out')
    .option(
      '--no-calibrate',
      'keep the random SS decoder bias (skips the decoder pass: minutes on a CPU at full size; occupancy is then arbitrary)',
    )
    .option(
      '--target-voxels <n>',
      'voxels the calibrated SS decoder marks per random latent (default 500 tiny / 20000 full)',
    )
    .option('--json', 'print a JSON summary')
    .action(async (opts: MakeTestModelCliOptions) => {
      if (opts.config !== 'tiny' && opts.config !== 'full')
        throw new Error(`--config must be tiny or full, got "${opts.config}"`);
      const seed = Number(opts.seed);
      if (!Number.isSafeInteger(seed) || seed < 0)
        throw new Error(`--seed must be a non-negative integer, got "${opts.seed}"`);
      const targetVoxels = opts.targetVoxels === undefined ? undefined : Number(opts.targetVoxels);
      if (targetVoxels !== undefined && !(Number.isSafeInteger(targetVoxels) && targetVoxels > 0))
        throw new Error(`--target-voxels must be a positive integer, got "${opts.targetVoxels}"`);
      if (!['auto', 'webgpu', 'cpu'].includes(opts.device))
        throw new Error(`--device must be auto, webgpu or cpu, got "${opts.device}"`);
      // Without calibration nothing runs on a device: do not open one.
      const { gpu, owned } = opts.calibrate
        ? await acquireDevice(opts.device as DeviceChoice, (m) => process.stderr.write(`warning: ${m}\n`))
        : { gpu: null, owned: false };
      // Ctrl-C / SIGTERM: stop at the next file boundary and remove the partial folder (a full-size run writes
      // 4 GiB); a second signal exits at once.
      const ac = new AbortController();
      const stop = (sig: NodeJS.Signals) => {
        if (ac.signal.aborted) process.exit(130);
        process.stderr.write(
          `${sig}: stopping after the current checkpoint and removing the partial output\n`,
        );
        ac.abort(new Error(`interrupted by ${sig}; nothing was written to ${opts.out}`));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      try {
        const r = await makeTestModel({
          signal: ac.signal,
          config: opts.config as TestModelSize,
          out: opts.out,
          seed,
          gpu,
          force: !!opts.force,
          calibrate: opts.calibrate,
          targetVoxels,
          // Progress goes to stderr in both modes (the JSON summary is the only stdout).
          onLog: (m) => process.stderr.write(`${m}\n`),
        });
        if (opts.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        else
          process.stdout.write(
            `wrote ${r.dir} (${opts.config}) in ${r.seconds.toFixed(1)} s: ${r.models.length} checkpoints + DINOv2; ${
              opts.calibrate
                ? `occupancy calibrated to ${r.calibration.voxels} voxels per random latent`
                : 'occupancy not calibrated (--no-calibrate)'
            }\n`,
          );
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        if (owned) gpu?.destroy();
      }
    });
}
