// Step: header -> gradient chunks -> commit in; result (+ weights) out. The gradients are staged in full and
// validated before the update is queued, so a stream that fails, is cancelled or carries bad data changes
// nothing; once the engine step has started it completes, atomically (the engine checks every gradient for
// non-finite values before changing anything), and its outcome is recorded for the step id.

import type { DType, Hyperparameters, NonFinitePolicy, StepOutcome } from '../../native/lib';
import type { StepHeader__Output, StepRequest__Output, StepResponse, StepResult } from '../../proto';
import { DTYPE_WIDTH, dtypes, hyperFromWire, policies } from '../../proto/convert';
import type { ServiceDeps } from '../config';
import { fail } from '../errors';
import { GradientStage } from '../domain/gradient-stage';
import type { PlannedGradient } from '../domain/gradient-stage';
import type { Model, ParamEntry } from '../domain/model';
import type { Lease } from '../domain/staging-budget';
import { checkChunk, pieceSizes, readValues, sliceCount, slices } from '../domain/tensor-chunks';
import type { BidiImpl, CallContext, MessageReader, MessageWriter } from '../rpc';
import type { BufferPool } from '../domain/buffer-pool';

interface StepPlan {
  model: Model;
  worker: string;
  stepId: number;
  gradients: PlannedGradient[];
  policy: NonFinitePolicy;
  /** undefined: no weights back; else per parameter (UNSPECIFIED on the wire = the parameter's own dtype). */
  weightsDtype: DType | 'own' | undefined;
}

