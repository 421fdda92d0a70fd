// What restored optimizer state must satisfy beyond its shape (issue 10, "Poisoned state is accepted"): every
// fp32 value finite; second moments (an average of squared gradients) never negative; 8-bit scales (absmax per
// block, max per tensor) finite and never negative. A NaN or negative second moment makes the next step write NaN
// weights without being skipped (the non-finite guard looks at gradients, not state). A zero scale is legal: it is
// what the engine itself holds for a block whose state is all zero (a fresh parameter). 8-bit codes are bytes, and
// every byte is a valid code. Checking yields to the event loop every few MiB (a 1B-parameter state is GBs).

import type { OptimizerName, StateMode } from '../../native/lib';
import { fail } from '../errors';
import { quote } from './bounded';

/**
 * The fp32 state tensor holding a second moment, per optimizer (docs/engine.md; the layout follows bnb's state
 * dict: Adam-like v is state2, RMSprop's and Adagrad's square average is their only state, state1). 8-bit modes
 * store these with the unsigned map, so their codes cannot be negative.
 */
const SECOND_MOMENT: Partial<Record<OptimizerName, string>> = {
  adam: 'state2',
  adamw: 'state2',
  lamb: 'state2',
  ademamix: 'state2',
  rmsprop: 'state1',
  adagrad: 'state1',
};

/** Keys of per-block / per-tensor scales in 8-bit modes. */
const SCALE_KEY = /^(absmax|max)\d+$/;

const YIELD_BYTES = 8 * 1024 * 1024;

export interface StateTensorValues {
  /** For messages: the tensor's name in the snapshot. */
  name: string;
  /** The state key (state1, absmax1, ...). */
  key: string;
  /** Element type: only f32 tensors are checked. */
  f32: boolean;
  pieces: Buffer[];
}

function floats(piece: Buffer): Float32Array {
  if (piece.byteOffset % 4 === 0) return new Float32Array(piece.buffer, piece.byteOffset, piece.length >> 2);
  const copy = new Float32Array(piece.length >> 2);
  Buffer.from(copy.buffer).set(piece.subarray(0, copy.length * 4));
  return copy;
}

/** INVALID_ARGUMENT naming the first bad value, else resolves. Changes nothing. */
export async function checkStateValues(
  optimizer: OptimizerName,
  mode: StateMode,
  tensors: StateTensorValues[],
): Promise<void> {
  const slice = YIELD_BYTES / 4;
  for (const t of tensors) {
    if (!t.f32) continue;
    const isScale = SCALE_KEY.test(t.key);
    const nonNegative = isScale || (mode === 'fp32' && SECOND_MOMENT[optimizer] === t.key);
    const what = isScale ? 'scale' : nonNegative ? 'second moment' : 'value';
    let index = 0;
    for (const piece of t.pieces) {
      if (piece.length % 4 !== 0)
        throw fail.invalid(`state tensor ${quote(t.name)} is not a whole number of F32 values`);
      const a = floats(piece);
      for (let from = 0; from < a.length; from += slice) {
        const to = Math.min(a.length, from + slice);
        for (let i = from; i < to; i++) {
          const v = a[i];
          // v - v is NaN for NaN and +-Inf, 0 otherwise: one test for "finite".
          if (v - v !== 0 || (nonNegative && v < 0)) {
            throw fail.invalid(
              `state tensor ${quote(t.name)} holds ${v} at element ${index + i}: a ${what} must be ` +
                `${nonNegative ? 'finite and not negative' : 'finite'}; nothing was restored`,
            );
          }
        }
        if (to < a.length) await new Promise((r) => setImmediate(r));
      }
      index += a.length;
    }
  }
}
