// Lanes: one step carried over several streams (docs/service.md, Transport). The lanes of one (model, worker,
// step id) share one GradientStage; the step applies once, when every lane has committed, and a lane that fails or
// is cancelled before the update starts discards the whole step. That keeps the step one atomic, idempotent
// transaction however many connections carry it: the ledger records it once, and a lane retried after it was
// applied is answered from the ledger like any repeated step.

import { fail } from '../errors';
import { GradientStage } from './gradient-stage';
import type { PlannedGradient } from './gradient-stage';
import type { BufferPool } from './buffer-pool';
import type { ParamEntry } from './model';
import { RangeSet } from './range-set';

/** The contract's bound on lanes per step (step.proto, StepLane.count). */
export const MAX_LANES = 64;

/** A lane's share of one parameter: elements [offset, offset + count). */
export interface LanePart {
  entry: ParamEntry;
  offset: number;
  count: number;
}

/**
 * Validates a lane's slices against the step's parameters (INVALID_ARGUMENT): announced parameter, inside it,
 * no overlap within the lane. Coverage across lanes is checked when the shared stage finishes.
 */
export function laneParts(
  gradients: PlannedGradient[],
  slices: { param: string; offset: number; count: number }[],
): LanePart[] {
  const byName = new Map(gradients.map((g) => [g.entry.name, g.entry]));
  const seen = new Map<ParamEntry, RangeSet>();
  const parts: LanePart[] = [];
  if (slices.length === 0) throw fail.invalid('lane carries no slices');
  for (const [i, s] of slices.entries()) {
    const entry = byName.get(s.param);
    if (!entry)
      throw fail.invalid(`lane.slices[${i}]: ${JSON.stringify(s.param.slice(0, 200))} is not a parameter of this step`);
    const { offset, count } = s;
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(count) ||
      count <= 0 ||
      offset < 0 ||
      offset + count > entry.numel
    ) {
      throw fail.invalid(
        `lane.slices[${i}] covers [${offset}, ${offset + count}) of ${entry.name}, outside [0, ${entry.numel})`,
      );
    }
    const ranges = seen.get(entry) ?? new RangeSet();
    seen.set(entry, ranges);
    if (!ranges.insertDisjoint(offset, offset + count))
      throw fail.invalid(`lane.slices[${i}] overlaps another slice of ${entry.name}`);
    parts.push({ entry, offset, count });
  }
  return parts;
}

/** True when elements [offset, offset + count) of `entry` lie inside one of the parts. */
export function partsCover(parts: LanePart[], entry: ParamEntry, offset: number, count: number): boolean {
  return parts.some((p) => p.entry === entry && offset >= p.offset && offset + count <= p.offset + p.count);
}

type State = 'open' | 'applying' | 'applied' | 'aborted';

/** The lanes of one step. S is what each lane hands in to be answered through (its reply sender). */
export class LaneJoin<S> {
  private readonly joined = new Map<number, S>();
  private readonly committed = new Set<number>();
  private state: State = 'open';
  private failure: Error | null = null;
  private readonly waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private readonly endWaiters = new Set<() => void>();

  constructor(
    readonly count: number,
    /** The header every lane must repeat (apart from its lane field). */
    private readonly fingerprint: string,
    readonly stage: GradientStage,
    private readonly onEnd: () => void,
  ) {}

  /**
   * Adds lane `index`. INVALID_ARGUMENT for a header unlike the first lane's or a lane already in flight (the caller
   * waits for settled() before joining a lane that has(index)).
   */
  join(index: number, count: number, fingerprint: string, sender: S): void {
    if (this.state !== 'open') throw this.failure ?? fail.aborted('the other lanes of this step were already applied');
    if (count !== this.count) throw fail.invalid(`lane.count ${count} differs from the first lane's ${this.count}`);
    if (fingerprint !== this.fingerprint)
      throw fail.invalid("the lane header differs from the first lane's header of this step");
    if (this.joined.has(index)) throw fail.invalid(`lane ${index} of this step is already in flight`);
    this.joined.set(index, sender);
  }

  has(index: number): boolean {
    return this.joined.has(index);
  }

