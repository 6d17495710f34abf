/**
 * The register-tiled implicit-GEMM shared by the dense conv3d and the fused sparse conv: tile shapes and the
 * generated inner loop. Both templates (conv3d.wgsl, sparse_conv.wgsl) stage A/B tiles in workgroup memory and
 * call `store(m, n, value)`; only their gathers differ.
 */

/** A workgroup computes a tm x tn output tile in tk-deep K steps; each thread holds rm x rn accumulators. */
export interface TileConfig {
  tm: number;
  tn: number;
  tk: number;
  rm: number;
  rn: number;
}

export const TILE_WIDE: TileConfig = { tm: 64, tn: 64, tk: 16, rm: 4, rn: 4 };
export const TILE_MID: TileConfig = { tm: 128, tn: 32, tk: 16, rm: 4, rn: 4 };
export const TILE_NARROW: TileConfig = { tm: 128, tn: 16, tk: 16, rm: 4, rn: 2 };

/**
 * Unrolled register-tile code for the templates: scalar accumulators `acc_r_c`, because Mesa compiles
 * loop-indexed private arrays very slowly (see the note in conv3d.wgsl).
 * @example
 * const vars = { TM: TILE_WIDE.tm, TN: TILE_WIDE.tn, ...microKernel(TILE_WIDE) }; // + the template's other names
 * specialize(WGSL['ops/conv/conv3d'], vars, enables);
 */
export function microKernel(t: TileConfig): { ACC_DECL: string; MICRO: string; STORE: string } {
  const decl: string[] = [];
  const micro: string[] = [];
  const store: string[] = [];
  for (let r = 0; r < t.rm; r++) micro.push(`      let a_${r} = a_s[q * TM + ty + ${r}u * TYM];`);
  for (let c = 0; c < t.rn; c++) micro.push(`      let b_${c} = b_s[q * TN + tx + ${c}u * TXN];`);
  for (let r = 0; r < t.rm; r++) {
    for (let c = 0; c < t.rn; c++) {
      decl.push(`  var acc_${r}_${c} = 0.0;`);
      micro.push(`      acc_${r}_${c} = acc_${r}_${c} + a_${r} * b_${c};`);
      store.push(`  store(m_base + ty + ${r}u * TYM, n_base + tx + ${c}u * TXN, acc_${r}_${c});`);
    }
  }
  return { ACC_DECL: decl.join('\n'), MICRO: micro.join('\n'), STORE: store.join('\n') };
}
