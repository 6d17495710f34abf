/**
 * `amodal3r download`: fetches the model directory from the Hugging Face hub (src/pipeline/download.ts):
 * Sm0kyWu/Amodal3R into --to, DINOv2 (facebook/dinov2-with-registers-large) into --to/dinov2. Resumable (rerun
 * after an interruption), verified against the hub's hashes, then checked with `openModelDir`.
 */

import type { Command } from 'commander';
import { DEFAULT_DINOV2_REPO, DEFAULT_REPO, downloadModel } from '../pipeline/download.ts';
import { openModelDir } from '../pipeline/model-dir.ts';
import { createProgress, formatBytes } from './progress.ts';

export interface DownloadCliOptions {
  to: string;
  repo: string;
  dinov2Repo: string;
  revision: string;
  hubUrl?: string;
  skipDinov2?: boolean;
  json?: boolean;
}

/**
 * Registers `download` on the program.
 * @example
 * registerDownload(program);
 */
export function registerDownload(program: Command): void {
  program
    .command('download')
    .description('download the Amodal3R weights and DINOv2 from the Hugging Face hub (resumable, verified)')
    .option('--to <dir>', 'model directory to fill', 'models/Amodal3R')
    .option('--repo <id>', 'Amodal3R repository', DEFAULT_REPO)
    .option('--dinov2-repo <id>', 'DINOv2 repository (HF transformers layout)', DEFAULT_DINOV2_REPO)
    .option('--revision <rev>', 'branch, tag or commit', 'main')
    .option('--hub-url <url>', 'hub base URL (mirror)')
    .option('--skip-dinov2', 'do not fetch DINOv2')
    .option('--json', 'print a JSON summary')
    .action(async (opts: DownloadCliOptions) => {
      const progress = createProgress({ quiet: !!opts.json });
      const files = new Map<string, number>();
      let r: Awaited<ReturnType<typeof downloadModel>>;
      try {
        r = await downloadModel({
          to: opts.to,
          repo: opts.repo,
          dinov2Repo: opts.dinov2Repo,
          revision: opts.revision,
          ...(opts.hubUrl && { hubUrl: opts.hubUrl }),
          skipDinov2: !!opts.skipDinov2,
          onProgress: (e) => {
            if (!files.has(e.file)) files.set(e.file, files.size);
            // One bar per file, in MiB so the numbers stay readable.
            progress.update({
              stage: `download ${e.file}`,
              done: Math.round(e.done / (1 << 20)),
              total: Math.max(1, Math.round(e.total / (1 << 20))),
            });
          },
          onLog: opts.json ? undefined : (m) => process.stderr.write(`${m}\n`),
        });
      } finally {
        progress.stop();
      }
      let check = 'ok';
      try {
        const m = await openModelDir(r.dir);
        if (!m.stage2) check = `stage 1 only (${m.stage2Missing.join('; ')})`;
      } catch (e) {
        check = (e as Error).message;
      }
      if (opts.json) process.stdout.write(`${JSON.stringify({ ...r, check }, null, 2)}\n`);
      else
        process.stdout.write(
          `${r.dir}: ${r.files.length} files (${r.files.filter((f) => f.status === 'skipped').length} already complete), ${formatBytes(r.bytes)} transferred in ${r.seconds.toFixed(1)} s\nmodel check: ${check}\n`,
        );
    });
}
