/** Builds the [1, 4112, 1024] condition of a fixture view exactly as the official pipeline concatenates it. */

import type { Fixture } from '../../src/testing/fixtures.ts';

export function fixtureCondition(fx: Fixture, prefix = 'cond'): Float32Array {
  const tokens = fx.inputs.get(`${prefix}_tokens`)!.data;
  const vis = fx.inputs.get(`${prefix}_vis`)!.data;
  const occ = fx.inputs.get(`${prefix}_occ`)!.data;
  const C = 1024;
  const out = new Float32Array(4112 * C);
  out.set(tokens, 0);
  for (let j = 0; j < 1369; j++) {
    out.fill(vis[j], (1374 + j) * C, (1375 + j) * C);
    out.fill(occ[j], (1374 + 1369 + j) * C, (1375 + 1369 + j) * C);
  }
  return out;
}
