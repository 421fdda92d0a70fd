// Upload lanes (client/upload-lanes.ts, docs/service.md, Transport): K = 1, 2, 4 calls leave the same values as
// one call; a failed lane cancels the others and leaves the documented state (what was written stays, the model is
// not ready, sending the same values again completes it); a refused upload changes nothing; a retried upload whose
// lanes find the model completed by a sibling lane succeeds.

import { expect } from 'chai';
import { connect } from '../../client';
import type { QstepClient } from '../../client';
import { QstepError, Status } from '../../client/errors';
import { planLanes } from '../../client/lanes';
import { uploadOverLanes } from '../../client/upload-lanes';
import type { UploadResponse__Output } from '../../proto';
import { bytesOf, fingerprint, randomBf16, randomF32, startHarness } from './helpers';
import type { Harness } from './helpers';

const SHAPES = { a: 90_001, b: 40_000, c: 7 };

async function create(client: QstepClient, name: string): Promise<void> {
  await client.createModel({
    name,
    parameters: [
      { name: 'a', shape: [SHAPES.a], dtype: 'fp32' },
      { name: 'b', shape: [SHAPES.b], dtype: 'bf16' },
      { name: 'c', shape: [SHAPES.c], dtype: 'fp32' },
    ],
    optimizer: { name: 'adam', lr: 1e-3 },
  });
}

function freshValues(): Map<string, Float32Array | Uint16Array> {
  return new Map<string, Float32Array | Uint16Array>([
    ['c', randomF32(SHAPES.c)],
    ['a', randomF32(SHAPES.a)],
    ['b', randomBf16(SHAPES.b)],
  ]);
}

/** The model's weights as the server holds them, by parameter. */
async function weights(client: QstepClient, model: string): Promise<Map<string, Buffer>> {
  const snap = await client.snapshot(model, { weights: true, state: 'none' });
  return new Map([...snap.tensors].map(([name, t]) => [name, t.data]));
}

async function ready(client: QstepClient, model: string): Promise<boolean> {
  return (await client.describe(model)).models[0].ready;
}

async function code(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (err) {
    return (err as QstepError).code;
  }
  return Status.OK;
}

