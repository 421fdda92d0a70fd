// Step: header -> gradient chunks -> commit in; result (+ weights) out. The gradients are staged in full and
// validated before the update is queued, so a stream that fails, is cancelled or carries bad data changes
// nothing; once the engine step has started it completes, atomically (the engine checks every gradient for
// non-finite values before changing anything), and its outcome is recorded for the step id. The transaction
// (replay, stale ids, the expected model step, the counter, the ledger) is the model's StepRunner
// (server/domain/step-runner.ts); this file only adapts the wire to it.

import type { DType, Hyperparameters, NonFinitePolicy } from '../../native/lib';
import type { StepRequest__Output, StepResponse, StepResult } from '../../proto';
import type { StepHeaderExact } from '../../proto/step-id';
import { DTYPE_WIDTH, dtypes, hyperFromWire, policies } from '../../proto/convert';
import type { ServiceDeps } from '../config';
import { fail } from '../errors';
import { GradientStage } from '../domain/gradient-stage';
import type { PlannedGradient } from '../domain/gradient-stage';
import type { Model, ParamEntry } from '../domain/model';
import type { StepDone, StepJob, StepTicket } from '../domain/step-runner';
import type { Lease } from '../domain/staging-budget';
import { ProgressDeadline } from '../domain/stream-progress';
import { quote } from '../domain/bounded';
import { checkChunk, pieceSizes, readValues, sliceCount, slices } from '../domain/tensor-chunks';
import type { BidiImpl, CallContext, MessageReader, MessageWriter } from '../rpc';
import type { BufferPool } from '../domain/buffer-pool';

