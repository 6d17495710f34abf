/**
 * The user's steps through the page, driven with Playwright (shared by the browser test and the screenshot
 * script): open an image, paint the masks with the mouse, pick a model folder, run, wait for the viewer.
 */

import type { Locator, Page } from 'playwright-core';

/** Where the example ball sits in assets/examples/ball.png (192x192): visible part left, blue bar at x 112..150. */
export const BALL = {
  visibleStrokes: [
    [45, 80, 105, 80],
    [38, 100, 105, 100],
    [45, 120, 105, 120],
    [60, 145, 105, 145],
    [60, 60, 105, 60],
  ],
  occluderStrokes: [[131, 25, 131, 182]],
} as const;

/** Drags the mouse along a segment in image coordinates of the paint canvas. */
export async function dragOnImage(
  page: Page,
  canvas: Locator,
  imageWidth: number,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
): Promise<void> {
  const box = await canvas.boundingBox();
  if (!box) throw new Error('paint canvas is not visible');
  const s = box.width / imageWidth;
  await page.mouse.move(box.x + x0 * s, box.y + y0 * s);
  await page.mouse.down();
  await page.mouse.move(box.x + x1 * s, box.y + y1 * s, { steps: 8 });
  await page.mouse.up();
}

/** Opens `image` and paints the ball's visible part and the occluding bar through the UI. */
export async function paintBall(page: Page, image: string): Promise<void> {
  await page.setInputFiles('#image-input', image);
  const canvas = page.locator('#paint-canvas');
  await page.waitForFunction(() => (document.getElementById('paint-canvas') as HTMLCanvasElement).width > 1);
  const width = await canvas.evaluate((c) => (c as HTMLCanvasElement).width);
  await page.locator('#brush-size').fill('40');
  await page.check('#layer-object');
  await page.check('#tool-brush');
  for (const [x0, y0, x1, y1] of BALL.visibleStrokes) await dragOnImage(page, canvas, width, x0, y0, x1, y1);
  await page.check('#layer-occluder');
  for (const [x0, y0, x1, y1] of BALL.occluderStrokes) await dragOnImage(page, canvas, width, x0, y0, x1, y1);
}

/** Sets the run settings small (CI-sized). */
export async function smallSettings(page: Page, device: 'webgpu' | 'cpu' | 'auto'): Promise<void> {
  await page.selectOption('#device', device);
  await page.fill('#ss-steps', '1');
  await page.fill('#slat-steps', '1');
}

/** Waits for the model status line to leave "checking"; returns its state and text. */
export async function waitModelStatus(page: Page): Promise<{ state: string; text: string }> {
  await page.waitForFunction(() => {
    const s = document.getElementById('model-status')?.dataset.state;
    return s === 'ok' || s === 'error';
  });
  return page.locator('#model-status').evaluate((el) => ({
    state: (el as HTMLElement).dataset.state ?? '',
    text: el.textContent ?? '',
  }));
}
