import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maxAbs, maxAbsDiff } from '../../test/helpers/compare.ts';
import {
  GS_REPRESENTATION_DEFAULTS,
  gaussiansFromDecoderOutput,
  offsetPerturbation,
} from '../models/slat-decoder-gs.ts';
import { loadFixture } from '../testing/fixtures.ts';
import { Gaussians, inverseSoftplus, logit, PLY_PROPERTIES } from './gaussians.ts';

const DIR = 'test/fixtures/slat_dec/ci';

// The representation is fed the OFFICIAL decoder output (gs_raw), so these checks isolate the post-processing,
// activations and PLY conversion from the network. Each value is a few f32 operations; we evaluate in f64 and
// round once, torch rounds after every op: a few ulps. 2e-6 absolute on values of magnitude <= ~7 (PLY log
// scales) allows ~8 ulps there and is far below any convention error (a wrong bias, sign, or axis is >= 1e-3).
const TOL = 2e-6;

async function official() {
  const fx = await loadFixture(DIR, { filter: () => false });
  const o = (k: string) => fx.outputs.get(k)!.data;
  const coords = Int32Array.from(o('coords'));
  const g = gaussiansFromDecoderOutput(
    o('gs_raw'),
    coords,
    64,
    GS_REPRESENTATION_DEFAULTS,
    o('offset_perturbation'),
  );
  return { fx, o, g };
}

test('offset_perturbation equals the constructor buffer', async () => {
  const { o } = await official();
  const ours = offsetPerturbation(32, 1.5);
  const d = maxAbsDiff(ours, o('offset_perturbation'));
  // f32 atanh of the same f32 argument: libm vs JS may differ by an ulp (values <= 0.81).
  assert.ok(d <= 2e-7, `offset_perturbation max diff ${d}`);
});

test('to_representation + Gaussian activations match the official class', async () => {
  const { o, g } = await official();
  assert.equal(g.count, (o('gs_raw').length / 448) * 32);
  for (const [name, ours] of [
    ['gs_xyz', g.fields.xyz],
    ['gs_get_xyz', g.getXyz()],
    ['gs_get_scaling', g.getScaling()],
    ['gs_get_opacity', g.getOpacity()],
    ['gs_get_rotation', g.getRotation()],
  ] as const) {
    const want = o(name);
    assert.equal(ours.length, want.length, name);
    const d = maxAbsDiff(ours, want);
    assert.ok(d <= TOL, `${name}: max |diff| ${d} (max |v| ${maxAbs(want)})`);
  }
});

test('toPlyProperties gives the rows official save_ply writes', async () => {
  const { fx, o, g } = await official();
  assert.deepEqual(fx.manifest.ply_properties, [...PLY_PROPERTIES]);
  const { rows } = g.toPlyProperties();
  const want = o('gs_ply');
  assert.equal(rows.length, want.length);
  // The quaternion columns reproduce NumPy's f32 quaternion_to_matrix op by op (its small components are
  // ill-conditioned: an ulp in the matrix moved them by 2e-5 before the f32 norm was emulated exactly). The logit
  // of an activated opacity near 0.03 amplifies its ulp (~2e-9) by 1/(p(1-p)) ~ 35: 2e-5 leaves margin.
  const C = PLY_PROPERTIES.length;
  for (let c = 0; c < C; c++) {
    let d = 0;
    for (let i = c; i < rows.length; i += C) d = Math.max(d, Math.abs(rows[i] - want[i]));
    const tol = c === 9 ? 2e-5 : TOL;
    assert.ok(d <= tol, `PLY ${PLY_PROPERTIES[c]}: max |diff| ${d}`);
  }
});

test('Gaussians: biases, identity transform, colours, shape checks', () => {
  const g = new Gaussians({
    xyz: new Float32Array([0.25, 0.5, 0.75]),
    featuresDc: new Float32Array([0, -10, 1]),
    scaling: new Float32Array(3),
    rotation: new Float32Array(4),
    opacity: new Float32Array(1),
  });
  // zero raw fields give the configured biases back
  assert.ok(Math.abs(g.getOpacity()[0] - 0.1) < 1e-7);
  const s = Math.sqrt(0.004 ** 2 + 9e-4 ** 2);
  for (const v of g.getScaling()) assert.ok(Math.abs(v - s) < 1e-8, `scale ${v} vs ${s}`);
  assert.deepEqual([...g.getRotation()], [1, 0, 0, 0]);
  assert.deepEqual([...g.getXyz()], [-0.25, 0, 0.25]);
  assert.ok(Math.abs(inverseSoftplus(0.004) - Math.log(Math.expm1(0.004))) < 1e-12);
  assert.ok(Math.abs(logit(0.1) - Math.log(1 / 9)) < 1e-12);
  const c = g.getColors();
  assert.ok(Math.abs(c[0] - 0.5) < 1e-7 && c[1] === 0 && Math.abs(c[2] - 0.7820948) < 1e-6);
  // Z-up -> Y-up: (x, y, z) -> (x, -z, y); an identity rotation becomes a 90-degree turn about x.
  const { rows } = g.toPlyProperties();
  assert.deepEqual([...rows.subarray(0, 3)], [-0.25, -0.25, 0]);
  const q = [...rows.subarray(13, 17)];
  assert.ok(Math.abs(q[0] - Math.SQRT1_2) < 1e-6 && Math.abs(q[1] - Math.SQRT1_2) < 1e-6, `q ${q}`);
  const id = g.toPlyProperties(null).rows;
  assert.deepEqual([...id.subarray(13, 17)], [1, 0, 0, 0]);
  assert.throws(
    () =>
      new Gaussians({
        xyz: new Float32Array(3),
        featuresDc: new Float32Array(3),
        scaling: new Float32Array(3),
        rotation: new Float32Array(3),
        opacity: new Float32Array(1),
      }),
    /rotation has 3 values \(want 4\)/,
  );
});
