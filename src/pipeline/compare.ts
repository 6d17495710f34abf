/**
 * `compareDumps(a, b)`: compares two intermediate-dump folders (ours vs ours, or ours vs the official pipeline
 * via tools/official_dump.py) tensor by tensor. Every `*.safetensors` file present in both folders is compared;
 * tensors with the same name are matched. Floating tensors: shape, max-abs and relative error
 * (max |a - b| / max |b|). Integer coordinate tensors ([N, 4] or [N, 3] voxel indices): IoU of the two sets.
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
}

export const COMPARE_DEFAULTS: Required<CompareOptions> = { rtol: 1e-3, iou: 0.99 };

export interface TensorComparison {
  file: string;
  name: string;
  shapeA: number[];
  shapeB: number[];
  kind: 'float' | 'coords' | 'missing';
  maxAbs?: number;
  rel?: number;
  iou?: number;
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
    return { ...base, kind: 'coords', iou, ok: iou >= o.iou };
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
  return {
    ...base,
    kind: 'float',
    maxAbs,
    rel,
    ok: !nan && rel <= o.rtol,
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
        if (!a.has(name))
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
    if (!filesA.includes(file))
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
    'file/tensor                                   shape              max-abs     rel/IoU     ok',
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
    lines.push(
      `${id} ${shape} ${m} ${rel.padEnd(11)} ${row.ok ? 'ok' : 'FAIL'}${row.note ? ` (${row.note})` : ''}`,
    );
  }
  lines.push(r.ok ? 'all within tolerance' : 'some tensors differ beyond tolerance');
  return lines.join('\n');
}
