// StepRunner (server/domain/step-runner.ts) on its own, with a counting engine double: one decision for replay,
// stale ids, expected model step and readiness, made before staging and again in the queue; a step whose caller
// left is not applied; a retry that raced its original replays instead of applying twice.

import { expect } from 'chai';
import { status as Status } from '@grpc/grpc-js';
import type { StepOutcome } from '../../native/lib';
import { StepRunner } from '../../server/domain/step-runner';
import type { StepJob, StepModel } from '../../server/domain/step-runner';
import { ServiceError } from '../../server/errors';

function model(ready = true): StepModel & { setReady(r: boolean): void } {
  let r = ready;
  return {
    name: 'm',
    get ready() {
      return r;
    },
    setReady(v: boolean) {
      r = v;
    },
    pendingParams: () => (r ? [] : ['w']),
    assertAlive: () => undefined,
  };
}

describe('service domain: StepRunner', () => {
  let engineCalls = 0;
  const engine = async (): Promise<StepOutcome> => {
    engineCalls++;
    await new Promise((r) => setTimeout(r, Math.random() * 5));
    return {
      skipped: false,
      nonFinite: [],
      results: [{ step: engineCalls, gnormScale: 1, updateScale: 1 }],
    } as StepOutcome;
  };
  const job = (
    worker: string,
    stepId: bigint,
    o: Partial<StepJob> & { expectedModelStep?: number } = {},
  ): StepJob & { delivered: boolean[]; released: number } => {
    const j = {
      ticket: { worker, stepId, expectedModelStep: o.expectedModelStep },
      policy: 'skip' as const,
      names: ['w'],
      items: () => [],
      released: 0,
      delivered: [] as boolean[],
      release() {
        j.released++;
      },
      async deliver(_r: unknown, replayed: boolean) {
        j.delivered.push(replayed);
      },
      cancelled: o.cancelled ?? (() => false),
    };
    return j;
  };
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return (e as ServiceError).code;
    }
    return Status.OK;
  };

  it('applies, counts and records; a repeat replays; concurrent twins apply once', async () => {
    engineCalls = 0;
    const r = new StepRunner(model(), 8);
    const a = await r.apply(job('w', 1n), engine);
    expect([a.replayed, a.result.modelStep, r.modelStep]).to.deep.equal([false, 1, 1]);
    expect(r.admit({ worker: 'w', stepId: 1n }).kind).to.equal('replay');
    // Two streams with the same id both pass admission, then race in the queue: one applies, one replays.
    const [x, y] = await Promise.all([r.apply(job('w', 2n), engine), r.apply(job('w', 2n), engine)]);
    expect([x.replayed, y.replayed]).to.deep.equal([false, true]);
    expect(r.modelStep).to.equal(2);
    expect(engineCalls).to.equal(2);
    // Step id 0: never recorded, always applied.
    await r.apply(job('w', 0n), engine);
    await r.apply(job('w', 0n), engine);
    expect(r.modelStep).to.equal(4);
  });

  it('stale ids, a wrong expected model step and a model not ready: FAILED_PRECONDITION, nothing counted', async () => {
    const m = model();
    const r = new StepRunner(m, 2);
    for (let i = 1n; i <= 4n; i++) await r.apply(job('w', i), engine);
    expect(code(() => r.admit({ worker: 'w', stepId: 1n }))).to.equal(Status.FAILED_PRECONDITION);
    expect(code(() => r.admit({ worker: 'w', stepId: 9n, expectedModelStep: 3 }))).to.equal(Status.FAILED_PRECONDITION);
    expect(code(() => r.admit({ worker: 'w', stepId: 9n, expectedModelStep: 4 }))).to.equal(Status.OK);
    // A recorded id replays whatever the expected step says.
    expect(r.admit({ worker: 'w', stepId: 4n, expectedModelStep: 0 }).kind).to.equal('replay');
    const late = job('w', 9n, { expectedModelStep: 4 });
    await r.apply(job('v', 1n), engine); // another worker moved the counter while 'late' was staging
    const err = await r.apply(late, engine).then(
      () => null,
      (e: ServiceError) => e,
    );
    expect(err?.code).to.equal(Status.FAILED_PRECONDITION);
    expect(err?.message).to.contain('(model_step=5)');
    expect(late.delivered).to.deep.equal([]);
    m.setReady(false);
    expect(code(() => r.admit({ worker: 'w', stepId: 10n }))).to.equal(Status.FAILED_PRECONDITION);
    expect(r.modelStep).to.equal(5);
  });

  it('a caller that left while queued gets nothing applied; history round-trips', async () => {
    const r = new StepRunner(model(), 8);
    const gone = job('w', 1n, { cancelled: () => true });
    const err = await r.apply(gone, engine).then(
      () => null,
      (e: ServiceError) => e,
    );
    expect(err?.code).to.equal(Status.CANCELLED);
    expect(r.modelStep).to.equal(0);
    await r.apply(job('w', 2n ** 64n - 1n), engine);
    const copy = new StepRunner(model(), 8);
    copy.loadHistory(JSON.parse(JSON.stringify(r.history())));
    expect(copy.modelStep).to.equal(1);
    expect(copy.admit({ worker: 'w', stepId: 2n ** 64n - 1n }).kind).to.equal('replay');
    copy.resetHistory(7);
    expect(copy.modelStep).to.equal(7);
    expect(copy.admit({ worker: 'w', stepId: 2n ** 64n - 1n }).kind).to.equal('new');
  });
});
