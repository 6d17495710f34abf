/**
 * Binding windows and slab planning shared by the layout and conv ops.
 *
 * A window binds elements [start, start + count) of a GPU tensor. WebGPU wants binding offsets that are multiples
 * of `minStorageBufferOffsetAlignment`, so the window starts at the aligned byte offset at or below `start` and
 * the kernel adds `shift` (elements) to its indices. This keeps the planners free of alignment constraints (any
 * depth slab, row range or channel range can be bound) at the cost of at most `alignment` extra bytes per window,
 * which `windowBudget` reserves.
 */

import type { BufferBinding, GpuContext } from '../../runtime/gpu.ts';
import type { Tensor } from '../../runtime/tensor.ts';

export interface Window {
  binding: BufferBinding;
  /** Elements between the bound offset and `start`; kernels index `shift + local`. */
  shift: number;
}

/** Bytes of payload a window may carry so that payload + alignment slack + 4-byte rounding fits `maxBinding`. */
export function windowBudget(gpu: GpuContext): number {
  return gpu.maxBinding - gpu.offsetAlignment - 4;
}

/** A storage binding covering elements [start, start + count) of a GPU tensor, with the alignment shift. */
export function windowBinding(t: Tensor, start: number, count: number): Window {
  return bufferWindow(t.gpu!, t.buffer, t.dtype === 'f16' ? 2 : 4, start, count);
}

/** Like `windowBinding` for a raw buffer of `bytesPerElement`-byte elements (e.g. u32/i32 index buffers). */
export function bufferWindow(
  gpu: GpuContext,
  buffer: GPUBuffer,
  bytesPerElement: number,
  start: number,
  count: number,
): Window {
  const byteStart = start * bytesPerElement;
  const offset = Math.floor(byteStart / gpu.offsetAlignment) * gpu.offsetAlignment;
  const shift = (byteStart - offset) / bytesPerElement;
  const size = Math.min(
    Math.max(4, Math.ceil(((shift + count) * bytesPerElement) / 4) * 4),
    buffer.size - offset,
  );
  return { binding: { buffer, offset, size }, shift };
}

/** A depth slab of a [B, D, ...] volume: batches [b0, b0 + nb) and output planes [z0, z0 + nz) of each. */
export interface Slab {
  b0: number;
  nb: number;
  /** First output plane (global depth index). When nb > 1 the slab spans whole volumes (z0 = 0). */
  z0: number;
  nz: number;
  /** First input plane bound (global depth index). */
  zin0: number;
  /** Input planes bound per batch item (the input window's depth). */
  nzin: number;
}

export interface SlabPlanInput {
  op: string;
  batch: number;
  outDepth: number;
  inDepth: number;
  /** Bytes of one output plane (H_out * W_out * C_out * bytes). */
  outPlaneBytes: number;
  /** Bytes of one input plane. */
  inPlaneBytes: number;
  /** Input planes [lo, hi) that output planes [z0, z1) read (already clipped to the volume). */
  inRange: (z0: number, z1: number) => readonly [number, number];
  /** Payload bytes allowed per binding (see `windowBudget`). */
  budget: number;
  /** Human-readable shapes for the error message. */
  shapes: string;
}

/**
 * Splits a [B, D, ...] -> [B, D', ...] volume op into slabs whose input and output windows fit the budget:
 * whole volumes grouped by batch when one volume fits, else depth slabs of one batch item (input slab includes
 * whatever halo `inRange` asks for). Throws naming the op when even one output plane does not fit.
 */
export function planSlabs(s: SlabPlanInput): Slab[] {
  const volIn = s.inDepth * s.inPlaneBytes;
  const volOut = s.outDepth * s.outPlaneBytes;
  const out: Slab[] = [];
  const perVol = Math.max(volIn, volOut, 1);
  if (perVol <= s.budget) {
    const nbPer = Math.max(1, Math.floor(s.budget / perVol));
    for (let b0 = 0; b0 < s.batch; b0 += nbPer) {
      out.push({
        b0,
        nb: Math.min(nbPer, s.batch - b0),
        z0: 0,
        nz: s.outDepth,
        zin0: 0,
        nzin: s.inDepth,
      });
    }
    return out;
  }
  const fits = (z0: number, z1: number): boolean => {
    const [lo, hi] = s.inRange(z0, z1);
    return (z1 - z0) * s.outPlaneBytes <= s.budget && (hi - lo) * s.inPlaneBytes <= s.budget;
  };
  const slabs: { z0: number; nz: number; zin0: number; nzin: number }[] = [];
  for (let z0 = 0; z0 < s.outDepth; ) {
    let nz = 0;
    while (z0 + nz < s.outDepth && fits(z0, z0 + nz + 1)) nz++;
    if (nz === 0) {
      throw new Error(
        `${s.op}: one depth plane of ${s.shapes} needs more than the ${s.budget}-byte storage binding budget; ` +
          'split the channels or raise maxBinding',
      );
    }
    const [lo, hi] = s.inRange(z0, z0 + nz);
    slabs.push({ z0, nz, zin0: lo, nzin: hi - lo });
    z0 += nz;
  }
  for (let b = 0; b < s.batch; b++) for (const sl of slabs) out.push({ b0: b, nb: 1, ...sl });
  return out;
}

/** Packs u32 fields and f32 fields (given as [index, value]) into one uniform-sized word array. */
export function packParams(
  u32: readonly number[],
  f32: readonly (readonly [number, number])[] = [],
): Uint32Array {
  const len = Math.max(u32.length, ...f32.map(([i]) => i + 1));
  const words = new Uint32Array(Math.max(4, Math.ceil(len / 4) * 4));
  words.set(u32);
  const f = new Float32Array(words.buffer);
  for (const [i, v] of f32) f[i] = v;
  return words;
}
