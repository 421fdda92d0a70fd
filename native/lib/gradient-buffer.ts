// A gradient staged chunk by chunk, checked for NaN/Inf as each chunk is copied in. docs/math.md D4 wants every gradient
// of a step checked before anything changes; done inside the step, that check is a whole extra read of every
// gradient on the step's critical path. A receiver copies arriving chunks into one buffer anyway, so the check rides
// on that copy (native, at memcpy speed) and a step over a GradientBuffer skips its own pass.
//
// The bytes live in a private Buffer that only write() and reset() touch. Invariant: every element is finite unless
// `finite` is false (the buffer starts zeroed; write() records what it copied; reset() zeroes a buffer that saw a
// non-finite value). So a step may trust `finite`, whatever was or was not written.

import { DTYPE_BYTES, dtypeCode } from './dtypes';
import { EngineError, invalid, wrapSync } from './errors';
import { binding } from './loader';
import type { DType } from './types';

interface Inner {
  bytes: Buffer;
  finite: boolean;
  /** Steps in flight that read the bytes; write() and reset() refuse meanwhile. */
  holds: number;
}

const inner = new WeakMap<GradientBuffer, Inner>();

export class GradientBuffer {
  readonly byteLength: number;

  constructor(
    readonly numel: number,
    readonly dtype: DType,
  ) {
    if (!Number.isSafeInteger(numel) || numel < 1) throw invalid('numel', 'a positive integer', numel);
    dtypeCode(dtype);
    this.byteLength = numel * DTYPE_BYTES[dtype];
    // Own, zero-filled memory: never a slice of Node's shared pool, and finite before anything is written.
    inner.set(this, { bytes: Buffer.alloc(this.byteLength), finite: true, holds: 0 });
  }

  /** False once a NaN or Inf was written (until reset()). */
  get finite(): boolean {
    return own(this).finite;
  }

  /**
   * Copies `chunk` (little-endian elements of this buffer's dtype) to element `offset`, checking it on the way.
   * Returns whether the chunk was finite. A chunk out of range or not whole elements is refused and copies nothing.
   */
  write(offset: number, chunk: Buffer): boolean {
    const s = writable(this);
    if (!Buffer.isBuffer(chunk)) throw invalid('chunk', 'a Buffer', typeof chunk);
    const width = DTYPE_BYTES[this.dtype];
    if (chunk.length % width !== 0) throw invalid('chunk length', `a multiple of ${width} bytes`, chunk.length);
    const count = chunk.length / width;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + count > this.numel) {
      throw invalid('offset', `an element offset with offset + ${count} <= ${this.numel}`, offset);
    }
    const ok = wrapSync(() => binding.gradCopyChecked(s.bytes, offset * width, chunk, dtypeCode(this.dtype)));
    if (!ok) s.finite = false;
    return ok;
  }

  /** Ready for the next gradient. The old contents stay (finite) unless a non-finite value was written: then zeroed. */
  reset(): void {
    const s = writable(this);
    if (!s.finite) {
      s.bytes.fill(0);
      s.finite = true;
    }
  }

  /** A copy of the contents. */
  read(): Buffer {
    return Buffer.from(own(this).bytes);
  }
}

function own(g: GradientBuffer): Inner {
  const s = inner.get(g);
  if (!s) throw invalid('gradient', 'a GradientBuffer', g);
  return s;
}

function writable(g: GradientBuffer): Inner {
  const s = own(g);
  if (s.holds > 0) {
    throw new EngineError('INVALID_ARGUMENT', 'the gradient buffer is being read by a step; write it after the step');
  }
  return s;
}

/**
 * For Engine.step: the bytes and whether they are known finite, held against writes until `release` is called.
 * Not part of the public entry.
 */
export function holdForStep(g: GradientBuffer): { bytes: Buffer; finite: boolean; release: () => void } {
  const s = own(g);
  s.holds++;
  let released = false;
  return {
    bytes: s.bytes,
    finite: s.finite,
    release: () => {
      if (!released) s.holds--;
      released = true;
    },
  };
}
