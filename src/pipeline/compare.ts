/**
 * `compareDumps(a, b)`: compares two intermediate-dump folders (ours vs ours, or ours vs the official pipeline
 * via tools/official_dump.py) tensor by tensor. Every `*.safetensors` file present in both folders is compared;
 * tensors with the same name are matched. Floating tensors: shape, max-abs and relative error
 * (max |a - b| / max |b|). Integer coordinate tensors ([N, 4] or [N, 3] voxel indices, also mesh faces): IoU of
 * the two sets of rows. Tolerances can differ per dump group or tensor (`tolerances: { stage2: 1e-4,
 * 'mesh/vertices': 1e-3 }`, the most specific key wins); `ignore` leaves tensors out (e.g. the large encode
 * tensors a committed fixture omits). Dump names and shapes: dump.ts, docs/reproducibility.md.
 *
 * @example
 * const report = await compareDumps('out/dump', 'official/dump', { rtol: 1e-3, iou: 0.99 });
 * if (!report.ok) process.exitCode = 1;
 */

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { openSafetensorsFile } from '../io/safetensors.node.ts';
import type { SafetensorsReader } from '../io/safetensors.ts';

export interface CompareOptions {
  /** Largest allowed relative error (max |a-b| / max |b|) for floating tensors. */
  rtol?: number;
  /** Smallest allowed IoU for coordinate tensors. */
  iou?: number;
  /** Relative tolerance per `group` or `group/tensor` (overrides `rtol`; the longer key wins). */
  tolerances?: Readonly<Record<string, number>>;
  /** `group/tensor` names (or whole `group`s) left out of the comparison. */
  ignore?: readonly string[];
}

export const COMPARE_DEFAULTS: Required<CompareOptions> = {
  rtol: 1e-3,
  iou: 0.99,
  tolerances: {},
  ignore: [],
};

/** The relative tolerance that applies to `file`'s tensor `name`. */
export function toleranceFor(file: string, name: string, o: Required<CompareOptions>): number {
  const group = file.replace(/\.safetensors$/, '');
  return o.tolerances[`${group}/${name}`] ?? o.tolerances[group] ?? o.rtol;
}

function ignored(file: string, name: string, o: Required<CompareOptions>): boolean {
  const group = file.replace(/\.safetensors$/, '');
  return o.ignore.includes(group) || o.ignore.includes(`${group}/${name}`);
}

/**
 * Parses `--tol stage2=1e-4` entries into a tolerance map.
 * @example
 * parseTolerances(['stage2=1e-4', 'mesh/vertices=1e-3']); // { stage2: 1e-4, 'mesh/vertices': 1e-3 }
 */
export function parseTolerances(entries: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of entries) {
    const i = e.indexOf('=');
    const v = Number(e.slice(i + 1));
    if (i <= 0 || !Number.isFinite(v) || v < 0)
      throw new Error(`--tol ${e}: expected GROUP[/TENSOR]=RTOL with RTOL >= 0, e.g. stage2=1e-4`);
    out[e.slice(0, i)] = v;
  }
  return out;
}

export interface TensorComparison {
  file: string;
  name: string;
  shapeA: number[];
  shapeB: number[];
  kind: 'float' | 'coords' | 'missing';
  maxAbs?: number;
  rel?: number;
  iou?: number;
  /** The tolerance applied (rtol for floats, smallest IoU for coordinates). */
  tol?: number;
  ok: boolean;
  note?: string;
}

export interface CompareReport {
  ok: boolean;
  rows: TensorComparison[];
}

const INT_DTYPES = new Set(['I64', 'I32', 'I16', 'I8', 'U8', 'U16', 'U32', 'U64', 'BOOL']);

async function safetensorsFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.safetensors')).sort();
}

function coordKeys(v: Int32Array, width: number): Set<string> {
  const s = new Set<string>();
  for (let i = 0; i < v.length; i += width) s.add(Array.from(v.subarray(i, i + width)).join(','));
  return s;
}

