/**
 * Generator of the `tiled_reg` rung (matmul.tiled_reg.wgsl): the per-thread code of a register-blocked tiled
 * matmul written out as named variables, with the operand layouts (transposes) and the load width (scalar or vec4)
 * baked in as template constants.
 *
 * Notes / alternatives:
 * - Why generated: on the H100 (Dawn/Vulkan, robustness off) every tiled kernel whose accumulators, register
 *   operands or prefetch registers were function-scope arrays indexed by loop variables (`tiled` 4x4/8x8,
 *   `tiled_f16`, the first `tiled_vec`) ran 4096^3 in ~70 ms (~2 TFLOP/s) whatever its blocking, while a probe
 *   kernel with the same 128x128x16 / 256 threads / 8x8 shape reached 41 TFLOP/s. Arrays indexed by loop
 *   variables can live in local memory on NVIDIA's compiler; conv3d's `microKernel` met the same problem on
 *   lavapipe and solved it the same way (scalar accumulators generated in TypeScript).
 * - The transposes were uniforms in the older rungs (one pipeline for all four, which kept lavapipe compile times
 *   down) at the cost of selects in every load address; here they are constants (4 pipelines per dtype set, 8 with
 *   the vec4 variant), and the 4x4 configuration on CPU adapters keeps each compile short.
 * - Staging: each thread moves 4 elements of a tile per slot (TM / 4 slots per operand). Operands contiguous along
 *   the tile's m / n (a transposed, b not) store one vec4 into the k-major tile; operands contiguous along k
 *   (a not transposed, b transposed) read 4 consecutive k and store 4 scalars (at most 2-way bank conflicts with
 *   the one-vec4 row padding). Staging is 2 TM stores per thread per k tile against 16 TM^2 FMAs.
 * - Strided operands store single components of the vec4 tile rows with a dynamic component index
 *   (`As[c][e] = x`); the first tiled_vec did the same and passed the bench's validation on the H100.
 * - The epilogue is emitted once, in a loop over the thread's rows with a switch picking the row's accumulators.
 *   Inlined per accumulator (TM^2 copies of alpha / bias / activation) it made LLVM on lavapipe take ~8 s per
 *   4x4 pipeline and ~42 s per 8x8 one (2-core box under load); once: ~1.2 s for the 8x8 one. The matmul test
 *   file then took 102 s with an empty Mesa shader cache (load average ~4.3), most of it every rung's compiles.
 * - Not measured on a GPU yet (written after the H100 figures in matmul.ts's notes); validated on lavapipe,
 *   both tiles (4x4 and the forced 8x8), all transposes, scalar and vec4 loads, f32 and f16 operands.
 *
 * @example
 * const sh = tiledRegShader({ a: 'f32', b: 'f32', out: 'f32', bias: 'f32' }, { transA: false, transB: true, vec: true, big: true });
 */

import { enablesFor, specialize, templateKey } from '../../runtime/wgsl.ts';
import { WGSL } from '../wgsl.generated.ts';
import type { MatmulShader, MatmulTypes } from './matmul.ts';

/** Options of one `tiled_reg` specialisation. */
export interface TiledRegOptions {
  /** a is [K, M] in memory. */
  transA: boolean;
  /** b is [N, K] in memory. */
  transB: boolean;
  /**
   * Operands bound as vec4 arrays and read 4 elements per load: only valid for dispatches whose operand offsets,
   * batch strides, row strides and contiguous extents are all multiples of 4 elements.
   */
  vec: boolean;
  /** 8x8 outputs per thread (128x128 tiles) instead of 4x4 (64x64). */
  big: boolean;
}

const THREADS = 256;
const BK = 16;

/**
 * WGSL of fetch_X (4 elements of the next tile into a vec4 register) and stage_X (that register into the
 * workgroup tile) for one operand. Element (k, j) of the tile (j along m for a, along n for b) lives at
 * `base + (k0 + k) * ld + j0 + j` when `contiguous` (a transposed, b not), else at `base + (j0 + j) * ld + k0 + k`.
 */