describe('service: upload lanes', function () {
  this.timeout(120_000);
  let h: Harness;

  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.close();
  });

  it('K = 1, 2, 4 upload calls leave exactly the values sent, over K connections', async () => {
    const values = freshValues();
    // UploadParameters calls the server starts (over either transport).
    const uploadsStarted = async () =>
      (await h.server.deps.metrics.started.get()).values
        .filter((v) => v.labels.grpc_method === 'UploadParameters')
        .reduce((n, v) => n + v.value, 0);
    for (const k of [1, 2, 4]) {
      const c = connect(h.server.address, { uploadLanes: k, laneMinBytes: 0, maxChunkBytes: 16 * 1024 });
      try {
        await create(h.client, `k${k}`);
        const started = await uploadsStarted();
        const res = await c.uploadParameters(`k${k}`, values);
        expect((await uploadsStarted()) - started, `calls for K = ${k}`).to.equal(k);
        expect(res.ready).to.equal(true);
        expect(res.pendingParams).to.deep.equal([]);
        expect(Number(res.bytes)).to.equal(4 * SHAPES.a + 2 * SHAPES.b + 4 * SHAPES.c);
        const held = await weights(h.client, `k${k}`);
        for (const [name, v] of values) {
          expect(Buffer.compare(held.get(name) as Buffer, bytesOf(v)), `${name}, K = ${k}`).to.equal(0);
        }
      } finally {
        c.close();
      }
    }
  });

  it('a failed lane cancels the others; what was written stays and sending the values again completes the model', async () => {
    const values = freshValues();
    // Lane 3 of 4 carries the tail of b, which is longer than the parameter: the server refuses that chunk.
    const bad = new Map(values);
    const longer = randomBf16(SHAPES.b + 1000);
    longer.set(values.get('b') as Uint16Array);
    bad.set('b', longer);
    const c = connect(h.server.address, { uploadLanes: 4, laneMinBytes: 0, maxChunkBytes: 16 * 1024 });
    try {
      await create(h.client, 'fail');
      let err: unknown = null;
      await c.uploadParameters('fail', bad).catch((e: unknown) => (err = e));
      expect(err).to.be.instanceOf(QstepError);
      expect((err as QstepError).code).to.equal(Status.INVALID_ARGUMENT);
      expect((err as QstepError).details).to.match(/outside \[0, 40000\)/);
      // Uploads are not atomic: the model is not ready (b's tail is missing), and Step is refused.
      expect(await ready(h.client, 'fail')).to.equal(false);
      expect(await code(h.client.step('fail', { a: randomF32(SHAPES.a) }))).to.equal(Status.FAILED_PRECONDITION);
      // The same values again, over lanes: ranges written by the failed attempt may be sent again.
      const res = await c.uploadParameters('fail', values);
      expect(res.ready).to.equal(true);
      const held = await weights(h.client, 'fail');
      for (const [name, v] of values) expect(Buffer.compare(held.get(name) as Buffer, bytesOf(v)), name).to.equal(0);
    } finally {
      c.close();
    }
  });

  it('an upload to a model that has all its values is refused on every lane and changes nothing', async () => {
    const c = connect(h.server.address, { uploadLanes: 4, laneMinBytes: 0, maxChunkBytes: 16 * 1024 });
    try {
      await create(h.client, 'full');
      await h.client.uploadParameters('full', freshValues());
      const before = await fingerprint(h.client, 'full');
      expect(await code(c.uploadParameters('full', freshValues()))).to.equal(Status.FAILED_PRECONDITION);
      expect(await fingerprint(h.client, 'full')).to.equal(before);
    } finally {
      c.close();
    }
  });

  it('a retried upload completes when lanes find the model completed by a sibling lane', async () => {
    const values = freshValues();
    const c = connect(h.server.address, { uploadLanes: 4, laneMinBytes: 0, maxChunkBytes: 16 * 1024 });
    try {
      await create(h.client, 'retry');
      // An earlier attempt wrote a and b but not c.
      await h.client.uploadParameters('retry', new Map([...values].filter(([n]) => n !== 'c')));
      expect(await ready(h.client, 'retry')).to.equal(false);
      // Lane 0 carries c (first in the map): it may complete the model while the other lanes still re-send a and b.
      const res = await c.uploadParameters('retry', values);
      expect(res.ready).to.equal(true);
      const held = await weights(h.client, 'retry');
      for (const [name, v] of values) expect(Buffer.compare(held.get(name) as Buffer, bytesOf(v)), name).to.equal(0);
    } finally {
      c.close();
    }
  });

  it('refuses uploadLanes outside [1, 64] when the client is made', () => {
    for (const bad of [0, 65, 1.5, Number.NaN]) {
      expect(() => connect(h.server.address, { uploadLanes: bad }), String(bad)).to.throw(
        TypeError,
        /uploadLanes must be an integer in \[1, 64\]/,
      );
    }
  });

  describe('uploadOverLanes (the merge of the lanes answers)', () => {
    const plans = planLanes([{ name: 'p', dtype: 'fp32', width: 4, bytes: Buffer.alloc(4 * 300) }], 3);
    const answer = (ready: boolean, chunks: number): UploadResponse__Output => ({
      model: 'm',
      chunks,
      bytes: chunks * 400,
      ready,
      pendingParams: ready ? [] : ['p'],
      pendingCount: ready ? 0 : 1,
    });
    const refused = () => new QstepError(Status.FAILED_PRECONDITION, 'model m already has all its values');

    it('sums the lanes; ready when the last lane to finish says so', async () => {
      const res = await uploadOverLanes('m', plans, undefined, false, async (lane) => {
        await new Promise((r) => setTimeout(r, 5 * lane.index));
        return answer(lane.index === 2, 1 + lane.index);
      });
      expect(res).to.deep.equal({
        model: 'm',
        chunks: 6,
        bytes: 2400,
        ready: true,
        pendingParams: [],
        pendingCount: 0,
      });
    });

    it('lanes refused FAILED_PRECONDITION count as done when the model was not ready before the upload', async () => {
      const seen: boolean[] = [];
      const res = await uploadOverLanes('m', plans, undefined, false, async (lane, signal) => {
        if (lane.index !== 1) throw refused();
        await new Promise((r) => setTimeout(r, 20));
        seen.push(signal.aborted);
        return answer(true, 3);
      });
      expect(seen).to.deep.equal([false]); // the refused lanes did not cancel the one that completes the model
      expect(res.ready).to.equal(true);
      expect(res.chunks).to.equal(3);
    });

    it('FAILED_PRECONDITION is the upload error when the model was ready before it', async () => {
      const all = uploadOverLanes('m', plans, undefined, true, async (lane) => {
        if (lane.index === 0) return answer(true, 1);
        throw refused();
      });
      expect(await code(all)).to.equal(Status.FAILED_PRECONDITION);
      // Not ready before, refused on every lane: the model became ready meanwhile.
      const meanwhile = await uploadOverLanes('m', plans, undefined, false, async () => {
        throw refused();
      });
      expect(meanwhile).to.deep.equal({
        model: 'm',
        chunks: 0,
        bytes: 0,
        ready: true,
        pendingParams: [],
        pendingCount: 0,
      });
    });

    it('any other failure cancels the other lanes and is the upload error', async () => {
      const aborted: number[] = [];
      const p = uploadOverLanes('m', plans, undefined, false, (lane, signal) => {
        if (lane.index === 1) return Promise.reject(new QstepError(Status.INVALID_ARGUMENT, 'bad chunk'));
        return new Promise<UploadResponse__Output>((_, reject) =>
          signal.addEventListener('abort', () => {
            aborted.push(lane.index);
            reject(new QstepError(Status.CANCELLED, 'cancelled'));
          }),
        );
      });
      let err: unknown = null;
      await p.catch((e: unknown) => (err = e));
      expect((err as QstepError).code).to.equal(Status.INVALID_ARGUMENT);
      expect(aborted.sort()).to.deep.equal([0, 2]);
    });

    it("the caller's abort cancels every lane", async () => {
      const ac = new AbortController();
      const p = uploadOverLanes(
        'm',
        plans,
        ac.signal,
        false,
        (_lane, signal) =>
          new Promise<UploadResponse__Output>((_, reject) =>
            signal.addEventListener('abort', () => reject(new QstepError(Status.CANCELLED, 'cancelled'))),
          ),
      );
      ac.abort();
      expect(await code(p)).to.equal(Status.CANCELLED);
    });
  });
});
