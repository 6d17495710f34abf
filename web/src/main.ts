/**
 * The page: views (open / drop / paste images), mask painting, model choice, the pipeline Worker with progress
 * and cancel, the result viewer and downloads. State lives here; painting, model files, the viewer and the
 * Worker are their own modules.
 *
 * The page marks its state on `<body data-state="...">` (idle, running, done, error) and the viewer's on
 * `#viewer[data-ready]`, so automated tests (web/test/browser.test.ts) can wait on the UI instead of on timers.
 */

import type { RawImage } from '../../src/io/raw-image.ts';
import type { StageName } from '../../src/pipeline/run.ts';
import type { DirHandle } from './browser-model-files.ts';
import { relFilesFromInput } from './browser-model-files.ts';
import { decodeImageFile, decodeMaskFile } from './decode.ts';
import { classifyError, ERROR_ADVICE } from './errors.ts';
import { layersToMask, maskToLayers, visiblePixels } from './mask-layers.ts';
import { newPaintView, Painter, type PaintView, type Tool } from './painter.ts';
import type { ErrorKind, FromWorker, ModelSource, RunSettings, ToWorker, WebDevice } from './protocol.ts';
import { ResultViewer } from './viewer.ts';

/** A cancelled run gets this long to stop by itself before its Worker is terminated (ms). */
const CANCEL_GRACE_MS = 2000;

/** Stages shown in the progress list, in run order, with their labels. */
const STAGES: readonly { stage: StageName | 'weights'; label: string }[] = [
  { stage: 'weights', label: 'weights streamed' },
  { stage: 'encode', label: 'DINOv2 encode' },
  { stage: 'stage1', label: 'stage 1 (structure)' },
  { stage: 'ss-decode', label: 'occupancy decode' },
  { stage: 'stage2', label: 'stage 2 (latent)' },
  { stage: 'decode-gaussians', label: 'Gaussians decode' },
  { stage: 'decode-mesh', label: 'mesh decode' },
];

interface View extends PaintView {
  raw: RawImage;
  thumb: string;
}

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page is missing #${id}`);
  return el as T;
};

const views: View[] = [];
let activeView = -1;
let model: ModelSource | null = null;
let worker: Worker | null = null;
let running = false;
let cancelTimer: ReturnType<typeof setTimeout> | null = null;
let plyUrl: string | null = null;
let glbUrl: string | null = null;

const painter = new Painter($<HTMLCanvasElement>('paint-canvas'), { onChange: () => refreshViews() });
const viewer = new ResultViewer($('viewer'));

function setState(s: 'idle' | 'running' | 'done' | 'error'): void {
  document.body.dataset.state = s;
}

function showMessage(text: string, cls: 'error' | 'ok' | '' = ''): void {
  const m = $('message');
  m.hidden = text === '';
  m.textContent = text;
  m.className = `message ${cls}`;
}

function showError(kind: ErrorKind, message: string): void {
  showMessage(`${message}\n\n${ERROR_ADVICE[kind]}`, kind === 'cancelled' ? '' : 'error');
  $('message').dataset.kind = kind;
}

// ---------------------------------------------------------------- WebGPU check

async function checkWebGpu(): Promise<void> {
  const badge = $('gpu-status');
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  let adapter: GPUAdapter | null = null;
  try {
    adapter = gpu ? await gpu.requestAdapter({ powerPreference: 'high-performance' }) : null;
  } catch {
    adapter = null;
  }
  if (adapter) {
    const i = adapter.info;
    badge.textContent = `WebGPU: ${[i.vendor, i.architecture].filter(Boolean).join(' ') || 'available'} (checking…)`;
    // The kernels themselves are checked in the Worker (where the pipeline runs); see the 'probe' message.
    post({ type: 'probe' });
    return;
  }
  document.body.dataset.webgpu = 'none';
  badge.textContent = 'no WebGPU';
  badge.className = 'badge bad';
  const banner = $('banner');
  banner.hidden = false;
  banner.textContent = `${
    gpu
      ? 'This browser has WebGPU but gives no adapter (GPU blocklisted or disabled).'
      : 'This browser has no WebGPU.'
  } ${ERROR_ADVICE['no-webgpu']}`;
  $<HTMLSelectElement>('device').value = 'cpu';
}

