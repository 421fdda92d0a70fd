// The step transaction of one model: its serial queue, its step ledger and its model step counter, in one
// object. Every decision about whether a step runs (replay of a recorded id, stale id, expected model step,
// readiness, a caller that left) is made here, once, both before any gradient byte is staged (admit) and again
// inside the queue just before the engine runs (apply), because other steps may have been applied in between.
// The wire (server/services/step.ts, or several connections carrying one step) only stages gradients and sends
// replies; it never touches the counter or the ledger.

import type { NonFinitePolicy, Param, StepItem, StepOutcome } from '../../native/lib';
import type { StepResult } from '../../proto';
import { fail } from '../errors';
import { quote } from './bounded';
import { SerialQueue } from './serial-queue';
import { StepLedger } from './step-ledger';
import type { LedgerData } from './step-ledger';

/** What identifies a step and what it assumes about the model. */
export interface StepTicket {
  worker: string;
  /** uint64; 0n disables idempotency. */
  stepId: bigint;
  /** When set, the step runs only while the model step counter equals it (resynchronising clients). */
  expectedModelStep?: number;
}

/** The answer before staging: a recorded step to replay, or a new one that may stage its gradients. */
export type Admission = { kind: 'new' } | { kind: 'replay'; result: StepResult };

/** One staged step, handed to apply(). */
export interface StepJob {
  ticket: StepTicket;
  policy: NonFinitePolicy;
  /** Names of the stepped parameters, in the order of items(). */
  names: string[];
  /** The engine's items; throws INVALID_ARGUMENT when a gradient is incomplete. */
  items(): StepItem<Param>[];
  /** The staged gradients are no longer needed (replayed, or the engine has run). Idempotent. */
  release(): void;
  /** Inside the queue, once the result is known: sends it and reads whatever must be read before the next job. */
  deliver(result: StepResult, replayed: boolean): Promise<void>;
  /** Whether the caller has gone: a step whose caller left while it waited is not applied. */
  cancelled(): boolean;
}

/** The engine call a step makes (the Engine, or a test double). */
export type StepEngine = (items: StepItem<Param>[], policy: NonFinitePolicy) => Promise<StepOutcome>;

export interface StepDone {
  result: StepResult;
  replayed: boolean;
  /** Set when the engine ran (not for replays). */
  outcome?: StepOutcome;
  engineMs?: number;
}

/** What the runner needs to know about its model. */
export interface StepModel {
  readonly name: string;
  readonly ready: boolean;
  pendingParams(): string[];
  assertAlive(): void;
}

type Decision = { kind: 'new' } | { kind: 'replay'; result: StepResult };

export class StepRunner {
  private readonly queue = new SerialQueue();
  private readonly ledger: StepLedger;
  /** Step commits applied (skipped steps do not count). */
  private counter = 0;
  /** Told inside the queue job each time a step was counted (checkpoint scheduling, server/checkpoint/). */
  onCounted: (() => void) | null = null;

  constructor(
    private readonly model: StepModel,
    idempotencyWindow: number,
  ) {
    this.ledger = new StepLedger(idempotencyWindow);
  }

  get modelStep(): number {
    return this.counter;
  }

  /** Jobs waiting or running in the model's queue. */
  get queueDepth(): number {
    return this.queue.depth;
  }

