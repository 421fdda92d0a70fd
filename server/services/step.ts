// Step: header -> gradient chunks -> commit in; result (+ weights) out. The gradients are staged in full and
// validated before the update is queued, so a stream that fails, is cancelled or carries bad data changes
// nothing; once the engine step has started it completes, atomically (the engine checks every gradient for
// non-finite values before changing anything), and its outcome is recorded for the step id. The transaction
// (replay, stale ids, the expected model step, the counter, the ledger) is the model's StepRunner
// (server/domain/step-runner.ts); this file only adapts the wire to it. A step carried over several streams
// (lanes, docs/service.md, Transport) is joined by server/domain/lane-join.ts into one job for the runner.

import type { DType, Hyperparameters, NonFinitePolicy } from '../../native/lib';
import type { StepRequest__Output, StepResponse, StepResult } from '../../proto';
import { exactHeader, type StepHeaderExact } from '../../proto/step-id';
import { oneofCase } from '../../proto/oneof';
import { DTYPE_WIDTH, dtypes, hyperFromWire, policies } from '../../proto/convert';
import type { ServiceDeps } from '../config';
import { fail } from '../errors';
import { GradientStage } from '../domain/gradient-stage';
import type { PlannedGradient } from '../domain/gradient-stage';
import type { Model, ParamEntry } from '../domain/model';
import { LaneJoins, MAX_LANES, laneParts, partsCover } from '../domain/lane-join';
import type { LaneJoin, LanePart } from '../domain/lane-join';
import type { StepDone, StepJob, StepTicket } from '../domain/step-runner';
import type { Lease } from '../domain/staging-budget';
import { ProgressDeadline } from '../domain/stream-progress';
import { quote } from '../domain/bounded';
import { checkChunk } from '../domain/tensor-chunks';
import type { BidiImpl, CallContext, MessageReader, MessageWriter } from '../rpc';
import { ReplySender, weightsBytes } from './step-reply';
import { STEP_KINDS, joinStepHeader } from './header-parts';
import type { WeightsDtype } from './step-reply';