// ---------------------------------------------------------------- views

async function addImages(files: readonly File[]): Promise<void> {
  for (const f of files) {
    if (!f.type.startsWith('image/') && !/\.(png|jpe?g|webp|bmp|gif|avif)$/i.test(f.name)) continue;
    try {
      const { bitmap, raw } = await decodeImageFile(f, f.name);
      const v: View = {
        ...newPaintView(f.name || 'pasted image', bitmap),
        raw,
        thumb: URL.createObjectURL(f),
      };
      views.push(v);
      selectView(views.length - 1);
    } catch (e) {
      const c = classifyError(e);
      showError(c.kind, c.message);
    }
  }
}

function selectView(i: number): void {
  activeView = i;
  painter.setView(views[i] ?? null);
  $('paint-empty').hidden = views.length > 0;
  refreshViews();
}

function refreshViews(): void {
  const list = $('view-list');
  list.replaceChildren(
    ...views.map((v, i) => {
      const li = document.createElement('li');
      li.className = i === activeView ? 'active' : '';
      li.dataset.index = String(i);
      const img = document.createElement('img');
      img.src = v.thumb;
      img.alt = '';
      const name = document.createElement('span');
      name.className = 'name';
      const vis = visiblePixels(v.layers);
      name.textContent = `${i + 1}. ${v.name}${vis === 0 ? ' (no visible region yet)' : ''}`;
      const rm = document.createElement('button');
      rm.type = 'button';
      rm.textContent = '✕';
      rm.title = 'remove this view';
      rm.addEventListener('click', (ev) => {
        ev.stopPropagation();
        views.splice(i, 1)[0].bitmap.close();
        selectView(Math.min(activeView, views.length - 1));
      });
      li.append(img, name, rm);
      li.addEventListener('click', () => selectView(i));
      return li;
    }),
  );
  const v = views[activeView];
  $<HTMLButtonElement>('undo').disabled = !v?.history.canUndo;
  $<HTMLButtonElement>('redo').disabled = !v?.history.canRedo;
  if (v) {
    const n = v.layers.width * v.layers.height;
    let occ = 0;
    for (let k = 0; k < n; k++) if (v.layers.occluder[k]) occ++;
    const vis = visiblePixels(v.layers);
    $('mask-stats').textContent =
      `${v.layers.width}x${v.layers.height}: visible ${((100 * vis) / n).toFixed(1)}%, occluder ${((100 * occ) / n).toFixed(1)}%`;
  } else $('mask-stats').textContent = '';
}

$<HTMLInputElement>('image-input').addEventListener('change', async (e) => {
  const input = e.target as HTMLInputElement;
  await addImages(Array.from(input.files ?? []));
  input.value = '';
});

const dropZone = document.body;
dropZone.addEventListener('dragover', (e) => {
  e.preventDefault();
  $('drop-zone').classList.add('drag');
});
dropZone.addEventListener('dragleave', () => $('drop-zone').classList.remove('drag'));
dropZone.addEventListener('drop', async (e) => {
  e.preventDefault();
  $('drop-zone').classList.remove('drag');
  await addImages(Array.from(e.dataTransfer?.files ?? []));
});
document.addEventListener('paste', async (e) => {
  const files = Array.from(e.clipboardData?.files ?? []);
  if (files.length > 0) await addImages(files);
});

// ---------------------------------------------------------------- painting controls

