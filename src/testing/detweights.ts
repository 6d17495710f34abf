/**
 * Deterministic pseudo-random tensors, bit-identical to `tools/fixtures/detweights.py`.
 *
 * Parity fixtures written by the official PyTorch code do not commit their weights or large inputs: each tensor
 * is regenerated here from its name, shape and (scale, offset, kind) recorded in the fixture's manifest.
 *
 * Notes: the index is mixed with `Math.imul` (exact low 32 bits of i * 0x9E3779B9) because plain `i * c` loses
 * bits above 2^53 for the ~3e8-element ViT-L weights. Values are formed in float64 and rounded once with
 * `Math.fround`, exactly as numpy's `astype(float32)` does.
 */

/** How the uniform stream is mapped to values. */
export type DetKind = 'uniform' | 'ratio196';

/** Parameters of one generated tensor (as recorded in a fixture manifest). */
export interface DetSpec {
  /** Tensor name; the hash seed. */
  name: string;
  /** Row-major shape. */
  shape: readonly number[];
  /** Half-width of the uniform range (ignored for `ratio196`). */
  scale: number;
  /** Centre of the uniform range (ignored for `ratio196`). */
  offset: number;
  /** Value mapping; default `uniform`. */
  kind?: DetKind;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const GOLDEN = 0x9e3779b9;
const MIX1 = 0x85ebca6b;
const MIX2 = 0xc2b2ae35;
const TWO_POW_M24 = 2 ** -24;
/** Number of distinct patch-ratio values: a 14x14 patch mean takes n/196 for n = 0..196. */
const RATIO_LEVELS = 197;
const RATIO_DENOM = 196;

/**
 * FNV-1a 32-bit hash of the UTF-8 bytes of `name`.
 * @example
 * fnv1a32('a'); // 3826002220
 */
export function fnv1a32(name: string): number {
  let h = FNV_OFFSET;
  for (const b of new TextEncoder().encode(name)) {
    h = Math.imul(h ^ b, FNV_PRIME) >>> 0;
  }
  return h >>> 0;
}

/**
 * The i-th uniform value in [0, 1) (24-bit resolution) of the stream seeded by hash `h`.
 * @example
 * const u = detUniform(fnv1a32('w'), 0); // 0 <= u < 1
 */
export function detUniform(h: number, i: number): number {
  let x = (h + Math.imul(i, GOLDEN)) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, MIX1) >>> 0;
  x = (x ^ (x >>> 13)) >>> 0;
  x = Math.imul(x, MIX2) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  return (x >>> 8) * TWO_POW_M24;
}

function elementCount(name: string, shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(`detweights(${name}): invalid shape [${shape.join(',')}]`);
    }
    n *= d;
  }
  return n;
}

/**
 * Regenerates a fixture tensor: float32 values identical to the Python generator.
 * @example
 * const w = detGenerate({ name: 'blocks.0.attn.qkv.weight', shape: [3072, 1024], scale: 1 / 32, offset: 0 });
 */
export function detGenerate(spec: DetSpec): Float32Array {
  const count = elementCount(spec.name, spec.shape);
  const out = new Float32Array(count);
  const h = fnv1a32(spec.name);
  const kind = spec.kind ?? 'uniform';
  if (kind === 'uniform') {
    for (let i = 0; i < count; i++) {
      out[i] = spec.offset + (2 * detUniform(h, i) - 1) * spec.scale;
    }
  } else if (kind === 'ratio196') {
    for (let i = 0; i < count; i++) {
      out[i] = Math.floor(detUniform(h, i) * RATIO_LEVELS) / RATIO_DENOM;
    }
  } else {
    throw new Error(`detweights(${spec.name}): unknown kind ${String(kind)}`);
  }
  return out;
}