function without<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/** Validates the header against the model: parameters, dtypes, hyperparameters (INVALID_ARGUMENT, NOT_FOUND). */
function planStep(model: Model, h: StepHeader__Output): StepPlan {
  const defaultDtype = dtypes.decode(h.gradDtype, 'header.grad_dtype');
  const stepHyper = hyperFromWire(h.hyper);
  const specs = h.gradients.length > 0
    ? h.gradients.map((g, i) => ({ entry: model.param(g.param), dtype: dtypes.decode(g.dtype, `header.gradients[${i}].dtype`) }))
    : model.params.map((entry) => ({ entry, dtype: undefined }));
  const seen = new Set<ParamEntry>();
  for (const s of specs) {
    if (seen.has(s.entry)) throw fail.invalid(`header announces ${s.entry.name} twice`);
    seen.add(s.entry);
  }
  for (const name of Object.keys(h.paramHyper)) {
    const entry = model.param(name);
    if (!seen.has(entry)) throw fail.invalid(`param_hyper for ${name}, which this step does not update`);
  }
  const gradients = specs.map(({ entry, dtype }) => {
    const hyper: Partial<Hyperparameters> = { ...without(stepHyper), ...without(hyperFromWire(h.paramHyper[entry.name])) };
    try {
      entry.param.hyper(hyper); // resolve and range-check now, before any gradient byte is staged
    } catch (e) {
      throw fail.invalid(`hyperparameters of ${entry.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
    return { entry, dtype: dtype ?? defaultDtype ?? entry.dtype, hyper };
  });
  const weights = h.returnWeights ? (dtypes.decode(h.weightsDtype, 'header.weights_dtype') ?? 'own') : undefined;
  return {
    model,
    worker: h.workerId,
    stepId: h.stepId,
    gradients,
    policy: policies.decode(h.nonFinite, 'header.non_finite') ?? model.nonFinite,
    weightsDtype: weights,
  };
}

function weightsBytes(plan: StepPlan): number {
  if (plan.weightsDtype === undefined) return 0;
  return plan.gradients.reduce((n, g) => {
    const d = plan.weightsDtype === 'own' ? g.entry.dtype : (plan.weightsDtype as DType);
    return n + g.entry.numel * DTYPE_WIDTH[d];
  }, 0);
}

function weightDtype(plan: StepPlan, entry: ParamEntry): DType {
  return plan.weightsDtype === 'own' || plan.weightsDtype === undefined ? entry.dtype : plan.weightsDtype;
}

/**
 * The reply stream: the result first, then each parameter's weights in chunks of at most maxChunkBytes, written
 * in order and with back-pressure by one chain of writes. Weights are handed over as soon as they are read, so
 * reading the next parameter (inside the model's queue) overlaps with sending the previous one.
 */
class ReplySender {
  private chain: Promise<void> = Promise.resolve();
  bytes = 0;

  constructor(
    private readonly out: MessageWriter<StepResponse>,
    private readonly plan: StepPlan,
    private readonly maxChunkBytes: number,
    private readonly pool: BufferPool,
  ) {}

  private then(fn: () => Promise<void>): void {
    this.chain = this.chain.then(fn);
    this.chain.catch(() => undefined); // observed by done()
  }

  /** Queues the result, announcing how many weight chunks and bytes follow. */
  result(r: StepResult): void {
    let chunks = 0;
    let bytes = 0;
    if (this.plan.weightsDtype !== undefined) {
      for (const g of this.plan.gradients) {
        const width = DTYPE_WIDTH[weightDtype(this.plan, g.entry)];
        const sizes = pieceSizes(g.entry.numel, width);
        chunks += sliceCount(sizes, this.maxChunkBytes, width);
        bytes += g.entry.numel * width;
      }
    }
    const msg: StepResponse = { result: { ...r, weightChunks: chunks, weightBytes: bytes } };
    this.then(() => this.out.write(msg));
  }

  /** Reads the planned weights (call inside the model's queue) and queues them for sending as each arrives. */
  async readAndQueueWeights(): Promise<void> {
    if (this.plan.weightsDtype === undefined) return;
    for (const g of this.plan.gradients) {
      const dtype = weightDtype(this.plan, g.entry);
      const pieces = await readValues(g.entry, dtype, this.pool);
      const wire = dtypes.encode(dtype);
      const width = DTYPE_WIDTH[dtype];
      // The pieces go back to the pool once the stream has processed the last of their messages (messages are
      // processed in order, and each is serialized into its own frame then). If sending stops early, some may
      // still sit in the stream's buffer: those pieces are left to the garbage collector.
      const release = () => { for (const p of pieces) this.pool.giveBytes(p); };
      this.then(async () => {
        const all = [...slices(pieces, this.maxChunkBytes, width)];
        for (let i = 0; i < all.length; i++) {
          const s = all[i];
          await this.out.write({ weights: { param: g.entry.name, offset: s.offset / width, dtype: wire, data: s.data } },
            i === all.length - 1 ? release : undefined);
          this.bytes += s.data.length;
        }
      });
    }
  }

  /** Resolves when everything queued was written (rejects with the first write failure). */
  done(): Promise<void> {
    return this.chain;
  }
}

function resultOf(plan: StepPlan, outcome: StepOutcome): StepResult {
  return {
    model: plan.model.name,
    modelStep: plan.model.modelStep,
    skipped: outcome.skipped,
    replayed: false,
    nonFinite: outcome.nonFinite.map((i) => plan.gradients[i].entry.name),
    params: outcome.results.map((r, i) => ({
      name: plan.gradients[i].entry.name, step: r.step, gnormScale: r.gnormScale, updateScale: r.updateScale,
    })),
  };
}

export function stepHandler(deps: ServiceDeps): BidiImpl<StepRequest__Output, StepResponse> {
  const { config, budget, metrics } = deps;

  /** A repeat of a recorded step: the recorded result, and the current weights if asked. */
  async function replay(plan: StepPlan, recorded: StepResult, sender: ReplySender, ctx: CallContext): Promise<void> {
    metrics.stepsReplayed.inc({ model: plan.model.name });
    ctx.set({ replayed: true });
    await plan.model.queue.run(async () => {
      plan.model.assertAlive();
      sender.result({ ...recorded, replayed: true });
      await sender.readAndQueueWeights();
    }, ctx.signal);
  }

  async function apply(plan: StepPlan, stage: GradientStage, lease: Lease, sender: ReplySender, ctx: CallContext): Promise<void> {
    const items = stage.finish();
    const model = plan.model;
    await model.queue.run(async () => {
      model.assertAlive();
      // A client that left while its step waited in the queue gets nothing applied.
      if (ctx.cancelled) throw fail.cancelled();
      const seen = model.ledger.lookup(plan.worker, plan.stepId);
      if (seen.kind === 'recorded') {
        stage.discard();
        lease.shrink(GradientStage.bytesOf(plan.gradients));
        metrics.stepsReplayed.inc({ model: model.name });
        ctx.set({ replayed: true });
        sender.result({ ...seen.result, replayed: true });
        await sender.readAndQueueWeights();
        return;
      }
      if (seen.kind === 'stale') {
        throw fail.precondition(`step id ${plan.stepId} of worker ${JSON.stringify(plan.worker)} is stale (ids up to ` +
          `${seen.watermark} left the idempotency window)`);
      }
      const stopTimer = metrics.stepSeconds.startTimer({ model: model.name });
      let outcome: StepOutcome;
      try {
        outcome = await deps.engine.step(items, plan.policy);
      } finally {
        ctx.set({ engineMs: Math.round(stopTimer() * 1e4) / 10 });
        stage.discard();
        lease.shrink(GradientStage.bytesOf(plan.gradients));
      }
      if (outcome.nonFinite.length > 0) metrics.nonFinite.inc({ model: model.name }, outcome.nonFinite.length);
      if (outcome.skipped) metrics.stepsSkipped.inc({ model: model.name });
      else {
        model.modelStep++;
        metrics.stepsApplied.inc({ model: model.name });
      }
      const result = resultOf(plan, outcome);
      model.ledger.record(plan.worker, plan.stepId, result);
      ctx.set({ modelStep: model.modelStep, skipped: outcome.skipped });
      sender.result(result);
      const t0 = performance.now();
      await sender.readAndQueueWeights();
      if (plan.weightsDtype !== undefined) ctx.set({ readMs: Math.round((performance.now() - t0) * 10) / 10 });
    }, ctx.signal);
  }

  return async (input: MessageReader<StepRequest__Output>, out: MessageWriter<StepResponse>, ctx: CallContext) => {
    const first = await input.next();
    if (!first) throw fail.invalid('empty step stream: expected a header first');
    if (first.kind !== 'header' || !first.header) throw fail.invalid('the first step message must be a header');
    const h = first.header;
    ctx.set({ model: h.model, worker: h.workerId, stepId: h.stepId });
    const model = deps.registry.get(h.model);
    if (!Number.isSafeInteger(h.stepId) || h.stepId < 0) throw fail.invalid(`bad step_id ${h.stepId}`);
    const plan = planStep(model, h);

    const seen = model.ledger.lookup(plan.worker, plan.stepId);
    const onChange = (d: number) => {
      model.stagingBytes += d;
    };
    if (seen.kind === 'recorded') {
      // Answer at once; the client stops sending when the result arrives.
      const lease = await budget.acquire(weightsBytes(plan), ctx.signal, onChange);
      const sender = new ReplySender(out, plan, config.maxChunkBytes, deps.pool);
      try {
        await replay(plan, seen.result, sender, ctx);
        await sender.done();
        ctx.set({ bytesOut: sender.bytes });
      } finally {
        lease.release();
      }
      return;
    }
    if (seen.kind === 'stale') {
      throw fail.precondition(`step id ${plan.stepId} of worker ${JSON.stringify(plan.worker)} is stale (ids up to ` +
        `${seen.watermark} left the idempotency window)`);
    }
    if (!model.ready) {
      throw fail.precondition(`model ${model.name} is not ready: values missing for ${model.pendingParams().slice(0, 5).join(', ')}` +
        `${model.pendingParams().length > 5 ? ', ...' : ''}`);
    }

    const stagingBytes = GradientStage.bytesOf(plan.gradients) + weightsBytes(plan);
    const lease = await budget.acquire(stagingBytes, ctx.signal, onChange);
    const stage = new GradientStage(plan.gradients, deps.pool);
    let bytesIn = 0;
    const t0 = performance.now();
    try {
      let commit = null;
      for (let msg = await input.next(); msg; msg = await input.next()) {
        if (msg.kind === 'gradient') {
          const c = checkChunk(model, msg.gradient, config.maxChunkBytes, (e) => stage.dtypeFor(e));
          stage.add(c);
          bytesIn += c.data.length;
        } else if (msg.kind === 'commit' && msg.commit) {
          commit = msg.commit;
          break;
        } else {
          throw fail.invalid('expected gradient chunks or a commit after the header, got another header');
        }
      }
      ctx.set({ bytesIn, chunks: stage.chunks, receiveMs: Math.round((performance.now() - t0) * 10) / 10 });
      if (!commit) throw fail.invalid('the step stream ended without a commit; nothing was applied');
      if (commit.chunkCount !== 0 && commit.chunkCount !== stage.chunks) {
        throw fail.dataLoss(`commit says ${commit.chunkCount} gradient chunks were sent; ${stage.chunks} arrived`);
      }
      const t1 = performance.now();
      const sender = new ReplySender(out, plan, config.maxChunkBytes, deps.pool);
      let t2 = t1;
      try {
        await apply(plan, stage, lease, sender, ctx);
        t2 = performance.now();
      } finally {
        // Whatever was queued is written (or fails) before the lease is returned.
        await sender.done().catch(() => undefined);
      }
      await sender.done();
      const ms = (a: number, b: number) => Math.round((b - a) * 10) / 10;
      ctx.set({ bytesOut: sender.bytes, queueMs: ms(t1, t2), sendMs: ms(t2, performance.now()) });
    } finally {
      stage.discard();
      lease.release();
    }
  };
}
