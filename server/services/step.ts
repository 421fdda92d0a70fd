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
import type { Lease } from '../domain/staging-budget';
import type { Model, ParamEntry } from '../domain/model';
import { LaneJoins, MAX_LANES, laneParts, partsCover } from '../domain/lane-join';
import type { LaneJoin, LanePart } from '../domain/lane-join';
import { checkChunk } from '../domain/tensor-chunks';
import type { BidiImpl, CallContext, MessageReader, MessageWriter } from '../rpc';
import { ReplySender, weightsBytes } from './step-reply';
import type { WeightsDtype } from './step-reply';

interface StepPlan {
  model: Model;
  worker: string;
  stepId: number;
  gradients: PlannedGradient[];
  policy: NonFinitePolicy;
  /** undefined: no weights back; else per parameter (UNSPECIFIED on the wire = the parameter's own dtype). */
  weightsDtype: WeightsDtype;
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
  const joins = new LaneJoins<ReplySender>();

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

  /**
   * Applies a fully staged step inside the model's queue and answers every sender: the stream's own, or one per
   * lane (their weights are read in the same queue job, so every lane sees the same model step). `join`, for a
   * step carried over lanes, refuses to start a step that another lane has discarded meanwhile.
   */
  async function apply(plan: StepPlan, stage: GradientStage, senders: ReplySender[], ctx: CallContext,
    engineDone: () => void, join?: LaneJoin<ReplySender>): Promise<void> {
    const items = stage.finish();
    const model = plan.model;
    await model.queue.run(async () => {
      model.assertAlive();
      // A client that left while its step waited in the queue gets nothing applied.
      if (ctx.cancelled) throw fail.cancelled();
      join?.beginApply();
      const seen = model.ledger.lookup(plan.worker, plan.stepId);
      if (seen.kind === 'recorded') {
        stage.discard();
        engineDone();
        metrics.stepsReplayed.inc({ model: model.name });
        ctx.set({ replayed: true });
        for (const s of senders) s.result({ ...seen.result, replayed: true });
        for (const s of senders) await s.readAndQueueWeights();
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
        engineDone();
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
      for (const s of senders) s.result(result);
      const t0 = performance.now();
      for (const s of senders) await s.readAndQueueWeights();
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
    const lane = checkLane(h, plan);
    const parts = lane ? lane.parts : plan.gradients.map((g) => ({ entry: g.entry, offset: 0, count: g.entry.numel }));
    if (lane) ctx.set({ lane: lane.index, lanes: lane.count });
    // A lane retried while its first attempt is still in flight waits for that attempt to end; it is then
    // answered as any later lane: from the ledger if the step applied, as a lane of a new attempt if not.
    for (let j = lane && joins.peek(model.name, plan.worker, plan.stepId); j && j.has(lane?.index ?? 0);
      j = joins.peek(model.name, plan.worker, plan.stepId)) {
      await j.settled(ctx.signal);
    }
    // From here to joining, nothing is awaited unless the step is answered from the ledger.

    const seen = model.ledger.lookup(plan.worker, plan.stepId);
    const onChange = (d: number) => {
      model.stagingBytes += d;
    };
    if (seen.kind === 'recorded') {
      // Answer at once; the client stops sending when the result arrives.
      const lease = await budget.acquire(weightsBytes(plan.weightsDtype, parts), ctx.signal, onChange);
      const sender = new ReplySender(out, parts, plan.weightsDtype, config.maxChunkBytes, deps.pool);
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

    const dtypeOf = new Map(plan.gradients.map((g) => [g.entry, g.dtype]));
    const gradBytes = parts.reduce((n, p) => n + p.count * DTYPE_WIDTH[dtypeOf.get(p.entry) as DType], 0);
    const sender = new ReplySender(out, parts, plan.weightsDtype, config.maxChunkBytes, deps.pool);
    let join: LaneJoin<ReplySender> | null = null;
    let stage: GradientStage;
    if (lane) {
      // Nothing awaited since the check above: the lane joins before any retry of it can look.
      join = joins.get(model.name, plan.worker, plan.stepId, lane.count, lane.fingerprint, plan.gradients, deps.pool);
      try {
        join.join(lane.index, lane.count, lane.fingerprint, sender);
      } catch (err) {
        join.abort(err as Error);
        throw err;
      }
      stage = join.stage;
    } else {
      stage = new GradientStage(plan.gradients, deps.pool);
    }
    let lease: Lease;
    try {
      lease = await budget.acquire(gradBytes + weightsBytes(plan.weightsDtype, parts), ctx.signal, onChange);
    } catch (err) {
      join?.abort(err as Error);
      throw err;
    }
    let bytesIn = 0;
    let chunks = 0;
    const t0 = performance.now();
    try {
      let commit = null;
      for (let msg = await input.next(); msg; msg = await input.next()) {
        if (msg.kind === 'gradient') {
          const c = checkChunk(model, msg.gradient, config.maxChunkBytes, (e) => stage.dtypeFor(e));
          if (lane && !partsCover(parts, c.entry, c.offset, c.count)) {
            throw fail.invalid(`gradient chunk [${c.offset}, ${c.offset + c.count}) of ${c.entry.name} is outside this lane's slices`);
          }
          stage.add(c);
          bytesIn += c.data.length;
          chunks++;
        } else if (msg.kind === 'commit' && msg.commit) {
          commit = msg.commit;
          break;
        } else {
          throw fail.invalid('expected gradient chunks or a commit after the header, got another header');
        }
      }
      ctx.set({ bytesIn, chunks, receiveMs: Math.round((performance.now() - t0) * 10) / 10 });
      if (!commit) throw fail.invalid('the step stream ended without a commit; nothing was applied');
      if (commit.chunkCount !== 0 && commit.chunkCount !== chunks) {
        throw fail.dataLoss(`commit says ${commit.chunkCount} gradient chunks were sent; ${chunks} arrived`);
      }
      const t1 = performance.now();
      let t2 = t1;
      const engineDone = () => lease.shrink(gradBytes);
      try {
        if (!join) {
          await apply(plan, stage, [sender], ctx, engineDone);
        } else if (join.commit(lane?.index ?? 0)) {
          // The last lane to commit applies the step for all of them.
          try {
            await apply(plan, stage, join.senders, ctx, engineDone, join);
            join.finishApply();
          } catch (err) {
            join.finishApply(err as Error);
            throw err;
          }
        } else {
          await join.waitApplied(ctx.signal, config.streamIdleMs);
        }
        t2 = performance.now();
      } finally {
        // Whatever was queued is written (or fails) before the lease is returned.
        await sender.done().catch(() => undefined);
      }
      await sender.done();
      const ms = (a: number, b: number) => Math.round((b - a) * 10) / 10;
      ctx.set({ bytesOut: sender.bytes, queueMs: ms(t1, t2), sendMs: ms(t2, performance.now()) });
    } catch (err) {
      // A lane that fails before the update started discards the whole step (a no-op once it has started).
      join?.abort(err as Error);
      throw err;
    } finally {
      if (!join) stage.discard();
      lease.release();
    }
  };
}

/** A lane header's index, count and parts, checked (INVALID_ARGUMENT); null when the stream carries the whole step. */
function checkLane(h: StepHeader__Output, plan: StepPlan): { index: number; count: number; parts: LanePart[]; fingerprint: string } | null {
  const lane = h.lane;
  if (!lane || lane.count <= 1) return null;
  if (lane.count > MAX_LANES) throw fail.invalid(`lane.count ${lane.count} is over the limit of ${MAX_LANES}`);
  if (lane.index >= lane.count) throw fail.invalid(`lane.index ${lane.index} is not below lane.count ${lane.count}`);
  if (plan.stepId === 0) throw fail.invalid('a step carried over lanes needs a step_id > 0 (the lanes are joined by it)');
  const parts = laneParts(plan.gradients, lane.slices);
  return { index: lane.index, count: lane.count, parts, fingerprint: JSON.stringify({ ...h, lane: null }) };
}
