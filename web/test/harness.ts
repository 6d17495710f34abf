/**
 * Browser-test harness: builds the app with Vite, serves it and model folders over HTTP (with Range, as a static
 * host would), and launches Debian's `chromium` through playwright-core with WebGPU enabled.
 *
 * Notes on WebGPU in headless Chromium on a machine without a GPU (Chromium 156, Debian bookworm), measured:
 * - `navigator.gpu` exists only in secure contexts, so the page must come from http://127.0.0.1, not about:blank
 *   or file://.
 * - With `--enable-unsafe-webgpu --enable-features=Vulkan` Chromium gives a WebGPU adapter backed by its bundled
 *   SwiftShader Vulkan (adapter info vendor "google", architecture "swiftshader"; features without shader-f16),
 *   and WebGL2 through ANGLE on SwiftShader too. Mesa lavapipe was not picked up by Chromium's GPU process
 *   (tried `VK_ICD_FILENAMES=.../lvp_icd.json`, `--use-vulkan=native`, `--use-angle=vulkan`,
 *   `--use-webgpu-adapter=default`, `--ignore-gpu-blocklist`, `--disable-gpu-sandbox`): the adapter stayed
 *   SwiftShader. So the browser tests run the real WebGPU path, on SwiftShader instead of lavapipe.
 */

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, open, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import sharp from 'sharp';

export const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
export const CHROMIUM_HELP =
  "Chromium is needed for the browser tests: `apt-get install -y chromium` (Debian's package; .ci/run installs it)";

/** Flags that give headless Chromium a WebGPU adapter on a GPU-less Linux box (see the notes above). */
export const CHROMIUM_WEBGPU_FLAGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--ignore-gpu-blocklist',
] as const;

/** The Chromium executable, or null. */
export function findChromium(): string | null {
  const env = process.env.CHROMIUM_PATH;
  if (env && existsSync(env)) return env;
  return CHROMIUM_PATHS.find((p) => existsSync(p)) ?? null;
}

/** Builds the app into a fresh temporary folder (the same config as `npm run build:web`). */
export async function buildApp(): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), 'amodal3r-web-'));
  const { build } = await import('vite');
  await build({
    configFile: join(REPO, 'web/vite.config.ts'),
    logLevel: 'error',
    build: { outDir: out, emptyOutDir: true },
  });
  return out;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
};

/** Matches a single `bytes=a-b` / `bytes=a-` range. */
const RANGE = /^bytes=(\d+)-(\d*)$/;

/**
 * A static HTTP server on 127.0.0.1: `mounts` maps URL prefixes (`/app/`) to folders. Supports single byte
 * ranges (206 + Content-Range), as the model loader streams checkpoints by range.
 */
export async function serve(mounts: Record<string, string>): Promise<{ server: Server; url: string }> {
  const server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      const prefix = Object.keys(mounts).find((p) => path.startsWith(p));
      if (!prefix) {
        res.writeHead(404).end();
        return;
      }
      const root = resolve(mounts[prefix]);
      let file = normalize(join(root, path.slice(prefix.length)));
      if (file !== root && !file.startsWith(root + sep)) {
        res.writeHead(403).end();
        return;
      }
      let st = await stat(file).catch(() => null);
      if (st?.isDirectory()) {
        file = join(file, 'index.html');
        st = await stat(file).catch(() => null);
      }
      if (!st?.isFile()) {
        res.writeHead(404).end();
        return;
      }
      const headers: Record<string, string | number> = {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'accept-ranges': 'bytes',
        'cache-control': 'no-store',
      };
      let start = 0;
      let end = st.size - 1;
      let status = 200;
      const m = RANGE.exec(req.headers.range ?? '');
      if (m) {
        start = Number(m[1]);
        end = m[2] ? Math.min(Number(m[2]), st.size - 1) : st.size - 1;
        if (start > end || start >= st.size) {
          res.writeHead(416, { 'content-range': `bytes */${st.size}` }).end();
          return;
        }
        status = 206;
        headers['content-range'] = `bytes ${start}-${end}/${st.size}`;
      }
      headers['content-length'] = end - start + 1;
      res.writeHead(status, headers);
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      const fh = await open(file, 'r');
      try {
        const buf = Buffer.alloc(end - start + 1);
        await fh.read(buf, 0, buf.length, start);
        res.end(buf);
      } finally {
        await fh.close();
      }
    } catch (e) {
      res.writeHead(500).end(String(e));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Launches headless Chromium with WebGPU enabled. */
export async function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({
    executablePath,
    headless: true,
    args: [...CHROMIUM_WEBGPU_FLAGS],
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
  });
}

/**
 * Fraction of pixels of a PNG screenshot that differ from `background` (RGB) by more than `tolerance` in any
 * channel.
 */
export async function nonBackgroundFraction(
  png: Buffer,
  background: readonly [number, number, number],
  tolerance: number,
): Promise<number> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let n = 0;
  for (let i = 0; i < data.length; i += info.channels) {
    if (
      Math.abs(data[i] - background[0]) > tolerance ||
      Math.abs(data[i + 1] - background[1]) > tolerance ||
      Math.abs(data[i + 2] - background[2]) > tolerance
    )
      n++;
  }
  return n / (info.width * info.height);
}

/** Runs the CLI (`node bin/amodal3r.mjs ...`); resolves with its stdout, rejects with its output on failure. */
export function runCli(args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(REPO, 'bin/amodal3r.mjs'), ...args], {
      cwd: REPO,
      env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolvePromise(out);
      else reject(new Error(`amodal3r ${args.join(' ')} failed (${code}):\n${out}\n${err.slice(-4000)}`));
    });
  });
}