async function compareTensor(
  file: string,
  name: string,
  a: SafetensorsReader,
  b: SafetensorsReader,
  o: Required<CompareOptions>,
): Promise<TensorComparison> {
  const ia = a.info(name);
  const ib = b.info(name);
  const base = { file, name, shapeA: [...ia.shape], shapeB: [...ib.shape] };
  const isInt = INT_DTYPES.has(ia.dtype) || INT_DTYPES.has(ib.dtype);
  if (isInt) {
    const width = ia.shape[ia.shape.length - 1] ?? 1;
    if (ia.shape.length !== 2 || (width !== 3 && width !== 4) || ib.shape[ib.shape.length - 1] !== width) {
      const same = base.shapeA.join() === base.shapeB.join();
      const va = await a.readInt32(name);
      const vb = await b.readInt32(name);
      const equal = same && va.every((x, i) => x === vb[i]);
      return {
        ...base,
        kind: 'coords',
        ok: equal,
        note: equal ? 'identical integers' : 'integer tensors differ',
      };
    }
    const sa = coordKeys(await a.readInt32(name), width);
    const sb = coordKeys(await b.readInt32(name), width);
    let inter = 0;
    for (const k of sa) if (sb.has(k)) inter++;
    const union = sa.size + sb.size - inter;
    const iou = union === 0 ? 1 : inter / union;
    return { ...base, kind: 'coords', iou, tol: o.iou, ok: iou >= o.iou };
  }
  if (base.shapeA.join() !== base.shapeB.join()) {
    return { ...base, kind: 'float', ok: false, note: 'shape mismatch' };
  }
  const va = await a.readFloat32(name);
  const vb = await b.readFloat32(name);
  let maxAbs = 0;
  let scale = 0;
  let nan = false;
  for (let i = 0; i < va.length; i++) {
    const d = Math.abs(va[i] - vb[i]);
    if (Number.isNaN(d)) nan = true;
    else if (d > maxAbs) maxAbs = d;
    scale = Math.max(scale, Math.abs(vb[i]));
  }
  const rel = scale === 0 ? maxAbs : maxAbs / scale;
  const tol = toleranceFor(file, name, o);
  return {
    ...base,
    kind: 'float',
    maxAbs,
    rel,
    tol,
    ok: !nan && rel <= tol,
    note: nan ? 'NaN mismatch' : undefined,
  };
}

export async function compareDumps(
  dirA: string,
  dirB: string,
  options: CompareOptions = {},
): Promise<CompareReport> {
  const o = { ...COMPARE_DEFAULTS, ...options };
  const filesA = await safetensorsFiles(dirA);
  const filesB = new Set(await safetensorsFiles(dirB));
  const rows: TensorComparison[] = [];
  for (const file of filesA) {
    if (ignored(file, '*', o)) continue;
    if (!filesB.has(file)) {
      rows.push({
        file,
        name: '*',
        shapeA: [],
        shapeB: [],
        kind: 'missing',
        ok: false,
        note: `not in ${dirB}`,
      });
      continue;
    }
    const a = await openSafetensorsFile(join(dirA, file));
    const b = await openSafetensorsFile(join(dirB, file));
    try {
      for (const name of a.names) {
        if (ignored(file, name, o)) continue;
        if (!b.has(name)) {
          rows.push({
            file,
            name,
            shapeA: [...a.info(name).shape],
            shapeB: [],
            kind: 'missing',
            ok: false,
            note: `not in ${dirB}`,
          });
          continue;
        }
        rows.push(await compareTensor(file, name, a, b, o));
      }
      for (const name of b.names) {
        if (!a.has(name) && !ignored(file, name, o))
          rows.push({
            file,
            name,
            shapeA: [],
            shapeB: [...b.info(name).shape],
            kind: 'missing',
            ok: false,
            note: `not in ${dirA}`,
          });
      }
    } finally {
      await a.close();
      await b.close();
    }
  }
  for (const file of filesB) {
    if (!filesA.includes(file) && !ignored(file, '*', o))
      rows.push({
        file,
        name: '*',
        shapeA: [],
        shapeB: [],
        kind: 'missing',
        ok: false,
        note: `not in ${dirA}`,
      });
  }
  if (rows.length === 0) throw new Error(`compare: no .safetensors files in ${dirA} or ${dirB}`);
  return { ok: rows.every((r) => r.ok), rows };
}

/** A fixed-width text table of a report. */
export function formatCompareReport(r: CompareReport): string {
  const lines = [
    'file/tensor                                   shape              max-abs     rel/IoU           tol       ok',
  ];
  for (const row of r.rows) {
    const id = `${row.file.replace(/\.safetensors$/, '')}/${row.name}`.padEnd(45);
    const shape = `[${row.shapeA.join(',')}]`.padEnd(18);
    const m = row.maxAbs === undefined ? '-'.padEnd(11) : row.maxAbs.toExponential(2).padEnd(11);
    const rel =
      row.iou !== undefined
        ? `IoU ${row.iou.toFixed(5)}`
        : row.rel !== undefined
          ? row.rel.toExponential(2)
          : '-';
    const tol =
      row.tol === undefined ? '-' : row.kind === 'coords' ? `>=${row.tol}` : `<=${row.tol.toExponential(0)}`;
    lines.push(
      `${id} ${shape} ${m} ${rel.padEnd(17)} ${tol.padEnd(9)} ${row.ok ? 'ok' : 'FAIL'}${row.note ? ` (${row.note})` : ''}`,
    );
  }
  lines.push(r.ok ? 'all within tolerance' : 'some tensors differ beyond tolerance');
  return lines.join('\n');
}