function operandFuncs(x: 'a' | 'b', contiguous: boolean, vec: boolean): string {
  const tile = x === 'a' ? 'As' : 'Bs';
  const ext = x === 'a' ? 'p.M' : 'p.N';
  const ld = x === 'a' ? 'p.lda' : 'p.ldb';
  const zero = 'vec4<f32>(0.0)';
  const lines: string[] = [];
  lines.push(`fn fetch_${x}(base: u32, k0: u32, j0: u32, idx: u32) -> vec4<f32> {`);
  if (contiguous) {
    // Slot idx covers k = idx / BM4 and j = 4 (idx % BM4) .. + 3: a warp reads whole rows of the operand.
    lines.push('  let k = k0 + idx / BM4;', '  let j = j0 + (idx % BM4) * 4u;');
    if (vec) {
      lines.push(
        `  if (k < p.K && j < ${ext}) {`,
        `    return vec4<f32>(${x}[(base + k * ${ld} + j) / 4u]);`,
        '  }',
        `  return ${zero};`,
      );
    } else {
      lines.push(
        '  if (k >= p.K) {',
        `    return ${zero};`,
        '  }',
        `  let r = base + k * ${ld} + j;`,
        `  var v = ${zero};`,
      );
      ['x', 'y', 'z', 'w'].forEach((c, i) => {
        lines.push(`  if (j + ${i}u < ${ext}) {`, `    v.${c} = f32(${x}[r + ${i}u]);`, '  }');
      });
      lines.push('  return v;');
    }
  } else {
    // Slot idx covers j = idx / 4 and k = 4 (idx % 4) .. + 3: 4 consecutive elements of one operand row.
    lines.push('  let k = k0 + (idx % 4u) * 4u;', '  let j = j0 + idx / 4u;');
    if (vec) {
      lines.push(
        `  if (j < ${ext} && k < p.K) {`,
        `    return vec4<f32>(${x}[(base + j * ${ld} + k) / 4u]);`,
        '  }',
        `  return ${zero};`,
      );
    } else {
      lines.push(
        `  if (j >= ${ext}) {`,
        `    return ${zero};`,
        '  }',
        `  let r = base + j * ${ld} + k;`,
        `  var v = ${zero};`,
      );
      ['x', 'y', 'z', 'w'].forEach((c, i) => {
        lines.push(`  if (k + ${i}u < p.K) {`, `    v.${c} = f32(${x}[r + ${i}u]);`, '  }');
      });
      lines.push('  return v;');
    }
  }
  lines.push('}', '', `fn stage_${x}(idx: u32, v: vec4<f32>) {`);
  if (contiguous) {
    lines.push(`  ${tile}[(idx / BM4) * LD4 + idx % BM4] = v;`);
  } else {
    lines.push(
      '  let k = (idx % 4u) * 4u;',
      '  let j = idx / 4u;',
      '  let c = (k * LD4) + j / 4u;',
      '  let e = j % 4u;',
    );
    ['x', 'y', 'z', 'w'].forEach((comp, i) => {
      lines.push(`  ${tile}[c + ${i}u * LD4][e] = v.${comp};`);
    });
  }
  lines.push('}');
  return lines.join('\n');
}

/**
 * The WGSL of the `tiled_reg` rung for one dtype set and one transpose / load-width combination.
 *
 * @example
 * const { code, BM } = tiledRegShader({ a: 'f16', b: 'f16', out: 'f16', bias: 'f32' }, { transA: false, transB: true, vec: false, big: false });
 */
