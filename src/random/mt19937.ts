/**
 * The 32-bit Mersenne Twister (MT19937) exactly as PyTorch's CPU generator runs it
 * (ATen `at::mt19937`, which is the standard `std::mt19937` algorithm): seeded from the low 32 bits of a 64-bit
 * seed with the Knuth multiplier 1812433253, 624-word state, tempered 32-bit outputs.
 *
 * Notes: state kept in a Uint32Array, products through `Math.imul` (exact low 32 bits); the twist regenerates all
 * 624 words at once, as the reference does, so the draw order is the reference's.
 */

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;
const INIT_MULTIPLIER = 1812433253;

/** Default seed of `std::mt19937` (and of an unseeded `at::mt19937`). */
export const MT19937_DEFAULT_SEED = 5489;

/**
 * Reduces a seed to the 32 bits MT19937 uses: PyTorch keeps the seed as uint64 and seeds the engine with
 * `seed & 0xffffffff`; negative numbers are taken modulo 2^64 first (two's complement), as a uint64 cast does.
 */
export function seedLow32(seed: number | bigint): number {
  let s: bigint;
  if (typeof seed === 'bigint') s = seed;
  else {
    if (!Number.isInteger(seed)) throw new RangeError(`mt19937: seed must be an integer, got ${seed}`);
    s = BigInt(seed);
  }
  return Number(BigInt.asUintN(64, s) & 0xffffffffn);
}

/**
 * MT19937 engine with PyTorch's seeding.
 * @example
 * const mt = new MT19937(5489);
 * mt.nextUint32(); // 3499211612, the first output of std::mt19937 with its default seed
 */
export class MT19937 {
  private readonly state = new Uint32Array(N);
  private index = N;

  constructor(seed: number | bigint = MT19937_DEFAULT_SEED) {
    const st = this.state;
    st[0] = seedLow32(seed);
    for (let j = 1; j < N; j++) {
      const prev = st[j - 1];
      st[j] = (Math.imul(INIT_MULTIPLIER, (prev ^ (prev >>> 30)) >>> 0) + j) >>> 0;
    }
    this.index = N;
  }

  /** Regenerates the 624-word block (the "twist"). */
  private twist(): void {
    const st = this.state;
    for (let k = 0; k < N; k++) {
      const y = (st[k] & UPPER_MASK) | (st[(k + 1) % N] & LOWER_MASK);
      st[k] = (st[(k + M) % N] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0)) >>> 0;
    }
    this.index = 0;
  }

  /** Next tempered 32-bit output, as an unsigned integer in [0, 2^32). */
  nextUint32(): number {
    if (this.index >= N) this.twist();
    let y = this.state[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }
}
