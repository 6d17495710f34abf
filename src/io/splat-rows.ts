/**
 * Column access to Gaussians in the official `save_ply` layout, shared by the compact splat writers (SPZ, SOG):
 * they store exactly the rows `gaussians.ply` holds (Y-up, raw SH DC, logit opacity, log scales, w-first
 * quaternions), so the three files describe the same splats in the same axes.
 */

import {
  GAUSSIAN_PLY_PROPERTIES,
  type GaussianPlySource,
  PlyError,
  type PlyRows,
  rowsToProperties,
} from './ply-gaussians.ts';

/** Gaussians as the writers accept them: a `Gaussians` object (src/representations) or its PLY rows. */
export type SplatSource = GaussianPlySource | PlyRows;

/** One Float32Array per 3DGS property name, plus the count. */
export interface SplatColumns {
  count: number;
  columns: Record<(typeof GAUSSIAN_PLY_PROPERTIES)[number], Float32Array>;
}

/**
 * Splits Gaussians into per-property columns, checking the 3DGS layout and that every value is finite (a NaN
 * would be quantised silently by the compact formats).
 * @example
 * const { count, columns } = splatColumns(gaussians);
 * columns.opacity[0]; // logit opacity of the first Gaussian
 */
export function splatColumns(source: SplatSource, who = 'splat writer'): SplatColumns {
  const rows = 'toPlyProperties' in source ? source.toPlyProperties() : source;
  const props = rowsToProperties(rows);
  const names = props.map((p) => p.name);
  if (names.join(' ') !== GAUSSIAN_PLY_PROPERTIES.join(' ')) {
    throw new PlyError(
      `${who}: properties [${names.join(' ')}] are not the 3DGS layout [${GAUSSIAN_PLY_PROPERTIES.join(' ')}]`,
    );
  }
  const count = props[0].data.length;
  if (count === 0) throw new PlyError(`${who}: no Gaussians to write`);
  const columns = {} as SplatColumns['columns'];
  for (const p of props) {
    for (let i = 0; i < count; i++) {
      if (!Number.isFinite(p.data[i])) {
        throw new PlyError(`${who}: Gaussian ${i} has a non-finite ${p.name} (${p.data[i]})`);
      }
    }
    columns[p.name as keyof SplatColumns['columns']] = p.data;
  }
  return { count, columns };
}

/**
 * Interleaves columns back into `PlyRows` in the 3DGS order (missing normals are zero).
 * @example
 * const rows = columnsToRows(n, { x, y, z, f_dc_0, ... });
 */
export function columnsToRows(count: number, columns: Partial<Record<string, ArrayLike<number>>>): PlyRows {
  const P = GAUSSIAN_PLY_PROPERTIES.length;
  const rows = new Float32Array(count * P);
  GAUSSIAN_PLY_PROPERTIES.forEach((name, j) => {
    const col = columns[name];
    if (!col) return;
    for (let i = 0; i < count; i++) rows[i * P + j] = col[i];
  });
  return { names: GAUSSIAN_PLY_PROPERTIES, rows };
}
