// A model: named, ordered parameters on the engine, one optimizer configuration with per-parameter overrides,
// and the bookkeeping the service needs around them: which values were uploaded, the serial queue every
// operation on the model goes through and the step transaction (step-runner.ts), and the staging it holds.

import type { DType, NonFinitePolicy, OptimizerConfig, Param, ParamOverride } from '../../native/lib';
import { DTYPE_WIDTH } from '../../proto/convert';
import { fail } from '../errors';
import { RangeSet } from './range-set';
import { quote } from './bounded';
import { StepRunner } from './step-runner';

export class ParamEntry {
  readonly index: number;
  readonly param: Param;
  /** Uploaded element ranges; null once every element has a value. */
  private coverage: RangeSet | null;

  constructor(index: number, param: Param) {
    this.index = index;
    this.param = param;
    this.coverage = new RangeSet();
  }

  get name(): string {
    return this.param.name;
  }

  get numel(): number {
    return this.param.numel;
  }

  get dtype(): DType {
    return this.param.dtype;
  }

  get width(): number {
    return DTYPE_WIDTH[this.param.dtype];
  }

  get uploaded(): boolean {
    return this.coverage === null;
  }

  get uploadedElements(): number {
    return this.coverage === null ? this.numel : this.coverage.covered;
  }

  /** Records that [start, end) now holds uploaded values. */
  markUploaded(start: number, end: number): void {
    if (this.coverage === null) return;
    this.coverage.union(start, end);
    if (this.coverage.isComplete(this.numel)) this.coverage = null;
  }

  markAllUploaded(): void {
    this.coverage = null;
  }
}

export interface ModelInit {
  name: string;
  params: Param[];
  config: OptimizerConfig;
  overrides: Record<string, ParamOverride>;
  nonFinite: NonFinitePolicy;
  idempotencyWindow: number;
}

export class Model {
  readonly name: string;
  readonly params: readonly ParamEntry[];
  readonly config: Readonly<OptimizerConfig>;
  readonly overrides: Readonly<Record<string, ParamOverride>>;
  readonly nonFinite: NonFinitePolicy;
  /** The step transaction: queue, ledger and model step counter (server/domain/step-runner.ts). */
  readonly steps: StepRunner;
  private readonly byName: Map<string, ParamEntry>;
  /** Bytes of staging memory held by streams working on this model. */
  private staging = 0;
  /** A Restore is between its header and its end. */
  private restoring = false;
  private deletedFlag = false;
  private pending: number;

  constructor(init: ModelInit) {
    this.name = init.name;
    this.params = Object.freeze(init.params.map((p, i) => new ParamEntry(i, p)));
    this.byName = new Map(this.params.map((e) => [e.name, e]));
    this.config = Object.freeze({ ...init.config });
    this.overrides = Object.freeze({ ...init.overrides });
    this.nonFinite = init.nonFinite;
    this.steps = new StepRunner(this, init.idempotencyWindow);
    this.pending = this.params.length;
  }

  get deleted(): boolean {
    return this.deletedFlag;
  }

  /** Step commits applied (skipped steps do not count). */
  get modelStep(): number {
    return this.steps.modelStep;
  }

  /** Jobs waiting or running in the model's queue. */
  get queueDepth(): number {
    return this.steps.queueDepth;
  }

  /** Runs `job` alone on the model, between two steps (uploads, snapshots, restores). */
  exclusive<T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.steps.exclusive(job, signal);
  }

  /** Staging bytes held by streams working on this model. */
  get stagingBytes(): number {
    return this.staging;
  }

  /** Per-model staging accounting (a StagingBudget lease's onChange). */
  readonly chargeStaging = (delta: number): void => {
    this.staging += delta;
  };

  get restoreInFlight(): boolean {
    return this.restoring;
  }

  /** Marks a Restore in flight (ABORTED while another one is); call the returned function when it ends. */
  beginRestore(): () => void {
    if (this.restoring) throw fail.aborted(`another Restore of ${this.name} is in flight`);
    this.restoring = true;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.restoring = false;
    };
  }

  /** Every parameter has all its values: steps are allowed. */
  get ready(): boolean {
    return this.pending === 0;
  }

  get numel(): number {
    return this.params.reduce((n, e) => n + e.numel, 0);
  }

  pendingParams(): string[] {
    return this.params.filter((e) => !e.uploaded).map((e) => e.name);
  }

  /** The parameter named `name`, or NOT_FOUND. */
  param(name: string): ParamEntry {
    const e = this.byName.get(name);
    if (!e) throw fail.notFound(`model ${this.name} has no parameter ${quote(name)}`);
    return e;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** NOT_FOUND once the model was deleted (for jobs that waited in its queue). */
  assertAlive(): void {
    if (this.deletedFlag) throw fail.notFound(`model ${this.name} was deleted`);
  }

  markUploaded(entry: ParamEntry, start: number, end: number): void {
    if (entry.uploaded) return;
    entry.markUploaded(start, end);
    if (entry.uploaded) this.pending--;
  }

  markAllUploaded(entry: ParamEntry): void {
    if (entry.uploaded) return;
    entry.markAllUploaded();
    this.pending--;
  }

  /** Bytes the model's parameters hold on the engine (values, state, scales, maps, history). */
  heldBytes(): number {
    let bytes = 0;
    for (const e of this.params) {
      if (e.param.freed) continue;
      const m = e.param.memory();
      bytes += m.param + m.state + m.scales + m.maps + m.percentileHistory;
    }
    return bytes;
  }

  /** Frees every parameter now; calls running on them finish first (the engine keeps its own reference). */
  free(): number {
    this.deletedFlag = true;
    let bytes = 0;
    for (const e of this.params) {
      if (e.param.freed) continue;
      const m = e.param.memory();
      bytes += m.param + m.state + m.scales + m.maps + m.percentileHistory;
      e.param.free();
    }
    this.steps.clear();
    return bytes;
  }
}
