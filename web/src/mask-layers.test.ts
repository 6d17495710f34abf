import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MASK_BACKGROUND, MASK_OCCLUDED, MASK_VISIBLE, MaskInputError } from '../../src/preprocess/mask.ts';
import {
  emptyLayers,
  floodFill,
  HISTORY_MAX_STEPS,
  historyLimit,
  LayerHistory,
  layersToMask,
  maskToLayers,
  PAINTED,
  paintDisc,
  paintStroke,
  UNPAINTED,
  visiblePixels,
} from './mask-layers.ts';

test('paintDisc covers the pixels whose centre lies within the radius', () => {
  const l = emptyLayers(9, 9);
  paintDisc(l.object, 9, 9, 4.5, 4.5, 2, PAINTED);
  // Radius 2 around the centre of pixel (4,4): the 13-pixel diamond-ish disc (|dx|^2+|dy|^2 <= 4).
  let n = 0;
  for (let y = 0; y < 9; y++)
    for (let x = 0; x < 9; x++) {
      const inside = (x - 4) ** 2 + (y - 4) ** 2 <= 4;
      assert.equal(l.object[y * 9 + x], inside ? PAINTED : UNPAINTED, `pixel ${x},${y}`);
      if (inside) n++;
    }
  assert.equal(n, 13);
});

test('paintStroke leaves no gap along a long segment and clips at the border', () => {
  const l = emptyLayers(50, 10);
  paintStroke(l.object, 50, 10, -5, 5, 60, 5, 1, PAINTED);
  for (let x = 0; x < 50; x++) assert.equal(l.object[5 * 50 + x], PAINTED, `x=${x}`);
  assert.equal(l.object[0], UNPAINTED);
});

test('floodFill fills inside an outline and stops at it', () => {
  const w = 20;
  const l = emptyLayers(w, w);
  for (let i = 5; i <= 14; i++) {
    l.object[5 * w + i] = PAINTED;
    l.object[14 * w + i] = PAINTED;
    l.object[i * w + 5] = PAINTED;
    l.object[i * w + 14] = PAINTED;
  }
  const changed = floodFill(l.object, w, w, 10, 10, PAINTED);
  assert.equal(changed, 8 * 8);
  assert.equal(l.object[0], UNPAINTED);
  assert.equal(floodFill(l.object, w, w, 10, 10, PAINTED), 0);
  // Erasing-fill from outside clears the outside region only.
  l.object.fill(PAINTED);
  assert.equal(floodFill(l.object, w, w, 0, 0, UNPAINTED), w * w);
});

test('layersToMask: occluder wins over object, the official three levels', () => {
  const l = emptyLayers(3, 1);
  l.object[0] = PAINTED;
  l.object[1] = PAINTED;
  l.occluder[1] = PAINTED;
  const m = layersToMask(l);
  assert.deepEqual([...m.data], [MASK_VISIBLE, MASK_OCCLUDED, MASK_BACKGROUND]);
  assert.equal(visiblePixels(l), 1);
});

test('maskToLayers uses the official thresholds and round-trips painted layers', () => {
  const mask = { width: 6, height: 1, data: new Uint8Array([0, 126, 127, 188, 230, 231]) };
  const l = maskToLayers(mask, 6, 1, 'm.png');
  assert.deepEqual([...l.occluder], [PAINTED, PAINTED, 0, 0, 0, 0]);
  assert.deepEqual([...l.object], [0, 0, PAINTED, PAINTED, PAINTED, 0]);
  const back = layersToMask(l);
  assert.deepEqual([...back.data], [0, 0, 188, 188, 188, 255]);
  assert.throws(
    () => maskToLayers(mask, 5, 1, 'm.png'),
    (e: Error) => {
      assert.ok(e instanceof MaskInputError);
      assert.match(e.message, /m\.png is 6x1 but the image is 5x1/);
      return true;
    },
  );
});

test('LayerHistory: undo/redo restore snapshots, a new edit clears redo, the cap holds', () => {
  const l = emptyLayers(4, 4);
  const h = new LayerHistory(4, 4);
  assert.equal(h.undo(l), null);
  h.push(l);
  l.object[0] = PAINTED;
  const undone = h.undo(l);
  assert.ok(undone);
  assert.equal(undone.object[0], UNPAINTED);
  const redone = h.redo(undone);
  assert.ok(redone);
  assert.equal(redone.object[0], PAINTED);
  h.push(redone);
  assert.equal(h.canRedo, false);
  assert.equal(historyLimit(4, 4), HISTORY_MAX_STEPS);
  assert.equal(historyLimit(16384, 16384), 1);
  for (let i = 0; i < HISTORY_MAX_STEPS + 5; i++) h.push(l);
  let steps = 0;
  let cur = l;
  for (let next = h.undo(cur); next; next = h.undo(cur)) {
    cur = next;
    steps++;
  }
  assert.equal(steps, HISTORY_MAX_STEPS);
});
