// The client library's own behaviour: tensor forms and dtypes, weights delivered three ways (a map, into the
// caller's arrays, chunk by chunk), typed errors for misuse, deadlines and AbortSignal cancellation.

import { expect } from 'chai';
import { QstepError, toFloat32, toUint16 } from '../../client';
import { eventually, fingerprint, randomBf16, randomF32, startHarness } from './helpers';
import type { Harness } from './helpers';

describe('service: client library', function () {
  this.timeout(30_000);
  let h: Harness;
  const N = 300_000; // several chunks per tensor

  before(async () => {
    h = await startHarness();
    await h.client.createModel({
      name: 'c',
      parameters: [
        { name: 'f', shape: [N], dtype: 'fp32' },
        { name: 'h', shape: [1000], dtype: 'bf16' },
      ],
      optimizer: { name: 'sgd', lr: 0.1, betas: [0.9] },
    });
    // A bare Uint16Array takes the parameter's own dtype (bf16 here).
    await h.client.uploadParameters('c', { f: randomF32(N), h: randomBf16(1000) });
  });
  after(async () => {
    await h.close();
  });

  it('returns weights as a map, into caller arrays, or chunk by chunk: the same bytes', async () => {
    const grads = () => ({ f: randomF32(N, 0.01), h: { data: randomBf16(1000, 0.01), dtype: 'bf16' as const } });
    const a = await h.client.step('c', grads(), { returnWeights: true, workerId: 'x', stepId: 1 });
    const f = new Float32Array(N);
    const hb = new Uint16Array(1000);
    const b = await h.client.step('c', grads(), {
      returnWeights: true,
      workerId: 'x',
      stepId: 1,
      weightsInto: { f, h: hb },
    });
    expect(b.replayed).to.equal(true);
    expect(Buffer.compare(Buffer.from(f.buffer), a.weights.get('f')!.data)).to.equal(0);
    expect(Buffer.compare(Buffer.from(hb.buffer), a.weights.get('h')!.data)).to.equal(0);
    expect(b.weights.get('f')!.data.buffer).to.equal(f.buffer); // a view of the caller's memory
    const chunks = new Map<string, Buffer>([
      ['f', Buffer.alloc(4 * N)],
      ['h', Buffer.alloc(2000)],
    ]);
    let calls = 0;
    const c = await h.client.step('c', grads(), {
      returnWeights: true,
      workerId: 'x',
      stepId: 1,
      onWeights: (param, dtype, offset, data) => {
        calls++;
        expect(dtype).to.equal(param === 'f' ? 'fp32' : 'bf16');
        data.copy(chunks.get(param)!, offset);
      },
    });
    expect(calls).to.be.greaterThan(2);
    expect(c.weights.size).to.equal(0);
    expect(chunks.get('f')!.equals(a.weights.get('f')!.data)).to.equal(true);
    expect(toFloat32(a.weights.get('f')!)).to.have.length(N);
    expect(toUint16(a.weights.get('h')!)).to.have.length(1000);
    // Weights in another dtype than the parameter's.
    const d = await h.client.step('c', { f: randomF32(N, 0.01) }, { returnWeights: 'bf16' });
    expect(d.weights.get('f')!.dtype).to.equal('bf16');
    expect(d.weights.get('f')!.data.length).to.equal(2 * N);
    expect([...d.weights.keys()]).to.deep.equal(['f']);
  });

  it('refuses misuse with INVALID_ARGUMENT before anything is sent', async () => {
    const before = await fingerprint(h.client, 'c');
    for (const bad of [
      () => h.client.step('c', { f: Buffer.alloc(4 * N) }), // a Buffer needs a dtype
      () => h.client.step('c', { f: { data: randomF32(N), dtype: 'bf16' } }), // a Float32Array is fp32
      () => h.client.step('c', { f: { data: Buffer.alloc(7), dtype: 'fp32' } }), // not whole elements
      () => h.client.step('c', { f: randomF32(N) }, { returnWeights: true, weightsInto: { f: new Float32Array(10) } }),
    ]) {
      const err = await bad().catch((e: unknown) => e);
      expect(err).to.be.instanceOf(QstepError);
      expect((err as QstepError).codeName).to.equal('INVALID_ARGUMENT');
    }
    expect(await fingerprint(h.client, 'c')).to.equal(before);
  });

  it('an AbortSignal or a deadline while the step waits in the queue: CANCELLED / DEADLINE_EXCEEDED, nothing applied', async () => {
    const model = h.server.deps.registry.get('c');
    for (const how of ['abort', 'deadline'] as const) {
      const before = await fingerprint(h.client, 'c');
      let release!: () => void;
      const blocker = model.exclusive(() => new Promise<void>((r) => (release = r)));
      const ac = new AbortController();
      const p = h.client
        .step('c', { f: randomF32(N, 0.01) }, how === 'abort' ? { signal: ac.signal } : { deadlineMs: 400 })
        .catch((e: QstepError) => e);
      await eventually(() => model.queueDepth === 2, 5000, 'the step to wait in the queue');
      if (how === 'abort') ac.abort();
      const err = await p;
      expect((err as QstepError).codeName).to.equal(how === 'abort' ? 'CANCELLED' : 'DEADLINE_EXCEEDED');
      // The server drops the queued job as soon as it sees the cancellation, and frees the staged gradients.
      try {
        await eventually(() => h.server.deps.budget.inUse === 0, 5000, 'the server to drop the step');
      } finally {
        release();
      }
      await blocker;
      await eventually(() => model.queueDepth === 0, 5000, 'the queue to drain');
      expect(await fingerprint(h.client, 'c')).to.equal(before);
    }
  });

  it('a client that leaves after the engine started: the step completes once, and its retry replays it', async () => {
    const engine = h.server.deps.engine;
    const original = engine.step.bind(engine);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let reached = false;
    engine.step = async (items, policy) => {
      reached = true;
      await gate;
      return original(items, policy);
    };
    const stepBefore = (await h.client.describe('c')).models[0].modelStep;
    try {
      const ac = new AbortController();
      const p = h.client
        .step('c', { f: randomF32(N, 0.01) }, { signal: ac.signal, workerId: 'leaver', stepId: 5 })
        .catch((e: QstepError) => e);
      await eventually(() => reached, 5000, 'the step to reach the engine');
      ac.abort();
      expect(((await p) as QstepError).codeName).to.equal('CANCELLED');
    } finally {
      release();
      engine.step = original;
    }
    const model = h.server.deps.registry.get('c');
    await eventually(() => model.queueDepth === 0, 5000, 'the queue to drain');
    expect(model.modelStep).to.equal(stepBefore + 1);
    const retry = await h.client.step('c', { f: randomF32(N, 0.01) }, { workerId: 'leaver', stepId: 5 });
    expect(retry.replayed).to.equal(true);
    expect(retry.modelStep).to.equal(stepBefore + 1);
  });
});