  /** Runs `job` alone on the model (between two steps); dropped unstarted when `signal` aborts. */
  exclusive<T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.queue.run(job, signal);
  }

  /**
   * The one decision: a recorded id replays (whatever the model step is now: the step did happen); a stale id,
   * a model step other than the expected one, or a model that is not ready fail FAILED_PRECONDITION.
   */
  private decide(t: StepTicket): Decision {
    const seen = this.ledger.lookup(t.worker, t.stepId);
    if (seen.kind === 'recorded') return { kind: 'replay', result: seen.result };
    if (seen.kind === 'stale') {
      throw fail.precondition(
        `step id ${t.stepId} of worker ${quote(t.worker)} is stale (ids up to ` +
          `${seen.watermark} left the idempotency window)`,
      );
    }
    if (t.expectedModelStep !== undefined && t.expectedModelStep !== this.counter) {
      throw fail.precondition(
        `model ${this.model.name} is at model step ${this.counter}, not the expected ` +
          `${t.expectedModelStep}; nothing was applied (model_step=${this.counter})`,
      );
    }
    if (!this.model.ready) {
      const pending = this.model.pendingParams();
      throw fail.precondition(
        `model ${this.model.name} is not ready: values missing for ` +
          `${pending.slice(0, 5).map(quote).join(', ')}${pending.length > 5 ? `, ... (${pending.length} in all)` : ''}`,
      );
    }
    return { kind: 'new' };
  }

  /** Before staging: whether the step is a replay, or may stage its gradients (else FAILED_PRECONDITION). */
  admit(t: StepTicket): Admission {
    return this.decide(t);
  }

  /** Replays a recorded result inside the queue (so weights read back are those after the recorded step). */
  replay(result: StepResult, deliver: StepJob['deliver'], signal?: AbortSignal): Promise<StepDone> {
    return this.queue.run(async () => {
      this.model.assertAlive();
      const r = { ...result, replayed: true };
      await deliver(r, true);
      return { result: r, replayed: true };
    }, signal);
  }

  /**
   * Applies a staged step inside the queue: decides again (a retry of the same id may have been applied while
   * this one was staging), runs the engine, counts, records, then delivers. A step either runs whole and is
   * recorded, or changes nothing.
   */
  apply(job: StepJob, engine: StepEngine, signal?: AbortSignal): Promise<StepDone> {
    return this.queue.run(async () => {
      this.model.assertAlive();
      if (job.cancelled()) throw fail.cancelled();
      const d = this.decide(job.ticket);
      if (d.kind === 'replay') {
        job.release();
        const r = { ...d.result, replayed: true };
        await job.deliver(r, true);
        return { result: r, replayed: true };
      }
      const t0 = performance.now();
      let outcome: StepOutcome;
      try {
        // No local keeps the items: release() may drop a gradient of GiBs, which must then be collectable.
        outcome = await engine(job.items(), job.policy);
      } finally {
        job.release();
      }
      const engineMs = Math.round((performance.now() - t0) * 10) / 10;
      if (!outcome.skipped) {
        this.counter++;
        this.onCounted?.();
      }
      const result: StepResult = {
        model: this.model.name,
        modelStep: this.counter,
        skipped: outcome.skipped,
        replayed: false,
        nonFinite: outcome.nonFinite.map((i) => job.names[i]),
        params: outcome.results.map((r, i) => ({
          name: job.names[i],
          step: r.step,
          gnormScale: r.gnormScale,
          updateScale: r.updateScale,
        })),
      };
      this.ledger.record(job.ticket.worker, job.ticket.stepId, result);
      await job.deliver(result, false);
      return { result, replayed: false, outcome, engineMs };
    }, signal);
  }

  /**
   * A Restore replaced the optimizer's history: the recorded outcomes no longer describe the state. `modelStep`
   * is the restored counter (undefined: keep the counter, e.g. weights alone were restored). Call in the queue.
   */
  resetHistory(modelStep?: number): void {
    if (modelStep !== undefined) this.counter = modelStep;
    this.ledger.clear();
  }

  /** The counter and the ledger as plain data (kept with the model across a restart). */
  history(): { modelStep: number; ledger: LedgerData } {
    return { modelStep: this.counter, ledger: this.ledger.toData() };
  }

  /** Takes back what history() gave (a model loaded at start, before it serves). */
  loadHistory(h: { modelStep: number; ledger: LedgerData }): void {
    this.counter = h.modelStep;
    this.ledger.load(h.ledger);
  }

  /** Forgets the ledger (model deleted). */
  clear(): void {
    this.ledger.clear();
  }
}
