/**
 * `amodal3r doctor`, run the way users run it: a child process through bin/amodal3r.mjs.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { EXIT_NO_GPU } from '../src/cli/doctor.ts';
import { DISABLE_GPU_ENV } from '../src/cli/gpu.ts';

const BIN = fileURLToPath(new URL('../bin/amodal3r.mjs', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** JSON.parse of the whole stdout, with the output in the failure message. */
function parseReport(r: Run): Record<string, unknown> {
  try {
    return JSON.parse(r.stdout) as Record<string, unknown>;
  } catch (e) {
    assert.fail(`stdout is not pure JSON (${(e as Error).message}):\n${r.stdout}\n--- stderr:\n${r.stderr}`);
  }
}

test('doctor --json prints only a JSON report with backend, adapter, features and limits', async () => {
  const r = await cli(['doctor', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const rep = parseReport(r);
  for (const k of ['backend', 'adapter', 'features', 'limits', 'dawnToggles', 'robustness', 'warnings']) {
    assert.ok(k in rep, `report has ${k}`);
  }
  if (rep.backend === 'cpu') {
    // No adapter on this machine: acceptable locally, a failure in CI (which installs lavapipe).
    assert.notEqual(process.env.CI, 'true', `CI=true but doctor found no adapter: ${r.stderr}`);
    assert.match(r.stderr, /No WebGPU adapter/);
    return;
  }
  assert.equal(rep.backend, 'webgpu');
  const adapter = rep.adapter as Record<string, unknown>;
  for (const k of ['vendor', 'architecture', 'device', 'description'])
    assert.equal(typeof adapter[k], 'string');
  const features = rep.features as Record<string, unknown>;
  assert.equal(typeof features['shader-f16'], 'boolean');
  assert.equal(typeof features.subgroups, 'boolean');
  assert.ok(Array.isArray(features.subgroupMatrixConfigs));
  assert.ok(Array.isArray(features.device));
  const limits = rep.limits as Record<string, number>;
  assert.ok(limits.maxStorageBufferBindingSize >= 1 << 27, 'WebGPU guarantees at least 128 MiB bindings');
  assert.ok(limits.maxComputeInvocationsPerWorkgroup >= 256);
  assert.deepEqual(rep.dawnToggles, [
    'allow_unsafe_apis',
    'vulkan_enable_f16_on_nvidia',
    'disable_robustness',
  ]);
  assert.equal(rep.robustness, false);
});

test('doctor --json keeps native writes to fd 1 off stdout', async () => {
  // A preload that writes to file descriptor 1 the way Dawn's native logger does, but only in the GPU-probing
  // child (the one with an IPC channel): it must land on stderr, leaving stdout pure JSON.
  const dir = await mkdtemp(join(tmpdir(), 'amodal3r-doctor-'));
  try {
    const preload = join(dir, 'native-noise.mjs');
    await writeFile(
      preload,
      "import { writeSync } from 'node:fs';\nif (process.send) writeSync(1, 'NATIVE-NOISE on fd 1\\n');\n",
    );
    const opts = [process.env.NODE_OPTIONS, `--import=${pathToFileURL(preload).href}`].filter(Boolean);
    const r = await cli(['doctor', '--json', '--robust'], { NODE_OPTIONS: opts.join(' ') });
    assert.equal(r.code, 0, r.stderr);
    const rep = parseReport(r);
    assert.match(r.stderr, /NATIVE-NOISE on fd 1/);
    assert.equal(rep.robustness, true);
    assert.ok(!(rep.dawnToggles as string[]).includes('disable_robustness'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('doctor --json survives a GPU probe that dies (e.g. a driver fault) and reports cpu', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'amodal3r-doctor-'));
  try {
    const preload = join(dir, 'probe-dies.mjs');
    await writeFile(preload, 'if (process.send) process.exit(7);\n');
    const opts = [process.env.NODE_OPTIONS, `--import=${pathToFileURL(preload).href}`].filter(Boolean);
    const r = await cli(['doctor', '--json', '--require-gpu'], { NODE_OPTIONS: opts.join(' ') });
    assert.equal(r.code, EXIT_NO_GPU, r.stderr);
    const rep = parseReport(r);
    assert.equal(rep.backend, 'cpu');
    assert.match(String(rep.reason), /GPU probe exited without a report \(code 7/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test(`without an adapter (${DISABLE_GPU_ENV}=1) doctor reports cpu, warns, and --require-gpu exits ${EXIT_NO_GPU}`, async () => {
  const env = { [DISABLE_GPU_ENV]: '1' };
  const r = await cli(['doctor', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  const rep = parseReport(r);
  assert.equal(rep.backend, 'cpu');
  assert.equal(rep.adapter, null);
  assert.match(r.stderr, /warning: WebGPU disabled by AMODAL3R_DISABLE_GPU.*No WebGPU adapter/);

  const strict = await cli(['doctor', '--require-gpu'], env);
  assert.equal(strict.code, EXIT_NO_GPU, strict.stderr);
  assert.match(strict.stdout, /^backend +cpu/m);
  assert.match(strict.stderr, /--require-gpu given but the backend is cpu/);
});

test('doctor prints a readable report; bad options fail with help', async () => {
  const r = await cli(['doctor']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^backend +(webgpu|cpu)/m);
  assert.match(r.stdout, /^dawn toggles +allow_unsafe_apis/m);
  const bad = await cli(['doctor', '--no-such-flag']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /unknown option '--no-such-flag'/);
  const help = await cli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /doctor/);
  assert.doesNotMatch(help.stdout + (await cli(['doctor', '--help'])).stdout, /probe-child/);
});
