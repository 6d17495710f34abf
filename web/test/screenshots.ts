/**
 * Screenshots of the app for the docs (docs/images/web-*.png): painting the example, then the result of an
 * in-page run on the given model. Not a test; run by hand:
 *
 *   npx amodal3r make-test-model --config tiny --out /tmp/tiny
 *   node --import tsx web/test/screenshots.ts /tmp/tiny [cpu|webgpu]
 *
 * Writes atomically (temp + rename), small PNGs (900 px wide, palette).
 */

import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { paintBall, smallSettings, waitModelStatus } from './flow.ts';
import { buildApp, CHROMIUM_HELP, findChromium, launchChromium, REPO, serve } from './harness.ts';

/** Width of the saved screenshots (px): readable in a note, small in the repo. */
const SHOT_WIDTH = 900;

async function save(png: Buffer, name: string): Promise<void> {
  const out = join(REPO, 'docs/images', name);
  const tmp = `${out}.${process.pid}.tmp`;
  await sharp(png).resize({ width: SHOT_WIDTH }).png({ palette: true, compressionLevel: 9 }).toFile(tmp);
  await rename(tmp, out);
  console.log(`wrote ${out}`);
}

const [modelDir, device = 'cpu'] = process.argv.slice(2);
if (!modelDir) throw new Error('usage: screenshots.ts <model dir> [cpu|webgpu]');
const chromium = findChromium();
if (!chromium) throw new Error(CHROMIUM_HELP);
const dist = await buildApp();
const { server, url } = await serve({ '/app/': dist });
const browser = await launchChromium(chromium);
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(`${url}/app/`);
  await page.waitForFunction(() => document.body.dataset.webgpu !== undefined);
  await paintBall(page, join(REPO, 'assets/examples/ball.png'));
  await page.setInputFiles('#model-dir-input', modelDir);
  await waitModelStatus(page);
  await save(await page.screenshot(), 'web-paint.png');
  await smallSettings(page, device as 'cpu' | 'webgpu');
  await page.uncheck('#want-mesh');
  await page.click('#run');
  await page.waitForFunction(() => document.body.dataset.state !== 'running', undefined, {
    timeout: 30 * 60 * 1000,
    polling: 1000,
  });
  await page.waitForSelector('#viewer[data-ready="true"]');
  await page.waitForTimeout(1000);
  await save(await page.screenshot(), 'web-result.png');
} finally {
  await browser.close();
  server.close();
}
