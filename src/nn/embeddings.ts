/**
 * Sinusoidal embeddings of TRELLIS/Amodal3R, computed on the CPU in float32 exactly as the official PyTorch code
 * orders its float32 operations (they are tiny: [B, 256] and [N, C]).
 */

const f = Math.fround;

/** Frequency-embedding width of the timestep embedder (`TimestepEmbedder.frequency_embedding_size`). */
export const TIMESTEP_FREQ_DIM = 256;
export const TIMESTEP_MAX_PERIOD = 10000;

/**
 * `TimestepEmbedder.timestep_embedding`: [cos(t f_k) | sin(t f_k)] with f_k = exp(-ln(10000) k / half), k < half.
 * `t1000` are model times (already multiplied by 1000). Returns [B, dim] row-major.
 */
export function timestepEmbedding(t1000: readonly number[], dim = TIMESTEP_FREQ_DIM): Float32Array {
  const half = Math.floor(dim / 2);
  const negLog = f(-Math.log(TIMESTEP_MAX_PERIOD));
  const freqs = new Float32Array(half);
  for (let k = 0; k < half; k++) freqs[k] = f(Math.exp(f(f(negLog * k) / half)));
  const out = new Float32Array(t1000.length * dim);
  t1000.forEach((t, b) => {
    const tf = f(t);
    for (let k = 0; k < half; k++) {
      const a = f(tf * freqs[k]);
      out[b * dim + k] = Math.cos(a);
      out[b * dim + half + k] = Math.sin(a);
    }
  });
  return out;
}

/**
 * `AbsolutePositionEmbedder(channels, 3)`: per axis [sin(c f) | cos(c f)] with f_k = 1 / 10000^(k / freqDim),
 * freqDim = channels / 3 / 2 (integer division), axes concatenated, zero padded to `channels`.
 * @param coords N x 3 integer coordinates, row-major.
 */
export function absolutePositionEmbedding(coords: ArrayLike<number>, channels: number): Float32Array {
  const n = coords.length / 3;
  const freqDim = Math.floor(Math.floor(channels / 3) / 2);
  const freqs = new Float32Array(freqDim);
  for (let k = 0; k < freqDim; k++) freqs[k] = f(1 / f(10000 ** f(k / freqDim)));
  const out = new Float32Array(n * channels);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < 3; a++) {
      const c = coords[i * 3 + a];
      const base = i * channels + a * 2 * freqDim;
      for (let k = 0; k < freqDim; k++) {
        const x = f(c * freqs[k]);
        out[base + k] = Math.sin(x);
        out[base + freqDim + k] = Math.cos(x);
      }
    }
  }
  return out;
}

/** Coordinates of a dense res^3 grid in `meshgrid(indexing='ij')` order: n -> (n / res^2, n / res % res, n % res). */
export function gridCoords(res: number): Int32Array {
  const out = new Int32Array(res * res * res * 3);
  for (let n = 0; n < res * res * res; n++) {
    out[n * 3] = Math.floor(n / (res * res));
    out[n * 3 + 1] = Math.floor(n / res) % res;
    out[n * 3 + 2] = n % res;
  }
  return out;
}
