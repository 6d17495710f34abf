/** `amodal3r compare A B`: compares two intermediate-dump folders (see src/pipeline/compare.ts). */

import type { Command } from 'commander';
import { COMPARE_DEFAULTS, compareDumps, formatCompareReport } from '../pipeline/compare.ts';

export function registerCompare(program: Command): void {
  program
    .command('compare')
    .description('compare two --dump folders tensor by tensor (ours vs ours, or vs tools/official_dump.py)')
    .argument('<a>', 'first dump folder')
    .argument('<b>', 'second dump folder (the reference: relative errors are against its values)')
    .option(
      '--rtol <x>',
      'largest allowed relative error (max |a-b| / max |b|)',
      String(COMPARE_DEFAULTS.rtol),
    )
    .option('--iou <x>', 'smallest allowed IoU for voxel coordinates', String(COMPARE_DEFAULTS.iou))
    .option('--json', 'print the report as JSON')
    .action(async (a: string, b: string, opts: { rtol: string; iou: string; json?: boolean }) => {
      const report = await compareDumps(a, b, { rtol: Number(opts.rtol), iou: Number(opts.iou) });
      process.stdout.write(
        opts.json ? `${JSON.stringify(report, null, 1)}\n` : `${formatCompareReport(report)}\n`,
      );
      if (!report.ok) process.exitCode = 1;
    });
}
