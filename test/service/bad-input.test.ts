// Bad input: each case is answered with the status of the one table (server/errors.ts) and leaves the model's
// fingerprint (weights, raw state, step counters) byte-identical.

import { expect } from 'chai';
import { status as Status } from '@grpc/grpc-js';
import type { StepRequest } from '../../proto';
import { QstepError, connect } from '../../client';
import { bytesOf, eventually, fingerprint, randomF32, rawStep, startHarness } from './helpers';
import type { Harness } from './helpers';

const N_W = 6000;
const N_B = 300;

function header(extra: Partial<NonNullable<StepRequest['header']>> = {}): StepRequest {
  return { header: { model: 'm', workerId: 'bad', ...extra } };
}

function grad(param: string, offset: number, data: Buffer, dtype = 'DTYPE_FP32'): StepRequest {
  return { gradient: { param, offset, dtype: dtype as 'DTYPE_FP32', data } };
}

function fullGrads(): StepRequest[] {
  return [grad('w', 0, bytesOf(randomF32(N_W, 0.1))), grad('b', 0, bytesOf(randomF32(N_B, 0.1)))];
}

async function expectCode(p: Promise<unknown>, code: Status): Promise<QstepError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(QstepError);
    expect((err as QstepError).codeName).to.equal(Status[code]);
    return err as QstepError;
  }
  throw new Error(`expected ${Status[code]}, the call succeeded`);
}

