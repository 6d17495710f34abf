/**
 * Progress display for the pipeline commands: one cli-progress bar per stage (steps, ETA) on a TTY, plain
 * `stage: done/total` lines otherwise (logs, CI), nothing with `--json` (stdout stays machine-readable; progress
 * goes to stderr in every mode).
 */

import cliProgress from 'cli-progress';

export interface StageProgress {
  stage: string;
  done: number;
  total: number;
}

/** Human names of the pipeline stages. */
const LABELS: Record<string, string> = {
  encode: 'DINOv2 encode   ',
  stage1: 'stage 1 flow    ',
  'ss-decode': 'occupancy decode',
  stage2: 'stage 2 flow    ',
  'decode-gaussians': 'Gaussian decode ',
  'decode-mesh': 'mesh decode     ',
  render: 'turntable render',
  write: 'write outputs   ',
  download: 'download        ',
};

/** A progress sink; `update` takes pipeline progress events, `stop` ends the display. */
export interface ProgressSink {
  update(e: StageProgress): void;
  stop(): void;
}

/**
 * Progress bars on a TTY, plain lines otherwise, silence when `quiet`.
 * @example
 * const p = createProgress({ quiet: opts.json });
 * await reconstruct({ ..., onProgress: (e) => p.update(e) }); p.stop();
 */
export function createProgress(options: { quiet?: boolean; stream?: NodeJS.WriteStream } = {}): ProgressSink {
  const stream = options.stream ?? process.stderr;
  if (options.quiet) return { update: () => {}, stop: () => {} };
  if (!stream.isTTY) {
    let last = '';
    return {
      update: (e) => {
        const line = `${(LABELS[e.stage] ?? e.stage).trim()}: ${e.done}/${e.total}`;
        if (line !== last) stream.write(`${line}\n`);
        last = line;
      },
      stop: () => {},
    };
  }
  const multi = new cliProgress.MultiBar(
    {
      stream,
      format: '{label} |{bar}| {value}/{total} | {duration_formatted} elapsed, ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      etaBuffer: 4,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  return {
    update: (e) => {
      let bar = bars.get(e.stage);
      if (!bar) {
        bar = multi.create(Math.max(1, e.total), 0, { label: LABELS[e.stage] ?? e.stage });
        bars.set(e.stage, bar);
      }
      bar.setTotal(Math.max(1, e.total));
      bar.update(e.done);
    },
    stop: () => multi.stop(),
  };
}

/** Bytes as MiB/GiB text. */
export function formatBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}
