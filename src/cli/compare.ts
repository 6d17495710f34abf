/** `amodal3r compare A B`: compares two intermediate-dump folders (see src/pipeline/compare.ts). */

import type { Command } from 'commander';
import { COMPARE_DEFAULTS, compareDumps, formatCompareReport, parseTolerances } from '../pipeline/compare.ts';

const collect = (v: string, prev: string[]) => [...prev, v];

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
    .option(
      '--tol <group[/tensor]=rtol>',
      'relative tolerance for one dump group or tensor, e.g. stage2=1e-4 (repeat)',
      collect,
      [],
    )
    .option('--ignore <group[/tensor]>', 'leave a dump group or tensor out (repeat)', collect, [])
    .option('--json', 'print the report as JSON')
    .action(
      async (
        a: string,
        b: string,
        opts: { rtol: string; iou: string; tol: string[]; ignore: string[]; json?: boolean },
      ) => {
        const report = await compareDumps(a, b, {
          rtol: Number(opts.rtol),
          iou: Number(opts.iou),
          tolerances: parseTolerances(opts.tol),
          ignore: opts.ignore,
        });
        process.stdout.write(
          opts.json ? `${JSON.stringify(report, null, 1)}\n` : `${formatCompareReport(report)}\n`,
        );
        if (!report.ok) process.exitCode = 1;
      },
    );
}
