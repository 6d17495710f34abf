/**
 * WGSL sources live in one `.wgsl` file per op, next to the op's CPU twin. `tools/gen-wgsl.ts` embeds them into
 * `src/ops/wgsl.generated.ts` (committed; a test checks it is fresh) so Node, bundlers and browsers need no loader.
 *
 * Sources are templates: `{{NAME}}` placeholders are filled by `specialize()`. Every placeholder must be given,
 * so a typo fails loudly at pipeline creation instead of producing a silently wrong kernel.
 */

import type { DType } from './dtype.ts';

export type TemplateVars = Record<string, string | number | boolean>;

/** Fills `{{NAME}}` placeholders; prepends `enable f16;` / `enable subgroups;` when asked. */
export function specialize(source: string, vars: TemplateVars, enables: readonly string[] = []): string {
  const body = source.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (_, name: string) => {
    if (!(name in vars)) throw new Error(`WGSL template placeholder {{${name}}} has no value`);
    return String(vars[name]);
  });
  const head = [...new Set(enables)].map((e) => `enable ${e};`).join('\n');
  return head ? `${head}\n${body}` : body;
}

/** The WGSL scalar type used for storage of a dtype. */
export function wgslType(dtype: DType): 'f32' | 'f16' {
  return dtype;
}

/** `enable` directives a kernel needs for the given storage dtypes. */
export function enablesFor(...dtypes: DType[]): string[] {
  return dtypes.includes('f16') ? ['f16'] : [];
}

/** A stable cache key for a template + variables. */
export function templateKey(name: string, vars: TemplateVars): string {
  const parts = Object.keys(vars)
    .sort()
    .map((k) => `${k}=${vars[k]}`);
  return `${name}(${parts.join(',')})`;
}