describe('service: bad input changes nothing', function () {
  this.timeout(30_000);
  let h: Harness;
  let before: string;

  beforeEach(async () => {
    h = await startHarness({ stagingWaitMs: 200 });
    await h.client.createModel({
      name: 'm',
      parameters: [
        { name: 'w', shape: [60, 100], dtype: 'fp32' },
        { name: 'b', shape: [N_B], dtype: 'fp32' },
      ],
      optimizer: { name: 'adam', lr: 1e-2, optimBits: 8, min8bitSize: 1024 },
    });
    await h.client.uploadParameters('m', { w: randomF32(N_W), b: randomF32(N_B) });
    await h.client.step('m', { w: randomF32(N_W, 0.1), b: randomF32(N_B, 0.1) }); // state is not all zeros
    before = await fingerprint(h.client, 'm');
  });

  afterEach(async () => {
    try {
      // The staging budget is whole again: nothing leaked from the failed stream.
      await eventually(() => h.server.deps.budget.inUse === 0, 5000, 'staging to drain');
      if (h.server.deps.registry.list().some((m) => m.name === 'm')) {
        expect(await fingerprint(h.client, 'm')).to.equal(before);
      }
    } finally {
      await h.close();
    }
  });

  const cases: [string, () => StepRequest[], Status][] = [
    ['unknown model', () => [header({ model: 'nope' }), ...fullGrads(), { commit: {} }], Status.NOT_FOUND],
    [
      'unknown parameter in the header',
      () => [header({ gradients: [{ param: 'zz' }] }), { commit: {} }],
      Status.NOT_FOUND,
    ],
    [
      'unknown parameter in a chunk',
      () => [header(), grad('zz', 0, bytesOf(randomF32(4))), ...fullGrads(), { commit: {} }],
      Status.NOT_FOUND,
    ],
    [
      'a chunk for a parameter the header did not announce',
      () => [header({ gradients: [{ param: 'w' }] }), ...fullGrads(), { commit: {} }],
      Status.INVALID_ARGUMENT,
    ],
    [
      'wrong dtype (chunk fp16, announced fp32)',
      () => [header(), grad('w', 0, bytesOf(randomF32(N_W / 2, 0.1)), 'DTYPE_FP16'), { commit: {} }],
      Status.INVALID_ARGUMENT,
    ],
    [
      'unknown dtype value',
      () => [header(), grad('w', 0, bytesOf(randomF32(4)), 7 as unknown as string), { commit: {} }],
      Status.INVALID_ARGUMENT,
    ],
    [
      'byte length not a multiple of the dtype',
      () => [header(), grad('w', 0, Buffer.alloc(6, 1)), { commit: {} }],
      Status.INVALID_ARGUMENT,
    ],
    [
      'chunk offset out of range',
      () => [header(), grad('b', N_B - 2, bytesOf(randomF32(4))), { commit: {} }],
      Status.INVALID_ARGUMENT,
    ],
    [
      'overlapping chunks',
      () => {
        const g = bytesOf(randomF32(N_W, 0.1));
        return [header(), grad('w', 0, g.subarray(0, 4000)), grad('w', 900, g.subarray(3600)), { commit: {} }];
      },
      Status.INVALID_ARGUMENT,
    ],
    [
      'chunks missing at commit',
      () => {
        const g = bytesOf(randomF32(N_W, 0.1));
        return [header(), grad('w', 0, g.subarray(0, 4000)), grad('b', 0, bytesOf(randomF32(N_B))), { commit: {} }];
      },
      Status.INVALID_ARGUMENT,
    ],
    ['no commit before the stream ends', () => [header(), ...fullGrads()], Status.INVALID_ARGUMENT],
    [
      'chunk count differs at commit',
      () => [header(), ...fullGrads(), { commit: { chunkCount: 3 } }],
      Status.DATA_LOSS,
    ],
    ['a gradient before the header', () => [...fullGrads(), { commit: {} }], Status.INVALID_ARGUMENT],
    ['a second header', () => [header(), header(), ...fullGrads(), { commit: {} }], Status.INVALID_ARGUMENT],
    [
      'a chunk over max_chunk_bytes',
      () => [header(), grad('w', 0, Buffer.alloc(1024 * 1024 + 4, 0)), { commit: {} }],
      Status.RESOURCE_EXHAUSTED,
    ],
    [
      'a message over the limit',
      () => [header(), grad('w', 0, Buffer.alloc(2 * 1024 * 1024, 0)), { commit: {} }],
      Status.RESOURCE_EXHAUSTED,
    ],
    [
      'negative lr in the step header',
      () => [header({ hyper: { lr: -1 } }), ...fullGrads(), { commit: {} }],
      Status.INVALID_ARGUMENT,
    ],
    [
      'beta >= 1 in the step header',
      () => [header({ hyper: { betas: [0.9, 1] } }), ...fullGrads(), { commit: {} }],
      Status.INVALID_ARGUMENT,
    ],
    [
      'NaN lr for one parameter',
      () => [header({ paramHyper: { b: { lr: NaN } } }), ...fullGrads(), { commit: {} }],
      Status.INVALID_ARGUMENT,
    ],
    [
      'param_hyper for a parameter outside the step',
      () => [header({ gradients: [{ param: 'w' }], paramHyper: { b: { lr: 1 } } }), { commit: {} }],
      Status.INVALID_ARGUMENT,
    ],
    [
      'a parameter announced twice',
      () => [header({ gradients: [{ param: 'w' }, { param: 'w' }] }), { commit: {} }],
      Status.INVALID_ARGUMENT,
    ],
  ];

  for (const [name, messages, code] of cases) {
    it(`${name}: ${Status[code]}`, async () => {
      const out = await rawStep(h.client, messages());
      expect(out.code, out.details).to.equal(code);
      expect(out.responses.filter((r) => r.result)).to.have.length(0);
    });
  }

  it('NaN gradients under policy skip: OK, skipped, named, nothing changed', async () => {
    const g = randomF32(N_W, 0.1);
    g[1234] = NaN;
    const r = await h.client.step('m', { w: g, b: randomF32(N_B, 0.1) }, { nonFinite: 'skip' });
    expect(r.skipped).to.equal(true);
    expect(r.nonFinite).to.deep.equal(['w']);
    expect(r.modelStep).to.equal(1);
    expect(r.params.map((p) => p.step)).to.deep.equal([1, 1]);
  });

  it('Inf gradients under policy error: INVALID_ARGUMENT', async () => {
    const b = randomF32(N_B, 0.1);
    b[7] = -Infinity;
    const err = await expectCode(
      h.client.step('m', { w: randomF32(N_W, 0.1), b }, { nonFinite: 'error' }),
      Status.INVALID_ARGUMENT,
    );
    expect(err.details).to.match(/finite|NaN|Inf/i);
  });

  // Gradients sent in many chunks are staged in GradientBuffers and checked as they arrive (not by the step):
  // a NaN or Inf in any chunk, first or last, is caught the same way, and a clean step after it applies normally.
  for (const [where, policy] of [
    ['first', 'skip'],
    ['last', 'error'],
  ] as const) {
    it(`a non-finite value in the ${where} of many chunks under policy ${policy}: nothing changed`, async () => {
      const chunked = connect(h.server.address, { maxChunkBytes: 4096 });
      try {
        const w = randomF32(N_W, 0.1);
        w[where === 'first' ? 5 : N_W - 3] = where === 'first' ? NaN : Infinity;
        const call = chunked.step('m', { w, b: randomF32(N_B, 0.1) }, { nonFinite: policy });
        if (policy === 'skip') {
          const r = await call;
          expect(r.skipped).to.equal(true);
          expect(r.nonFinite).to.deep.equal(['w']);
        } else {
          const err = await expectCode(call, Status.INVALID_ARGUMENT);
          expect(err.details).to.match(/finite|NaN|Inf/i);
        }
        expect(await fingerprint(h.client, 'm')).to.equal(before);
        // The pooled buffer that saw the bad value is reset and serves the next step, which applies normally.
        const ok = await chunked.step('m', { w: randomF32(N_W, 0.1), b: randomF32(N_B, 0.1) }, { nonFinite: 'error' });
        expect(ok.skipped).to.equal(false);
        expect(ok.modelStep).to.equal(2);
        before = await fingerprint(h.client, 'm');
      } finally {
        chunked.close();
      }
    });
  }

  it('a duplicate step id returns the recorded outcome without applying again', async () => {
    const grads = { w: randomF32(N_W, 0.1), b: randomF32(N_B, 0.1) };
    const first = await h.client.step('m', grads, { workerId: 'w1', stepId: 7, returnWeights: true });
    expect(first.replayed).to.equal(false);
    before = await fingerprint(h.client, 'm'); // after the one application
    const again = await h.client.step(
      'm',
      { w: randomF32(N_W, 0.1), b: randomF32(N_B, 0.1) },
      { workerId: 'w1', stepId: 7, returnWeights: true },
    );
    expect(again.replayed).to.equal(true);
    expect(again.modelStep).to.equal(first.modelStep);
    expect(again.params).to.deep.equal(first.params);
    expect(Buffer.compare(again.weights.get('w')!.data, first.weights.get('w')!.data)).to.equal(0);
  });

  it('a step id below an evicted one is stale: FAILED_PRECONDITION', async () => {
    await h.close();
    h = await startHarness({ idempotencyWindow: 2 });
    await h.client.createModel({
      name: 'm',
      parameters: [
        { name: 'w', shape: [60, 100], dtype: 'fp32' },
        { name: 'b', shape: [N_B], dtype: 'fp32' },
      ],
      optimizer: { name: 'sgd', lr: 0.1, betas: [0.9] },
    });
    await h.client.uploadParameters('m', { w: randomF32(N_W), b: randomF32(N_B) });
    for (const id of [1, 2, 3, 4])
      await h.client.step('m', { w: randomF32(N_W), b: randomF32(N_B) }, { workerId: 'x', stepId: id });
    before = await fingerprint(h.client, 'm');
    await expectCode(
      h.client.step('m', { w: randomF32(N_W), b: randomF32(N_B) }, { workerId: 'x', stepId: 2 }),
      Status.FAILED_PRECONDITION,
    );
    const r = await h.client.step('m', { w: randomF32(N_W), b: randomF32(N_B) }, { workerId: 'x', stepId: 4 });
    expect(r.replayed).to.equal(true);
  });

  it('a step before the upload completes: FAILED_PRECONDITION', async () => {
    await h.client.createModel({
      name: 'partial',
      parameters: [
        { name: 'w', shape: [1000], dtype: 'fp32' },
        { name: 'b', shape: [10], dtype: 'fp32' },
      ],
      optimizer: { name: 'lion' },
    });
    const w = randomF32(1000);
    const up = await h.client.uploadParameters('partial', { w: w.subarray(0, 600) });
    expect(up.ready).to.equal(false);
    expect(up.pendingParams).to.deep.equal(['w', 'b']);
    const partialBefore = await fingerprint(h.client, 'partial');
    await expectCode(h.client.step('partial', { w: randomF32(1000), b: randomF32(10) }), Status.FAILED_PRECONDITION);
    expect(await fingerprint(h.client, 'partial')).to.equal(partialBefore);
    // The rest arrives in another call; ranges of an earlier call may be sent again (a retry)...
    const rest = await h.client.uploadParameters('partial', new Map([['w', w]]));
    expect(rest.pendingParams).to.deep.equal(['b']);
    // ...but chunks of one call must not overlap.
    const overlap = await new Promise<number>((resolve) => {
      const call = h.client.grpc.UploadParameters((err) => resolve(err?.code ?? 0));
      call.write({ header: { model: 'partial' } });
      call.write({ chunk: { param: 'b', offset: 0, data: bytesOf(randomF32(6)) } });
      call.write({ chunk: { param: 'b', offset: 4, data: bytesOf(randomF32(6)) } });
      call.end();
    });
    expect(overlap).to.equal(Status.INVALID_ARGUMENT);
    const done = await h.client.uploadParameters('partial', { b: randomF32(10) });
    expect(done.ready).to.equal(true);
    await expectCode(h.client.uploadParameters('partial', { b: randomF32(10) }), Status.FAILED_PRECONDITION);
    const r = await h.client.step('partial', { w: randomF32(1000), b: randomF32(10) });
    expect(r.modelStep).to.equal(1);
  });

  it('malformed model configurations are refused at creation', async () => {
    const base = { parameters: [{ name: 'p', shape: [10], dtype: 'fp32' as const }] };
    await expectCode(
      h.client.createModel({ ...base, name: 'n1', optimizer: { name: 'adam', lr: -1 } }),
      Status.INVALID_ARGUMENT,
    );
    await expectCode(
      h.client.createModel({ ...base, name: 'n2', optimizer: { name: 'adam', betas: [0.9, 1.0] } }),
      Status.INVALID_ARGUMENT,
    );
    await expectCode(
      h.client.createModel({ ...base, name: 'n3', optimizer: { name: 'adam', blockSize: 100 } }),
      Status.INVALID_ARGUMENT,
    );
    await expectCode(
      h.client.createModel({ ...base, name: 'n4', optimizer: { name: 'adam' }, overrides: { q: { lr: 1 } } }),
      Status.INVALID_ARGUMENT,
    );
    await expectCode(
      h.client.createModel({ ...base, name: 'bad name!', optimizer: { name: 'adam' } }),
      Status.INVALID_ARGUMENT,
    );
    await expectCode(
      h.client.createModel({
        name: 'n5',
        parameters: [{ name: 'p', shape: [0], dtype: 'fp32' }],
        optimizer: { name: 'adam' },
      }),
      Status.INVALID_ARGUMENT,
    );
    await expectCode(
      h.client.createModel({
        name: 'n6',
        parameters: [{ name: '__x', shape: [1], dtype: 'fp32' }],
        optimizer: { name: 'adam' },
      }),
      Status.INVALID_ARGUMENT,
    );
    await expectCode(
      h.client.createModel({
        name: 'n7',
        parameters: [
          { name: 'p', shape: [2], dtype: 'fp32' },
          { name: 'p', shape: [2], dtype: 'fp32' },
        ],
        optimizer: { name: 'adam' },
      }),
      Status.INVALID_ARGUMENT,
    );
    await expectCode(h.client.createModel({ ...base, name: 'm', optimizer: { name: 'adam' } }), Status.ALREADY_EXISTS);
    const raw = await new Promise<{ code: number }>((resolve) =>
      h.client.grpc.CreateModel(
        { name: 'n8', parameters: [{ name: 'p', shape: [1], dtype: 'DTYPE_FP32' }], optimizer: {} },
        (err) => resolve({ code: err?.code ?? 0 }),
      ),
    );
    expect(raw.code).to.equal(Status.INVALID_ARGUMENT);
    expect((await h.client.listModels()).map((m) => m.name)).to.deep.equal(['m']);
  });

  it('a step whose staging can never fit the budget: RESOURCE_EXHAUSTED', async () => {
    await h.close();
    // Room for the weights (a weights-only snapshot) but not for gradients plus returned weights.
    h = await startHarness({ stagingBudgetBytes: 6 * N_W });
    await h.client.createModel({
      name: 'm',
      parameters: [{ name: 'w', shape: [60, 100], dtype: 'fp32' }],
      optimizer: { name: 'adam' },
    });
    await h.client.uploadParameters('m', { w: randomF32(N_W) });
    const weights = async () => (await h.client.snapshot('m', { state: 'none' })).tensors.get('w')!.data;
    const w0 = await weights();
    const err = await expectCode(
      h.client.step('m', { w: randomF32(N_W) }, { returnWeights: true }),
      Status.RESOURCE_EXHAUSTED,
    );
    expect(err.details).to.match(/budget/);
    expect(Buffer.compare(await weights(), w0)).to.equal(0);
    expect((await h.client.describe('m')).models[0].params[0].step).to.equal(0);
    const ok = await h.client.step('m', { w: randomF32(N_W) }); // without weights back it fits
    expect(ok.modelStep).to.equal(1);
    await h.client.deleteModel('m'); // its fingerprint (raw state) would not fit this budget
  });

  it('a stream cancelled half-way changes nothing and frees its staging', async () => {
    const ac = new AbortController();
    const big = randomF32(N_W, 0.1);
    const call = h.client.grpc.Step();
    const status = new Promise<number>((resolve) => {
      call.on('error', (e: { code: number }) => resolve(e.code));
      call.on('status', (s: { code: number }) => resolve(s.code));
      call.on('data', () => undefined);
    });
    call.write({ header: { model: 'm' } });
    call.write({ gradient: { param: 'w', offset: 0, data: bytesOf(big).subarray(0, 12000) } });
    await eventually(() => h.server.deps.budget.inUse > 0, 5000, 'the step to reserve staging');
    ac.abort();
    call.cancel();
    expect(await status).to.equal(Status.CANCELLED);
  });

  it('a restore that does not fit is refused whole', async () => {
    await h.client.createModel({
      name: 'other',
      parameters: [
        { name: 'w', shape: [60, 100], dtype: 'fp32' },
        { name: 'b', shape: [N_B], dtype: 'fp32' },
      ],
      optimizer: { name: 'adam', lr: 1e-2 },
    });
    const snap = await h.client.snapshot('other', { state: 'raw' });
    // fp32 state into the blockwise8 model: FAILED_PRECONDITION, weights untouched too.
    await expectCode(h.client.restore('m', snap), Status.FAILED_PRECONDITION);
    const deq = await h.client.snapshot('m', { state: 'dequantized' });
    await expectCode(h.client.restore('m', deq), Status.INVALID_ARGUMENT);
    const own = await h.client.snapshot('m', { state: 'raw' });
    const w = own.tensors.get('w')!;
    const truncated = { header: own.header, tensors: new Map(own.tensors) };
    truncated.tensors.set('w', { desc: w.desc, data: w.data.subarray(0, 100) });
    await expectCode(h.client.restore('m', truncated), Status.INVALID_ARGUMENT);
    const badShape = {
      ...own,
      header: {
        ...own.header,
        tensors: own.header.tensors.map((t) => (t.name === 'w' ? { ...t, shape: [100, 60] } : t)),
      },
    };
    await expectCode(h.client.restore('m', badShape), Status.FAILED_PRECONDITION);
    const unknown = {
      ...own,
      header: { ...own.header, tensors: own.header.tensors.map((t) => (t.name === 'b' ? { ...t, param: 'q' } : t)) },
    };
    await expectCode(h.client.restore('m', unknown), Status.NOT_FOUND);
  });

  it('a second concurrent Restore of one model: ABORTED', async () => {
    const snap = await h.client.snapshot('m', { state: 'raw' });
    const call = h.client.grpc.Restore(() => undefined);
    call.write({ header: { model: 'm', snapshot: snap.header } });
    await eventually(() => h.server.deps.registry.get('m').restoreInFlight, 5000, 'the first restore to start');
    await expectCode(h.client.restore('m', snap), Status.ABORTED);
    call.cancel();
  });

  it('deleting a model while a step runs: the step completes or fails NOT_FOUND, nothing else is touched', async () => {
    await h.client.createModel({
      name: 'big',
      parameters: [{ name: 'w', shape: [1024, 1024], dtype: 'fp32' }],
      optimizer: { name: 'adam', optimBits: 8 },
    });
    await h.client.uploadParameters('big', { w: randomF32(1 << 20) });
    const engine = h.server.deps.engine;
    const original = engine.step.bind(engine);
    let entered!: () => void;
    const inStep = new Promise<void>((r) => (entered = r));
    engine.step = (items, policy) => {
      entered();
      return original(items, policy);
    };
    const stepping = h.client.step('big', { w: randomF32(1 << 20, 0.1) }, { returnWeights: true }).then(
      (r) => ({ ok: true, code: 'OK', r }),
      (e: QstepError) => ({ ok: false, code: e.codeName, r: null }),
    );
    await inStep;
    const del = await h.client.deleteModel('big');
    expect(del.freedBytes).to.be.greaterThan(4 * (1 << 20));
    const out = await stepping;
    expect(['OK', 'NOT_FOUND']).to.include(out.code);
    engine.step = original;
    await expectCode(h.client.describe('big'), Status.NOT_FOUND);
    await expectCode(h.client.step('big', { w: randomF32(1 << 20) }), Status.NOT_FOUND);
    expect((await h.client.listModels()).map((m) => m.name)).to.deep.equal(['m']);
    // The name can be used again, from scratch.
    const again = await h.client.createModel({
      name: 'big',
      parameters: [{ name: 'w', shape: [4], dtype: 'fp32' }],
      optimizer: { name: 'adam' },
    });
    expect(again.modelStep).to.equal(0);
  });
});