interface StepPlan {
  model: Model;
  ticket: StepTicket;
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
function planStep(model: Model, h: StepHeaderExact): StepPlan {
  const defaultDtype = dtypes.decode(h.gradDtype, 'header.grad_dtype');
  const stepHyper = hyperFromWire(h.hyper);
  const specs = h.gradients.length > 0
    ? h.gradients.map((g, i) => ({ entry: model.param(g.param), dtype: dtypes.decode(g.dtype, `header.gradients[${i}].dtype`) }))
    : model.params.map((entry) => ({ entry, dtype: undefined }));
  const seen = new Set<ParamEntry>();
  for (const s of specs) {
    if (seen.has(s.entry)) throw fail.invalid(`header announces ${quote(s.entry.name)} twice`);
    seen.add(s.entry);
  }
  for (const name of Object.keys(h.paramHyper)) {
    const entry = model.param(name);
    if (!seen.has(entry)) throw fail.invalid(`param_hyper for ${quote(name)}, which this step does not update`);
  }
  const gradients = specs.map(({ entry, dtype }) => {
    const hyper: Partial<Hyperparameters> = { ...without(stepHyper), ...without(hyperFromWire(h.paramHyper[entry.name])) };
    try {
      entry.param.hyper(hyper); // resolve and range-check now, before any gradient byte is staged
    } catch (e) {
      throw fail.invalid(`hyperparameters of ${quote(entry.name)}: ${e instanceof Error ? e.message : String(e)}`);
    }
    return { entry, dtype: dtype ?? defaultDtype ?? entry.dtype, hyper };
  });
  const weights = h.returnWeights ? (dtypes.decode(h.weightsDtype, 'header.weights_dtype') ?? 'own') : undefined;
  return {
    model,
    ticket: { worker: h.workerId, stepId: h.stepId, expectedModelStep: h.expectedModelStep },
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

const WORKER_ID_MAX_BYTES = 256;

export function stepHandler(deps: ServiceDeps): BidiImpl<StepRequest__Output, StepResponse> {
  const { config, budget, metrics } = deps;

  function counted(model: Model, done: StepDone, ctx: CallContext): void {
    if (done.replayed) {
      metrics.stepsReplayed.inc({ model: model.name });
      ctx.set({ replayed: true });
      return;
    }
    const outcome = done.outcome;
    if (outcome && outcome.nonFinite.length > 0) metrics.nonFinite.inc({ model: model.name }, outcome.nonFinite.length);
    if (outcome?.skipped) metrics.stepsSkipped.inc({ model: model.name });
    else metrics.stepsApplied.inc({ model: model.name });
    if (done.engineMs !== undefined) {
      metrics.stepSeconds.observe({ model: model.name }, done.engineMs / 1000);
      ctx.set({ engineMs: done.engineMs });
    }
    ctx.set({ modelStep: done.result.modelStep, skipped: done.result.skipped });
  }

  /** Sends the result, then reads the weights (inside the queue) and queues them for sending. */
  function deliverer(sender: ReplySender, plan: StepPlan, ctx: CallContext): StepJob['deliver'] {
    return async (result: StepResult) => {
      sender.result(result);
      const t0 = performance.now();
      await sender.readAndQueueWeights();
      if (plan.weightsDtype !== undefined) ctx.set({ readMs: Math.round((performance.now() - t0) * 10) / 10 });
    };
  }

  return async (input: MessageReader<StepRequest__Output>, out: MessageWriter<StepResponse>, ctx: CallContext) => {
    const first = await input.next();
    if (!first) throw fail.invalid('empty step stream: expected a header first');
    if (first.kind !== 'header' || !first.header) throw fail.invalid('the first step message must be a header');
    const h = first.header as unknown as StepHeaderExact;
    ctx.set({ model: h.model, worker: h.workerId, stepId: String(h.stepId) });
    // proto/step-id.ts decodes step_id as a bigint; anything else is a wiring fault (INTERNAL), never the client's.
    if (typeof h.stepId !== 'bigint') throw new Error('step_id was not decoded exactly: the Step deserializer is not installed');
    if (Buffer.byteLength(h.workerId, 'utf8') > WORKER_ID_MAX_BYTES) {
      throw fail.invalid(`expected at most ${WORKER_ID_MAX_BYTES} bytes for worker_id, got ${quote(h.workerId)}`);
    }
    const model = deps.registry.get(h.model);
    const plan = planStep(model, h);
    const runner = model.steps;

    const admission = runner.admit(plan.ticket);
    if (admission.kind === 'replay') {
      // Answer at once; the client stops sending when the result arrives.
      const lease = await budget.acquire(weightsBytes(plan), ctx.signal, model.chargeStaging, ctx.peer);
      const sender = new ReplySender(out, plan, config.maxChunkBytes, deps.pool);
      try {
        counted(model, await runner.replay(admission.result, deliverer(sender, plan, ctx), ctx.signal), ctx);
        await sender.done();
        ctx.set({ bytesOut: sender.bytes });
      } finally {
        lease.release();
      }
      return;
    }

    // Staging is reserved when the first gradient chunk arrives (a header alone holds nothing), and from then on
    // the stream must deliver at the minimum rate (server/domain/stream-progress.ts).
    const gradientBytes = GradientStage.bytesOf(plan.gradients);
    const reserve = gradientBytes + weightsBytes(plan);
    const progress = new ProgressDeadline({ graceMs: config.streamGraceMs, minBytesPerSecond: config.streamMinBytesPerSecond });
    progress.awaitFirstData();
    let lease: Lease | null = null;
    const stage = new GradientStage(plan.gradients, deps.pool);
    let bytesIn = 0;
    const t0 = performance.now();
    try {
      let commit = null;
      for (let msg = await progress.race(input.next()); msg; msg = await progress.race(input.next())) {
        if (msg.kind === 'gradient') {
          if (!lease) {
            lease = await budget.acquire(reserve, ctx.signal, model.chargeStaging, ctx.peer);
            progress.holding(gradientBytes);
          }
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
      progress.clear();
      ctx.set({ bytesIn, chunks: stage.chunks, receiveMs: Math.round((performance.now() - t0) * 10) / 10 });
      if (!commit) throw fail.invalid('the step stream ended without a commit; nothing was applied');
      if (commit.chunkCount !== 0 && commit.chunkCount !== stage.chunks) {
        throw fail.dataLoss(`commit says ${commit.chunkCount} gradient chunks were sent; ${stage.chunks} arrived`);
      }
      // Every announced gradient is complete by now unless the step has none to stage; weights still need room.
      const held = lease ?? await budget.acquire(reserve, ctx.signal, model.chargeStaging, ctx.peer);
      lease = held;
      const t1 = performance.now();
      const sender = new ReplySender(out, plan, config.maxChunkBytes, deps.pool);
      const job: StepJob = {
        ticket: plan.ticket,
        policy: plan.policy,
        names: plan.gradients.map((g) => g.entry.name),
        items: () => stage.finish(),
        release: () => {
          stage.discard();
          held.shrink(gradientBytes);
        },
        deliver: deliverer(sender, plan, ctx),
        cancelled: () => ctx.cancelled,
      };
      let t2 = t1;
      try {
        counted(model, await runner.apply(job, (items, policy) => deps.engine.step(items, policy), ctx.signal), ctx);
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
      lease?.release();
    }
  };
}
