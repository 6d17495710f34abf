/**
 * The seeded pseudo-random generator of the synthetic-data tools: xoshiro128** (Blackman & Vigna, 32-bit state
 * words) seeded through SplitMix32 from `(seed, stream)`. Streams make per-sample draws independent of how many
 * samples are asked for: sample k of seed s always uses stream k.
 *
 * Notes
 * - NumPy-compatible streams (MT19937 + `randint`'s masked rejection) are not a goal: the official occlusion
 *   generators only need "some uniform randomness", and a 128-bit-state generator is small, fast and portable
 *   (browser + Node, no BigInt).
 * - `randint(lo, hi)` follows NumPy's half-open convention `[lo, hi)` and uses Lemire-style rejection so every
 *   value is exactly equally likely.
 */

/** Thrown for invalid generator arguments. */
export class RngError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RngError';
  }
}

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * A deterministic generator (xoshiro128**).
 * @example
 * const rng = new Rng(42, 3);
 * const k = rng.randint(3, 7); // 3..6, like numpy.random.randint(3, 7)
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** `seed` and `stream` are 32-bit unsigned integers (other integers are reduced modulo 2^32). */
  constructor(seed: number, stream = 0) {
    if (!Number.isSafeInteger(seed) || !Number.isSafeInteger(stream)) {
      throw new RngError(`Rng: seed and stream must be integers, got seed=${seed} stream=${stream}`);
    }
    const st = { s: (seed >>> 0) ^ Math.imul(stream >>> 0, 0x632be5ab) };
    // Mix the stream in twice so (seed, stream) pairs that collide after the xor still diverge.
    st.s = (st.s + Math.imul((stream >>> 0) + 1, 0x5bd1e995)) | 0;
    this.s0 = splitmix32(st);
    this.s1 = splitmix32(st);
    this.s2 = splitmix32(st);
    this.s3 = splitmix32(st);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /** The next 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  random(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A uniform double in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.random();
  }

  /**
   * A uniform integer in [lo, hi) (NumPy's `randint` convention). Throws when the range is empty.
   * @example
   * new Rng(1).randint(0, 6); // a die roll minus one
   */
  randint(lo: number, hi: number): number {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || hi <= lo) {
      throw new RngError(`Rng.randint: empty or invalid range [${lo}, ${hi})`);
    }
    const n = hi - lo;
    if (n > 0x100000000) throw new RngError(`Rng.randint: range ${n} exceeds 2^32`);
    if (n === 0x100000000) return lo + this.nextU32();
    // Rejection: accept u < floor(2^32 / n) * n so every residue is equally likely.
    const limit = 0x100000000 - (0x100000000 % n);
    for (;;) {
      const u = this.nextU32();
      if (u < limit) return lo + (u % n);
    }
  }
}
