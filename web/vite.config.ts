/**
 * Vite configuration of the browser app (`npm run web`, `npm run build:web` -> web/dist/index.html).
 *
 * The app imports the library from ../src directly (no fork). The library keeps Node-only code (sharp, the
 * `webgpu` npm package, node:fs) behind dynamic imports and `*.node.ts` files; `nodeOnlyGuard` makes sure none of
 * it enters the bundle: such imports resolve to a small stub whose every export throws "Node-only" when called,
 * and each one is listed in the build log with its importer, so a new static Node import in src/ is visible.
 * (Alternatives: Vite's built-in browser externals leave `__vite-browser-external` proxies that fail at import
 * time on named imports in the production build; aliasing each module by hand breaks as src/ changes.)
 */

import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
/** Package imports that only work in Node. */
const NODE_PACKAGES = new Set(['sharp', 'webgpu']);
const STUB_PREFIX = '\0node-only:';

function isNodeOnly(id: string): boolean {
  if (id.startsWith('node:')) return true;
  if (builtinModules.includes(id)) return true;
  const pkg = id.split('/')[0];
  return NODE_PACKAGES.has(pkg) || /\.node\.ts$/.test(id);
}

/** Export names of a Node-only module, so the stub can offer the same named exports. */
function exportNames(id: string, importerDir: string): string[] {
  if (/\.node\.ts$/.test(id)) {
    const src = readFileSync(resolve(importerDir, id), 'utf8');
    return [...src.matchAll(/export\s+(?:async\s+)?(?:function|class|const|let)\s+([A-Za-z_$][\w$]*)/g)].map(
      (m) => m[1],
    );
  }
  return [];
}

function nodeOnlyGuard(): Plugin {
  const seen = new Map<string, Set<string>>();
  /** Export names offered per stubbed module (kept here, not in the id: Vite treats `?` in ids as queries). */
  const exportsOf = new Map<string, Set<string>>();
  return {
    name: 'amodal3r-node-only-guard',
    enforce: 'pre',
    async resolveId(source, importer) {
      if (!isNodeOnly(source)) return null;
      const names = new Set(exportNames(source, importer ? dirname(importer) : here));
      if (!/\.node\.ts$/.test(source)) {
        try {
          const mod = (await import(source)) as Record<string, unknown>;
          for (const k of Object.keys(mod)) names.add(k);
        } catch {
          // Not loadable here (optional native package): the stub still offers a default export.
        }
      }
      const list = seen.get(source) ?? new Set<string>();
      if (importer) list.add(importer.replace(`${resolve(here, '..')}/`, ''));
      seen.set(source, list);
      const known = exportsOf.get(source) ?? new Set<string>();
      for (const n of names) known.add(n);
      exportsOf.set(source, known);
      return `${STUB_PREFIX}${source}`;
    },
    load(id) {
      if (!id.startsWith(STUB_PREFIX)) return null;
      const source = id.slice(STUB_PREFIX.length);
      const valid = [...(exportsOf.get(source) ?? [])].filter(
        (n) => n !== 'default' && /^[A-Za-z_$][\w$]*$/.test(n),
      );
      const lines = [
        `const fail = (name) => function () { throw new Error(${JSON.stringify(source)} + ': ' + name + ' is Node-only and not available in the browser'); };`,
        ...valid.map((n) => `export const ${n} = fail(${JSON.stringify(n)});`),
        'export default fail("default");',
      ];
      return lines.join('\n');
    },
    buildEnd() {
      for (const [source, importers] of seen)
        this.warn(`Node-only import '${source}' stubbed (from ${[...importers].join(', ')})`);
    },
  };
}

export default defineConfig({
  root: here,
  base: './',
  plugins: [nodeOnlyGuard()],
  build: {
    outDir: resolve(here, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
  },
  worker: { format: 'es', plugins: () => [nodeOnlyGuard()] },
  server: { fs: { allow: [resolve(here, '..')] } },
  optimizeDeps: { exclude: ['webgpu', 'sharp'] },
});