document.querySelectorAll<HTMLInputElement>('input[name="layer"]').forEach((el) => {
  el.addEventListener('change', () => {
    painter.layer = el.value as 'object' | 'occluder';
  });
});
document.querySelectorAll<HTMLInputElement>('input[name="tool"]').forEach((el) => {
  el.addEventListener('change', () => {
    painter.tool = el.value as Tool;
  });
});
$<HTMLInputElement>('brush-size').addEventListener('input', (e) => {
  painter.size = Number((e.target as HTMLInputElement).value);
});
$<HTMLInputElement>('overlay-opacity').addEventListener('input', (e) => {
  painter.opacity = Number((e.target as HTMLInputElement).value) / 100;
  painter.refresh();
});
$('undo').addEventListener('click', () => painter.undo());
$('redo').addEventListener('click', () => painter.redo());
$('clear-mask').addEventListener('click', () => painter.clear());
document.addEventListener('keydown', (e) => {
  if (!(e.ctrlKey || e.metaKey) || (e.target as HTMLElement).tagName === 'INPUT') return;
  const k = e.key.toLowerCase();
  if (k === 'z' && !e.shiftKey) painter.undo();
  else if ((k === 'z' && e.shiftKey) || k === 'y') painter.redo();
  else return;
  e.preventDefault();
});

$<HTMLInputElement>('mask-input').addEventListener('change', async (e) => {
  const input = e.target as HTMLInputElement;
  const f = input.files?.[0];
  input.value = '';
  const v = views[activeView];
  if (!f) return;
  if (!v) {
    showError('input', 'Open the image first, then load its mask.');
    return;
  }
  try {
    const mask = await decodeMaskFile(f, f.name);
    painter.replaceLayers(maskToLayers(mask, v.layers.width, v.layers.height, f.name));
    showMessage('');
  } catch (err) {
    const c = classifyError(err);
    showError(c.kind, c.message);
  }
});

