import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tensor } from '../runtime/tensor.ts';
import { sampleFlow, timeSchedule, viewSchedule } from './sampler.ts';

test('time schedule with 12 steps and rescale 3 matches the official values', () => {
  // ARCHITECTURE.md §g lists the official schedule to 5 decimals.
  const expected = [1.0, 0.97059, 0.9375, 0.9, 0.85714, 0.80769, 0.75, 0.68182, 0.6, 0.5, 0.375, 0.21429, 0];
  const got = timeSchedule(12, 3);
  assert.equal(got.length, 13);
  for (const [i, t] of got.entries()) assert.ok(Math.abs(t - expected[i]) < 5e-6, `t[${i}] = ${t}`);
  // t = 0.5 at step 9 must be exact so CFG (interval [0.5, 1]) is active on steps 0..9.
  assert.equal(got[9], 0.5);
});

test('view schedule: given order cycles, visibility order puts the most visible view first', () => {
  assert.deepEqual(viewSchedule(5, [0.1, 0.5, 0.3], 'given'), [0, 1, 2, 0, 1]);
  assert.deepEqual(viewSchedule(5, [0.1, 0.5, 0.3], 'visibility'), [1, 2, 0, 1, 2]);
  assert.deepEqual(viewSchedule(3, [0.2, 0.2], 'visibility'), [0, 1, 0]);
});

test('Euler + CFG on a linear velocity field follows the closed-form update', async () => {
  // v(x) = a x (+ b for the conditional pass): each step x <- x - dt * ((1+s) v_c - s v_u) inside the interval.
  const a = 0.5;
  const b = 0.25;
  const s = 2;
  const steps = 4;
  const ts = timeSchedule(steps, 3);
  const noise = Tensor.fromArray([1, -2], [2]);
  const vel = (x: Tensor, _t: number, view: number | null) =>
    Tensor.fromArray(
      x.data.map((v) => a * v + (view === null ? 0 : b)),
      x.shape,
    );
  const out = await sampleFlow(vel, noise, [0, 0, 0, 0], {
    steps,
    cfgStrength: s,
    cfgInterval: [0.5, 1],
    rescaleT: 3,
  });
  let x = [1, -2];
  for (let i = 0; i < steps; i++) {
    const t = ts[i];
    const inCfg = t >= 0.5 && t <= 1;
    x = x.map((v) => {
      const vc = a * v + b;
      const vu = a * v;
      const vv = inCfg ? (1 + s) * vc - s * vu : vc;
      return v - (t - ts[i + 1]) * vv;
    });
  }
  for (const [i, v] of x.entries()) assert.ok(Math.abs(out.data[i] - v) < 1e-5, `x[${i}]`);
});
