import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GELU_TANH_BETA, GELU_TANH_KAPPA, SQRT1_2 } from '../elementwise/unary.cpu.ts';
import { ACTIVATION_WGSL, activationCall } from './activation.ts';
import { ERF_P, ERF_Q } from './erf.ts';

test('activation.wgsl uses the same f32 constants as the CPU twins', () => {
  // Every decimal literal of the WGSL, as f32; a drifted constant would make the GPU and CPU formulas differ
  // silently (the kernel tests allow a few ulp).
  const literals = new Set(
    (ACTIVATION_WGSL.match(/\d+\.\d+(e[-+]?\d+)?/g) ?? []).map((l) => Math.fround(Number(l))),
  );
  for (const c of [GELU_TANH_BETA, GELU_TANH_KAPPA, SQRT1_2, ...ERF_P, ...ERF_Q]) {
    assert.ok(literals.has(Math.fround(Math.abs(c))), `constant ${c} missing from activation.wgsl`);
  }
});

test('activationCall builds WGSL expressions', () => {
  assert.equal(activationCall('geluTanh', 'acc'), 'gelu_tanh_f32(acc)');
  assert.equal(activationCall('none', 'a + b'), '(a + b)');
});
