/**
 * The Khronos glTF validator (npm `gltf-validator`, the reference implementation compiled from Dart) for GLB
 * tests: errors and warnings with their JSON pointers, so a failing assertion says what is wrong.
 */

import validator from 'gltf-validator';

/**
 * @example
 * const r = await validateGlb(bytes); assert.equal(r.errors, 0, r.text);
 */
export async function validateGlb(
  bytes: Uint8Array,
): Promise<{ errors: number; warnings: number; codes: string[]; text: string }> {
  const report = await validator.validateBytes(new Uint8Array(bytes), { maxIssues: 50 });
  const msgs = report.issues.messages;
  return {
    errors: report.issues.numErrors,
    warnings: report.issues.numWarnings,
    codes: msgs.map((m) => m.code),
    text: msgs.map((m) => `[${m.severity}] ${m.code} ${m.pointer ?? ''}: ${m.message}`).join('\n'),
  };
}