export function tiledRegShader(t: MatmulTypes, o: TiledRegOptions): MatmulShader {
  const TM = o.big ? 8 : 4;
  const BM = 16 * TM;
  const RG = TM / 4;
  const slots = (BM * BK) / (THREADS * 4);
  const comp = ['x', 'y', 'z', 'w'];
  const decl: string[] = [];
  const stage: string[] = [];
  const fetch: string[] = [];
  const fma: string[] = [];
  const emit: string[] = [];
  for (let s = 0; s < slots; s++) {
    const idx = s === 0 ? 'li' : `li + ${THREADS * s}u`;
    decl.push(
      `  var ra${s} = fetch_a(a_base, 0u, m0, ${idx});`,
      `  var rb${s} = fetch_b(b_base, 0u, n0, ${idx});`,
    );
    stage.push(`    stage_a(${idx}, ra${s});`, `    stage_b(${idx}, rb${s});`);
    fetch.push(
      `      ra${s} = fetch_a(a_base, kn, m0, ${idx});`,
      `      rb${s} = fetch_b(b_base, kn, n0, ${idx});`,
    );
  }
  for (let i = 0; i < TM; i++) {
    for (let j = 0; j < TM; j++) decl.push(`  var acc_${i}_${j} = 0.0;`);
  }
  for (let g = 0; g < RG; g++) {
    const off = g === 0 ? '' : ` + ${16 * g}u`;
    fma.push(`      let av${g} = As[ka${off} + ty];`, `      let bv${g} = Bs[ka${off} + tx];`);
  }
  // Row i of the thread's block is 64 (i / 4) + 4 ty + i % 4; column j likewise with tx.
  for (let i = 0; i < TM; i++) {
    for (let j = 0; j < TM; j++) {
      const a = `av${Math.floor(i / 4)}.${comp[i % 4]}`;
      const b = `bv${Math.floor(j / 4)}.${comp[j % 4]}`;
      fma.push(`      acc_${i}_${j} = fma(${a}, ${b}, acc_${i}_${j});`);
    }
  }
  // The epilogue (alpha, bias, activation: dozens of instructions) is written once, in a loop over the thread's
  // rows that picks the row's accumulators with a switch: inlined TM * TM times it made LLVM (lavapipe) spend
  // ~8 s on a 4x4 kernel and ~40 s on an 8x8 one. It runs once per output element, so its cost on a GPU is small.
  emit.push(`  for (var i = 0u; i < ${TM}u; i = i + 1u) {`);
  for (let h = 0; h < RG; h++) emit.push(`    var r${h} = vec4<f32>(0.0);`);
  emit.push('    switch i {');
  for (let i = 0; i < TM; i++) {
    const rows = [];
    for (let h = 0; h < RG; h++) {
      const v = [0, 1, 2, 3].map((c) => `acc_${i}_${4 * h + c}`).join(', ');
      rows.push(`r${h} = vec4<f32>(${v});`);
    }
    emit.push(`      case ${i}u: { ${rows.join(' ')} }`);
  }
  emit.push(
    '      default: {}',
    '    }',
    '    let m = m0 + (i / 4u) * 64u + i % 4u + 4u * ty;',
    '    if (m < p.M) {',
    `      for (var j = 0u; j < ${TM}u; j = j + 1u) {`,
    '        let n = n0 + (j / 4u) * 64u + j % 4u + 4u * tx;',
  );
  const pick = RG === 1 ? 'r0[j % 4u]' : 'select(r1, r0, j < 4u)[j % 4u]';
  emit.push(
    '        if (n < p.N) {',
    `          epilogue_store(batch, m, n, ${pick});`,
    '        }',
    '      }',
    '    }',
    '  }',
  );
  const ta = o.vec ? `vec4<${t.a}>` : t.a;
  const tb = o.vec ? `vec4<${t.b}>` : t.b;
  const funcs = [operandFuncs('a', o.transA, o.vec), operandFuncs('b', !o.transB, o.vec)].join('\n\n');
  const vars = {
    TA: ta,
    TB: tb,
    TO: t.out,
    TBIAS: t.bias,
    BM,
    TRANS_A: o.transA,
    TRANS_B: o.transB,
  };
  const source = `${WGSL['ops/matmul/matmul.common']}\n${WGSL['ops/matmul/matmul.tiled_reg']}`;
  const code = specialize(
    source,
    {
      ...vars,
      FUNCS: funcs,
      DECL: decl.join('\n'),
      STAGE: stage.join('\n'),
      FETCH: fetch.join('\n'),
      FMA: fma.join('\n'),
      EMIT: emit.join('\n'),
    },
    enablesFor(t.a, t.b, t.out, t.bias),
  );
  return { key: templateKey('matmul.tiled_reg', vars), code, BM, BN: BM };
}