$('download-mask').addEventListener('click', async () => {
  const v = views[activeView];
  if (!v) return;
  const m = layersToMask(v.layers);
  const c = new OffscreenCanvas(m.width, m.height);
  const ctx = c.getContext('2d')!;
  const img = new ImageData(m.width, m.height);
  for (let i = 0; i < m.data.length; i++) {
    img.data.set([m.data[i], m.data[i], m.data[i], 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
  const blob = await c.convertToBlob({ type: 'image/png' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `${v.name.replace(/\.[^.]+$/, '')}_mask.png`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
});

// ---------------------------------------------------------------- model

function getWorker(): Worker {
  if (!worker) {
    worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    worker.addEventListener('message', (ev: MessageEvent<FromWorker>) => onWorkerMessage(ev.data));
    worker.addEventListener('error', (ev) => {
      running = false;
      finishRun();
      setState('error');
      showError('other', `The pipeline worker failed to start or crashed: ${ev.message}`);
    });
  }
  return worker;
}

function post(m: ToWorker): void {
  getWorker().postMessage(m);
}

function chooseModel(src: ModelSource, label: string): void {
  model = src;
  const s = $('model-status');
  s.textContent = `Checking ${label}…`;
  s.dataset.state = 'checking';
  post({ type: 'validate', model: src });
}

$('model-pick').addEventListener('click', async () => {
  const picker = (window as unknown as { showDirectoryPicker?: () => Promise<DirHandle> })
    .showDirectoryPicker;
  if (!picker) {
    $<HTMLInputElement>('model-dir-input').click();
    return;
  }
  try {
    const handle = await picker.call(window);
    chooseModel({ kind: 'handle', handle }, handle.name);
  } catch (e) {
    if ((e as Error).name !== 'AbortError') showError('other', (e as Error).message);
  }
});
$<HTMLInputElement>('model-dir-input').addEventListener('change', (e) => {
  const input = e.target as HTMLInputElement;
  const files = Array.from(input.files ?? []);
  if (files.length === 0) return;
  const { root, files: rel } = relFilesFromInput(files);
  chooseModel({ kind: 'files', root, files: rel }, root);
});
$('model-url-load').addEventListener('click', () => {
  const url = $<HTMLInputElement>('model-url').value.trim();
  if (!url) return;
  let abs: string;
  try {
    abs = new URL(url, location.href).href;
  } catch {
    showError('model', `${url} is not a URL`);
    return;
  }
  chooseModel({ kind: 'url', url: abs }, abs);
});

// ---------------------------------------------------------------- run

function progressRow(stage: string): HTMLProgressElement {
  let row = document.querySelector<HTMLElement>(`#progress [data-stage="${stage}"]`);
  if (!row) {
    row = document.createElement('div');
    row.className = 'stage';
    row.dataset.stage = stage;
    const label = document.createElement('span');
    label.textContent = STAGES.find((s) => s.stage === stage)?.label ?? stage;
    const bar = document.createElement('progress');
    bar.max = 1;
    bar.value = 0;
    const txt = document.createElement('span');
    txt.className = 'txt';
    row.append(label, bar, txt);
    $('progress').append(row);
  }
  return row.querySelector('progress')!;
}

function setProgress(stage: string, done: number, total: number, text: string): void {
  const bar = progressRow(stage);
  bar.max = Math.max(1, total);
  bar.value = Math.min(done, total);
  (bar.nextElementSibling as HTMLElement).textContent = text;
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

function finishRun(): void {
  running = false;
  if (cancelTimer) clearTimeout(cancelTimer);
  cancelTimer = null;
  $<HTMLButtonElement>('run').disabled = false;
  $<HTMLButtonElement>('cancel').disabled = true;
}

function settings(): RunSettings {
  const num = (id: string, min: number) => {
    const v = Number($<HTMLInputElement>(id).value);
    if (!Number.isInteger(v) || v < min) throw new Error(`${id}: needs a whole number >= ${min}`);
    return v;
  };
  return {
    seed: num('seed', 0),
    ssSteps: num('ss-steps', 1),
    slatSteps: num('slat-steps', 1),
    device: $<HTMLSelectElement>('device').value as WebDevice,
    mesh: $<HTMLInputElement>('want-mesh').checked,
  };
}

$('run').addEventListener('click', () => {
  if (running) return;
  showMessage('');
  if (views.length === 0) {
    showError('input', 'No image yet: open a photo of the object first.');
    return;
  }
  const empty = views.map((v, i) => ({ v, i })).filter(({ v }) => visiblePixels(v.layers) === 0);
  if (empty.length > 0) {
    showError(
      'input',
      `No visible region painted in ${empty.map(({ v, i }) => `view ${i + 1} (${v.name})`).join(', ')}: choose "visible object" and paint over the part of the object you can see (or load its mask).`,
    );
    return;
  }
  if (!model) {
    showError('model', 'No model chosen yet.');
    return;
  }
  let s: RunSettings;
  try {
    s = settings();
  } catch (e) {
    showError('input', (e as Error).message);
    return;
  }
  running = true;
  setState('running');
  $<HTMLButtonElement>('run').disabled = true;
  $<HTMLButtonElement>('cancel').disabled = false;
  $('progress').replaceChildren();
  for (const st of STAGES) if (st.stage !== 'decode-mesh' || s.mesh) progressRow(st.stage);
  $('result-status').textContent = '';
  post({
    type: 'run',
    model,
    images: views.map((v) => v.raw),
    masks: views.map((v) => layersToMask(v.layers)),
    settings: s,
  });
});

$('cancel').addEventListener('click', () => {
  if (!running || !worker) return;
  post({ type: 'cancel' });
  $<HTMLButtonElement>('cancel').disabled = true;
  cancelTimer = setTimeout(() => {
    // The run did not stop between steps in time: end the Worker (its GPU device goes with it).
    worker?.terminate();
    worker = null;
    finishRun();
    setState('idle');
    showError('cancelled', 'Cancelled (the worker was stopped).');
  }, CANCEL_GRACE_MS);
});

function setDownload(id: string, bytes: ArrayBuffer | null, type: string, old: string | null): string | null {
  if (old) URL.revokeObjectURL(old);
  const a = $<HTMLAnchorElement>(id);
  if (!bytes) {
    a.classList.add('disabled');
    a.removeAttribute('href');
    return null;
  }
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  a.href = url;
  a.classList.remove('disabled');
  return url;
}

async function showResult(m: Extract<FromWorker, { type: 'result' }>): Promise<void> {
  plyUrl = setDownload('download-ply', m.ply, 'application/octet-stream', plyUrl);
  glbUrl = setDownload('download-glb', m.glb, 'model/gltf-binary', glbUrl);
  $('result-status').textContent =
    `${m.gaussians} Gaussians from ${m.voxels} voxels${m.glb ? `, mesh of ${m.triangles} triangles` : ''}; ${m.seconds.toFixed(1)} s on ${m.device}. ` +
    m.timings.map((t) => `${t.stage} ${t.seconds.toFixed(1)} s`).join(', ');
  await showInViewer(m.ply, m.glb);
}

async function showInViewer(ply: ArrayBuffer | null, glb: ArrayBuffer | null): Promise<void> {
  const el = $('viewer');
  delete el.dataset.ready;
  viewer.clear();
  try {
    if (glb) await viewer.showMesh(glb);
    if (ply) await viewer.showGaussians(ply.slice(0));
    viewer.setMode(ply ? 'gaussians' : 'mesh');
    $<HTMLInputElement>(ply ? 'mode-gaussians' : 'mode-mesh').checked = true;
    el.dataset.ready = 'true';
  } catch (e) {
    showError('other', `The viewer could not show the result: ${(e as Error).message}`);
  }
}

document.querySelectorAll<HTMLInputElement>('input[name="view-mode"]').forEach((el) => {
  el.addEventListener('change', () => viewer.setMode(el.value as 'gaussians' | 'mesh'));
});

$<HTMLInputElement>('ply-input').addEventListener('change', async (e) => {
  const input = e.target as HTMLInputElement;
  const f = input.files?.[0];
  input.value = '';
  if (!f) return;
  $('result-status').textContent = `${f.name} (${mib(f.size)})`;
  await showInViewer(await f.arrayBuffer(), null);
});

function onWorkerMessage(m: FromWorker): void {
  switch (m.type) {
    case 'validated': {
      const s = $('model-status');
      s.dataset.state = m.ok ? 'ok' : 'error';
      s.textContent = m.ok
        ? `✓ ${m.summary}${m.warnings.length ? `\n${m.warnings.join('\n')}` : ''}`
        : `✗ ${m.message}\n\n${ERROR_ADVICE[m.kind]}`;
      s.className = m.ok ? 'hint' : 'hint message error';
      break;
    }
    case 'probe': {
      const badge = $('gpu-status');
      document.body.dataset.webgpu = m.ok ? 'ok' : 'failed';
      badge.textContent = m.ok ? `WebGPU: ${m.adapter} ✓` : `WebGPU: ${m.adapter ?? 'unusable'} ✗`;
      badge.title = m.message;
      badge.className = m.ok ? 'badge ok' : 'badge bad';
      if (!m.ok) {
        const banner = $('banner');
        banner.hidden = false;
        banner.textContent = `WebGPU check failed: ${m.message}. The device is set to CPU.`;
        $<HTMLSelectElement>('device').value = 'cpu';
      }
      break;
    }
    case 'device':
      setProgress('weights', 0, 1, m.description);
      break;
    case 'weights':
      // Headers are read again when a stage opens its file, so `read` can pass `total` slightly.
      setProgress('weights', m.read, m.total, `${mib(m.read)} of ${mib(m.total)}`);
      break;
    case 'progress':
      setProgress(m.stage, m.done, m.total, `${m.done} / ${m.total}`);
      break;
    case 'warning': {
      const s = $('result-status');
      s.textContent = `${s.textContent ? `${s.textContent}\n` : ''}⚠ ${m.message}`;
      break;
    }
    case 'result':
      finishRun();
      void showResult(m).then(() => setState('done'));
      break;
    case 'error':
      finishRun();
      setState(m.kind === 'cancelled' ? 'idle' : 'error');
      showError(m.kind, m.message);
      break;
  }
}

setState('idle');
void checkWebGpu();
refreshViews();
