/**
 * The `amodal3r` command line. Each subcommand lives in its own file and registers itself on the program.
 * Run with `npx amodal3r <command>` (bin/amodal3r.mjs) or `npm run amodal3r -- <command>`.
 */

import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { registerCompare } from './compare.ts';
import { registerDataset } from './dataset.ts';
import { registerDoctor } from './doctor.ts';
import { registerDownload } from './download.ts';
import { registerEncode } from './encode.ts';
import { registerMakeTestModel } from './make-test-model.ts';
import { registerOcclude2d } from './occlude2d.ts';
import { registerOcclude3d } from './occlude3d.ts';
import { registerOcclusionMask } from './occlusion-mask.ts';
import { registerReconstruct } from './reconstruct.ts';

/** The program with every subcommand registered. */
export function buildProgram(): Command {
  const program = new Command('amodal3r')
    .description('Amodal3R: complete 3D objects from occluded images, on WebGPU with a CPU fallback')
    .showHelpAfterError();
  registerDoctor(program);
  registerOcclude2d(program);
  registerOcclude3d(program);
  registerDataset(program);
  registerReconstruct(program);
  registerEncode(program);
  registerMakeTestModel(program);
  registerOcclusionMask(program);
  registerDownload(program);
  registerCompare(program);
  return program;
}

/**
 * Parses `argv` (as in `process.argv`) and runs the command; resolves to the exit status.
 * @example
 * process.exitCode = await main(['node', 'amodal3r', 'doctor', '--json']);
 */
export async function main(argv: readonly string[] = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
  } catch (e) {
    process.stderr.write(`amodal3r: ${(e as Error).message}\n`);
    return 1;
  }
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}

// Run when executed directly (`node --import tsx src/cli/main.ts ...`), not when imported by bin/amodal3r.mjs.
const self = fileURLToPath(import.meta.url);
if (process.argv[1] && realpathSync(process.argv[1]) === self) {
  process.exitCode = await main(process.argv);
}
