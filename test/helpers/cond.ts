/** The [1, 4112, 1024] condition of a fixture view (`<prefix>_tokens/_vis/_occ` inputs), as the pipeline builds it. */

import { buildCond, type Fixture } from '../../src/testing/fixtures.ts';

export function fixtureCondition(fx: Fixture, prefix = 'cond'): Float32Array {
  const get = (k: string) => {
    const t = fx.inputs.get(`${prefix}_${k}`);
    if (!t) throw new Error(`${fx.dir}: fixture has no input ${prefix}_${k}`);
    return t;
  };
  return buildCond(get('tokens'), get('vis'), get('occ')).data;
}
