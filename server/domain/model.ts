// A model: named, ordered parameters on the engine, one optimizer configuration with per-parameter overrides,
// and the bookkeeping the service needs around them: which values were uploaded, the serial queue every
// operation on the model goes through, the step ledger, the model step counter and the staging it holds.

import type { DType, NonFinitePolicy, OptimizerConfig, Param, ParamOverride } from '../../native/lib';
import { DTYPE_WIDTH } from '../../proto/convert';
import { fail } from '../errors';
import { RangeSet } from './range-set';
import { SerialQueue } from './serial-queue';
import { StepLedger } from './step-ledger';

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
  readonly params: ParamEntry[];
  readonly config: OptimizerConfig;
  readonly overrides: Record<string, ParamOverride>;
  readonly nonFinite: NonFinitePolicy;
  readonly queue = new SerialQueue();
  readonly ledger: StepLedger;
  private readonly byName: Map<string, ParamEntry>;
  private step = 0;
  /** Told after every change of modelStep, inside the job that made it (checkpoint scheduling). */
  onStepChange: ((model: Model) => void) | null = null;
  /** Bytes of staging memory held by streams working on this model. */
  stagingBytes = 0;
  /** A Restore is between its header and its end. */
  restoring = false;
  private deletedFlag = false;
  private pending: number;

  constructor(init: ModelInit) {
    this.name = init.name;
    this.params = init.params.map((p, i) => new ParamEntry(i, p));
    this.byName = new Map(this.params.map((e) => [e.name, e]));
    this.config = init.config;
    this.overrides = init.overrides;
    this.nonFinite = init.nonFinite;
    this.ledger = new StepLedger(init.idempotencyWindow);
    this.pending = this.params.length;
  }

  /** Step commits applied (skipped steps do not count). */
  get modelStep(): number {
    return this.step;
  }

  set modelStep(v: number) {
    this.step = v;
    this.onStepChange?.(this);
  }

  get deleted(): boolean {
    return this.deletedFlag;
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
    if (!e) throw fail.notFound(`model ${this.name} has no parameter ${JSON.stringify(name)}`);
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
    this.ledger.clear();
    return bytes;
  }
}
