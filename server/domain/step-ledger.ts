// Idempotency for Step: the recorded outcome of each (worker_id, step_id) in a bounded window per model, oldest
// evicted first. Transport retries cannot replay a gradient stream (service notes), so workers retry whole steps
// and the ledger makes a retry of an applied step return the recorded result instead of applying it twice.
// For each worker the highest evicted step id is kept: an id at or below it may have been applied, so it is
// refused as stale rather than risked. Step ids are uint64 on the wire, so they are bigints here (ids from 2^53
// up do not fit a JavaScript number).

import type { StepResult } from '../../proto';

export type LedgerLookup =
  { kind: 'new' } | { kind: 'recorded'; result: StepResult } | { kind: 'stale'; watermark: bigint };

/**
 * A ledger as plain JSON-able data: its records oldest first, and the per-worker watermarks. Step ids are decimal
 * strings (numbers are accepted on load, as files written before ids were bigints hold them).
 */
export interface LedgerData {
  records: { worker: string; stepId: string | number; result: StepResult }[];
  watermarks: [string, string | number][];
}

interface LedgerRecord {
  worker: string;
  stepId: bigint;
  result: StepResult;
}

export class StepLedger {
  private readonly records = new Map<string, LedgerRecord>();
  private readonly watermarks = new Map<string, bigint>();

  constructor(
    readonly capacity: number,
    private readonly maxWorkers = Math.max(1024, capacity * 4),
  ) {}

  get size(): number {
    return this.records.size;
  }

  private static key(worker: string, stepId: bigint): string {
    return `${worker.length}:${worker}:${stepId}`;
  }

  lookup(worker: string, stepId: bigint): LedgerLookup {
    if (stepId === 0n) return { kind: 'new' };
    const rec = this.records.get(StepLedger.key(worker, stepId));
    if (rec) return { kind: 'recorded', result: rec.result };
    const mark = this.watermarks.get(worker);
    if (mark !== undefined && stepId <= mark) return { kind: 'stale', watermark: mark };
    return { kind: 'new' };
  }

  record(worker: string, stepId: bigint, result: StepResult): void {
    if (stepId === 0n || this.capacity === 0) return;
    this.records.set(StepLedger.key(worker, stepId), { worker, stepId, result });
    while (this.records.size > this.capacity) {
      const [oldestKey, oldest] = this.records.entries().next().value as [string, LedgerRecord];
      this.records.delete(oldestKey);
      const mark = this.watermarks.get(oldest.worker) ?? 0n;
      this.watermarks.delete(oldest.worker); // re-insert: most recently touched workers stay
      this.watermarks.set(oldest.worker, mark > oldest.stepId ? mark : oldest.stepId);
      if (this.watermarks.size > this.maxWorkers) {
        this.watermarks.delete(this.watermarks.keys().next().value as string);
      }
    }
  }

  /** The ledger as plain data (kept with the model across a restart, so retries stay exactly-once). */
  toData(): LedgerData {
    return {
      records: [...this.records.values()].map((r) => ({
        worker: r.worker,
        stepId: r.stepId.toString(),
        result: r.result,
      })),
      watermarks: [...this.watermarks].map(([w, m]) => [w, m.toString()]),
    };
  }

  /** Replaces the contents with `data` (from toData), keeping at most `capacity` newest records. */
  load(data: LedgerData): void {
    this.clear();
    for (const [worker, mark] of data.watermarks) this.watermarks.set(worker, BigInt(mark));
    for (const r of data.records) this.record(r.worker, BigInt(r.stepId), r.result);
  }

  /** Forgets everything (after a Restore replaced the model's history). */
  clear(): void {
    this.records.clear();
    this.watermarks.clear();
  }
}
