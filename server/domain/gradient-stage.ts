// Step assembly: gradient chunks of one Step stream staged per announced parameter in a buffer of exactly
// numel x width bytes, in any order, without overlaps. Nothing reaches the engine until finish() has checked that
// every announced gradient is complete, which is what makes a failed or cancelled stream change nothing. Chunks are
// copied into pooled GradientBuffers, which check them for NaN/Inf on the way (the step then skips that pass); a
// gradient that arrives whole in one message is handed over as the message's own bytes, checked by the step.

import { isLent } from './lent-memory';
import type { DType, GradientBuffer, Hyperparameters, Param, StepItem } from '../../native/lib';
import { DTYPE_WIDTH } from '../../proto/convert';
import { fail } from '../errors';
import type { BufferPool } from './buffer-pool';
import type { ParamEntry } from './model';
import { RangeSet } from './range-set';
import type { CheckedChunk } from './tensor-chunks';

export interface PlannedGradient {
  entry: ParamEntry;
  dtype: DType;
  /** Per-step hyperparameter changes for this parameter (validated when the plan was made). */
  hyper: Partial<Hyperparameters>;
}

interface Slot {
  plan: PlannedGradient;
  bytes: number;
  /** The whole gradient as one received message's bytes, or the pooled buffer the chunks are copied into. */
  buffer: Buffer | GradientBuffer | null;
  arrived: RangeSet;
}

export class GradientStage {
  private readonly slots = new Map<ParamEntry, Slot>();
  private readonly order: Slot[] = [];
  private chunkCount = 0;

  constructor(
    plan: PlannedGradient[],
    private readonly pool: BufferPool,
  ) {
    for (const p of plan) {
      const slot: Slot = {
        plan: p,
        bytes: p.entry.numel * DTYPE_WIDTH[p.dtype],
        buffer: null,
        arrived: new RangeSet(),
      };
      this.slots.set(p.entry, slot);
      this.order.push(slot);
    }
  }

  /** Staging bytes the plan needs. */
  static bytesOf(plan: PlannedGradient[]): number {
    return plan.reduce((n, p) => n + p.entry.numel * DTYPE_WIDTH[p.dtype], 0);
  }

  get chunks(): number {
    return this.chunkCount;
  }

  /** Dtype a chunk for `entry` must have; NOT announced -> INVALID_ARGUMENT. */
  dtypeFor(entry: ParamEntry): DType {
    const slot = this.slots.get(entry);
    if (!slot) throw fail.invalid(`gradient for ${entry.name}, which the header did not announce`);
    return slot.plan.dtype;
  }

  add(chunk: CheckedChunk): void {
    const slot = this.slots.get(chunk.entry);
    if (!slot) throw fail.invalid(`gradient for ${chunk.entry.name}, which the header did not announce`);
    const end = chunk.offset + chunk.count;
    if (!slot.arrived.insertDisjoint(chunk.offset, end)) {
      throw fail.invalid(
        `gradient chunk [${chunk.offset}, ${end}) of ${chunk.entry.name} overlaps one already received`,
      );
    }
    this.chunkCount++;
    if (slot.buffer === null && chunk.data.length === slot.bytes && !isLent(chunk.data)) {
      slot.buffer = chunk.data; // the whole gradient in one message: keep the view, no copy (unless it is lent)
      return;
    }
    if (slot.buffer === null) slot.buffer = this.pool.takeGradient(slot.plan.entry.numel, slot.plan.dtype);
    (slot.buffer as GradientBuffer).write(chunk.offset, chunk.data);
  }

  /** The engine's step items, once every announced gradient is complete (else INVALID_ARGUMENT). */
  finish(): StepItem<Param>[] {
    for (const slot of this.order) {
      const numel = slot.plan.entry.numel;
      if (!slot.arrived.isComplete(numel)) {
        throw fail.invalid(
          `gradient of ${slot.plan.entry.name} is incomplete at commit: ${slot.arrived.covered} of ${numel} elements ` +
            `arrived (first missing: ${slot.arrived.firstGap(numel)})`,
        );
      }
    }
    return this.order.map((slot) => ({
      param: slot.plan.entry.param,
      grad: slot.buffer as Buffer | GradientBuffer,
      gradDtype: slot.plan.dtype,
      hyper: slot.plan.hyper,
    }));
  }

  /** Drops every staged byte (idempotent). Only once no engine call reads the buffers any more. */
  discard(): void {
    for (const slot of this.order) {
      if (slot.buffer && !Buffer.isBuffer(slot.buffer)) this.pool.giveGradient(slot.buffer);
      slot.buffer = null;
    }
  }
}