interface StepPlan {
  model: Model;
  ticket: StepTicket;
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
function planStep(model: Model, h: StepHeaderExact): StepPlan {
  const defaultDtype = dtypes.decode(h.gradDtype, 'header.grad_dtype');
  const stepHyper = hyperFromWire(h.hyper);
  const specs =
    h.gradients.length > 0
      ? h.gradients.map((g, i) => ({
          entry: model.param(g.param),
          dtype: dtypes.decode(g.dtype, `header.gradients[${i}].dtype`),
        }))
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
    const hyper: Partial<Hyperparameters> = {
      ...without(stepHyper),
      ...without(hyperFromWire(h.paramHyper[entry.name])),
    };
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

const WORKER_ID_MAX_BYTES = 256;

export function stepHandler(deps: ServiceDeps): BidiImpl<StepRequest__Output, StepResponse> {
  const { config, budget, metrics } = deps;
  const joins = new LaneJoins<ReplySender>();

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

  /**
   * Sends the result, then reads the weights (inside the queue) and queues them for sending: on the stream's own
   * sender, or on every lane's (read in the same queue job, so every lane sees the same model step).
   */
  function deliverer(senders: () => ReplySender[], plan: StepPlan, ctx: CallContext): StepJob['deliver'] {
    return async (result: StepResult) => {
      for (const s of senders()) s.result(result);
      const t0 = performance.now();
      for (const s of senders()) await s.readAndQueueWeights();
      if (plan.weightsDtype !== undefined) ctx.set({ readMs: Math.round((performance.now() - t0) * 10) / 10 });
    };
  }

  return async (input: MessageReader<StepRequest__Output>, out: MessageWriter<StepResponse>, ctx: CallContext) => {
    const first = await input.next();
    if (!first) throw fail.invalid('empty step stream: expected a header first');
    if (oneofCase(first, STEP_KINDS) !== 'header' || !first.header)
      throw fail.invalid('the first step message must be a header');
    const h = exactHeader(first.header);
    ctx.set({ model: h.model, worker: h.workerId, stepId: String(h.stepId) });
    if (Buffer.byteLength(h.workerId, 'utf8') > WORKER_ID_MAX_BYTES) {
      throw fail.invalid(`expected at most ${WORKER_ID_MAX_BYTES} bytes for worker_id, got ${quote(h.workerId)}`);
    }
    const model = deps.registry.get(h.model);
    await joinStepHeader(h, input, model.params.length);
    const plan = planStep(model, h);
    const runner = model.steps;
    const lane = checkLane(h, plan);
    const parts: LanePart[] = lane
      ? lane.parts
      : plan.gradients.map((g) => ({ entry: g.entry, offset: 0, count: g.entry.numel }));
    const key = [model.name, plan.ticket.worker, String(plan.ticket.stepId)] as const;
    if (lane) {
      ctx.set({ lane: lane.index, lanes: lane.count });
      // A lane retried while its first attempt is still in flight waits for that attempt to end; it is then
      // answered as any later lane: from the ledger if the step applied, as a lane of a new attempt if not.
      for (let j = joins.peek(...key); j && j.has(lane.index); j = joins.peek(...key)) await j.settled(ctx.signal);
    }
    // From here to joining, nothing is awaited unless the step is answered from the ledger.

    const admission = runner.admit(plan.ticket);
    if (admission.kind === 'replay') {
      // Answer at once; the client stops sending when the result arrives.
      const lease = await budget.acquire(
        weightsBytes(plan.weightsDtype, parts),
        ctx.signal,
        model.chargeStaging,
        ctx.peer,
      );
      const sender = new ReplySender(out, parts, plan.weightsDtype, config.maxChunkBytes, deps.pool);
      try {
        counted(
          model,
          await runner.replay(
            admission.result,
            deliverer(() => [sender], plan, ctx),
            ctx.signal,
          ),
          ctx,
        );
        await sender.done();
        ctx.set({ bytesOut: sender.bytes });
      } finally {
        lease.release();
      }
      return;
    }

    // Staging is reserved when the first gradient chunk arrives (a header alone holds nothing), and from then on
    // the stream must deliver at the minimum rate (server/domain/stream-progress.ts).
    const dtypeOf = new Map(plan.gradients.map((g) => [g.entry, g.dtype]));
    const gradientBytes = parts.reduce((n, p) => n + p.count * DTYPE_WIDTH[dtypeOf.get(p.entry) as DType], 0);
    const reserve = gradientBytes + weightsBytes(plan.weightsDtype, parts);
    const sender = new ReplySender(out, parts, plan.weightsDtype, config.maxChunkBytes, deps.pool);
    let join: LaneJoin<ReplySender> | null = null;
    let stage: GradientStage;
    if (lane) {
      join = joins.get(...key, lane.count, lane.fingerprint, plan.gradients, deps.pool);
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
    const progress = new ProgressDeadline({
      graceMs: config.streamGraceMs,
      minBytesPerSecond: config.streamMinBytesPerSecond,
    });
    progress.awaitFirstData();
    let lease: Lease | null = null;
    let bytesIn = 0;
    let chunks = 0;
    const t0 = performance.now();
    try {
      let commit = null;
      for (let msg = await progress.race(input.next()); msg; msg = await progress.race(input.next())) {
        const kind = oneofCase(msg, STEP_KINDS);
        if (kind === 'gradient') {
          if (!lease) {
            lease = await budget.acquire(reserve, ctx.signal, model.chargeStaging, ctx.peer);
            progress.holding(gradientBytes, parts.length);
          }
          const c = checkChunk(model, msg.gradient, config.maxChunkBytes, (e) => stage.dtypeFor(e));
          if (lane && !partsCover(parts, c.entry, c.offset, c.count)) {
            throw fail.invalid(
              `gradient chunk [${c.offset}, ${c.offset + c.count}) of ${quote(c.entry.name)} is outside this lane's slices`,
            );
          }
          stage.add(c);
          bytesIn += c.data.length;
          chunks++;
        } else if (kind === 'commit' && msg.commit) {
          commit = msg.commit;
          break;
        } else {
          throw fail.invalid('expected gradient chunks or a commit after the header, got another header');
        }
      }
      progress.clear();
      ctx.set({ bytesIn, chunks, receiveMs: Math.round((performance.now() - t0) * 10) / 10 });
      if (!commit) throw fail.invalid('the step stream ended without a commit; nothing was applied');
      if (commit.chunkCount !== 0 && commit.chunkCount !== chunks) {
        throw fail.dataLoss(`commit says ${commit.chunkCount} gradient chunks were sent; ${chunks} arrived`);
      }
      // Every announced gradient is complete by now unless the step has none to stage; weights still need room.
      const held = lease ?? (await budget.acquire(reserve, ctx.signal, model.chargeStaging, ctx.peer));
      lease = held;
      const t1 = performance.now();
      const joined = join;
      const job: StepJob = {
        ticket: plan.ticket,
        policy: plan.policy,
        names: plan.gradients.map((g) => g.entry.name),
        items: () => stage.finish(),
        release: () => {
          stage.discard();
          held.shrink(gradientBytes);
        },
        deliver: deliverer(() => (joined ? joined.senders : [sender]), plan, ctx),
        // Inside the queue, before the decision: a step another lane has discarded meanwhile fails with that cause.
        cancelled: () => {
          if (ctx.cancelled) return true;
          joined?.beginApply();
          return false;
        },
      };
      let t2 = t1;
      try {
        if (!joined) {
          counted(model, await runner.apply(job, (items, policy) => deps.engine.step(items, policy), ctx.signal), ctx);
        } else if (joined.commit(lane?.index ?? 0)) {
          // The last lane to commit applies the step for all of them.
          try {
            counted(
              model,
              await runner.apply(job, (items, policy) => deps.engine.step(items, policy), ctx.signal),
              ctx,
            );
            joined.finishApply();
          } catch (err) {
            joined.finishApply(err as Error);
            throw err;
          }
        } else {
          await joined.waitApplied(ctx.signal, config.streamIdleMs);
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
      progress.clear();
      if (!join) stage.discard();
      lease?.release();
    }
  };
}

/** A lane header's index, count and parts, checked (INVALID_ARGUMENT); null when the stream carries the whole step. */
function checkLane(
  h: StepHeaderExact,
  plan: StepPlan,
): { index: number; count: number; parts: LanePart[]; fingerprint: string } | null {
  const lane = h.lane;
  if (!lane || lane.count <= 1) return null;
  if (lane.count > MAX_LANES) throw fail.invalid(`lane.count ${lane.count} is over the limit of ${MAX_LANES}`);
  if (lane.index >= lane.count) throw fail.invalid(`lane.index ${lane.index} is not below lane.count ${lane.count}`);
  if (plan.ticket.stepId === 0n)
    throw fail.invalid('a step carried over lanes needs a step_id > 0 (the lanes are joined by it)');
  const parts = laneParts(plan.gradients, lane.slices);
  const fingerprint = JSON.stringify({ ...h, lane: null }, (_k, v: unknown) =>
    typeof v === 'bigint' ? v.toString() : v,
  );
  return { index: lane.index, count: lane.count, parts, fingerprint };
}