  /** Resolves once the step was applied or discarded (CANCELLED when `signal` fires first). */
  settled(signal: AbortSignal): Promise<void> {
    if (this.state === 'applied' || this.state === 'aborted') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.endWaiters.delete(done);
        reject(fail.cancelled());
      };
      const done = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      this.endWaiters.add(done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private ended(): void {
    this.onEnd();
    for (const w of [...this.endWaiters]) w();
    this.endWaiters.clear();
  }

  /** The senders of every lane, by lane index (complete once every lane has committed). */
  get senders(): S[] {
    return [...this.joined.entries()].sort((a, b) => a[0] - b[0]).map(([, s]) => s);
  }

  /** Lane `index` committed; true for the last lane, which then applies the step for all. */
  commit(index: number): boolean {
    if (this.state !== 'open') throw this.failure ?? fail.aborted('this step is no longer open');
    this.committed.add(index);
    return this.committed.size === this.count;
  }

  /** Resolves once the step was applied; rejects if it was discarded or did not apply, or after waitMs (if > 0). */
  waitApplied(signal: AbortSignal, waitMs: number): Promise<void> {
    if (this.state === 'applied') return Promise.resolve();
    if (this.state === 'aborted') return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | null = null;
      const onAbort = () => this.abort(fail.cancelled());
      const done = () => {
        if (timer) clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      };
      this.waiters.push({
        resolve: () => {
          done();
          resolve();
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      signal.addEventListener('abort', onAbort, { once: true });
      if (waitMs > 0) {
        timer = setTimeout(
          () =>
            this.abort(
              fail.deadline(
                `the other lanes of this step did not commit within ${waitMs} ms; ` + 'nothing was applied',
              ),
            ),
          waitMs,
        );
      }
    });
  }

  /**
   * Discards the step unless its update has started: the staged gradients are dropped and every waiting lane fails
   * with `err`. Returns whether it was discarded now.
   */
  abort(err: Error): boolean {
    if (this.state !== 'open') return false;
    this.state = 'aborted';
    this.failure = err;
    this.stage.discard();
    this.ended();
    for (const w of this.waiters.splice(0))
      w.reject(fail.aborted(`another lane of this step failed (${err.message}); nothing was applied`));
    return true;
  }

  /** Called by the applying lane inside the model's queue, just before the update: refuses a discarded step. */
  beginApply(): void {
    if (this.state !== 'open') throw this.failure ?? fail.aborted('this step is no longer open');
    this.state = 'applying';
  }

  /** The update is over: waiting lanes go on to send their weights (err undefined) or fail with err. */
  finishApply(err?: Error): void {
    if (this.state === 'applied' || this.state === 'aborted') return;
    if (this.state === 'open' && err) {
      this.abort(err);
      return;
    }
    this.state = err ? 'aborted' : 'applied';
    this.failure = err ?? null;
    this.ended();
    for (const w of this.waiters.splice(0)) {
      if (err) w.reject(err);
      else w.resolve();
    }
  }
}

/** Open lane joins by (model, worker, step id). */
export class LaneJoins<S> {
  private readonly open = new Map<string, LaneJoin<S>>();

  private static key(model: string, worker: string, stepId: string): string {
    return `${model.length}:${model}:${worker.length}:${worker}:${stepId}`;
  }

  /** The open join of this step, if any. */
  peek(model: string, worker: string, stepId: string): LaneJoin<S> | undefined {
    return this.open.get(LaneJoins.key(model, worker, stepId));
  }

  /** The join for this step, created on the first lane. */
  get(
    model: string,
    worker: string,
    stepId: string,
    count: number,
    fingerprint: string,
    gradients: PlannedGradient[],
    pool: BufferPool,
  ): LaneJoin<S> {
    const key = LaneJoins.key(model, worker, stepId);
    let join = this.open.get(key);
    if (!join) {
      const created: LaneJoin<S> = new LaneJoin<S>(count, fingerprint, new GradientStage(gradients, pool), () => {
        if (this.open.get(key) === created) this.open.delete(key);
      });
      join = created;
      this.open.set(key, join);
    }
    return join;
  }

  get size(): number {
    return this.open.size;
  }
}
