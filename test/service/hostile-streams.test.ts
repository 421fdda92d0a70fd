// Staging that cheap streams cannot hoard (issue 10, "Sixteen silent streams block everyone"): a Step header
// alone holds no staging, a stream whose first data does not come within --stream-grace-ms or that delivers below
// --stream-min-bytes-per-s is closed DEADLINE_EXCEEDED and returns what it held, and one connection's concurrent
// streams hold at most --staging-per-connection-mib. Real steps go through meanwhile; nothing else changes.

import { expect } from 'chai';
import type * as grpc from '@grpc/grpc-js';
import { connect } from '../../client';
import type { QstepClient } from '../../client';
import { bytesOf, eventually, fingerprint, randomF32, sleep, startHarness } from './helpers';
import type { Harness } from './helpers';

const N = 1 << 20; // 4 MiB of fp32 gradient per step
const MIB = 1024 * 1024;

function openStep(client: QstepClient) {
  const call = client.grpc.Step();
  let status: grpc.StatusObject | null = null;
  call.on('data', () => undefined);
  call.on('error', () => undefined);
  call.on('status', (s: grpc.StatusObject) => (status = s));
  return { call, status: () => status };
}

describe('service: hostile streams', function () {
  this.timeout(120_000);
  let h: Harness;
  const clients: QstepClient[] = [];

  before(async () => {
    // Budget for four 4 MiB steps (gradient + weights back): 16 reservations at the header would hold it all.
    h = await startHarness({
      stagingBudgetBytes: 40 * MIB,
      stagingWaitMs: 2000,
      streamGraceMs: 1500,
      streamMinBytesPerSecond: MIB,
    });
    for (const name of ['big', 'other']) {
      await h.client.createModel({
        name,
        parameters: [{ name: 'w', shape: [N], dtype: 'fp32' }],
        optimizer: { name: 'adam', lr: 0.01, weightDecay: 0.01 },
      });
      await h.client.uploadParameters(name, { w: randomF32(N) });
    }
  });
  after(async () => {
    for (const c of clients) c.close();
    await h.close();
  });

  it('16 header-only streams hold nothing, do not delay a real step, and are closed after the grace', async () => {
    const other = await fingerprint(h.client, 'other');
    const silent: ReturnType<typeof openStep>[] = [];
    for (let i = 0; i < 16; i++) {
      const c = connect(h.server.address);
      clients.push(c);
      const s = openStep(c);
      s.call.write({ header: { model: 'big', workerId: `silent${i}`, returnWeights: true } });
      silent.push(s);
    }
    await sleep(200);
    expect(h.server.deps.budget.inUse).to.equal(0);
    const r = await h.client.step('big', { w: randomF32(N, 0.1) }, { returnWeights: true });
    expect(r.skipped).to.equal(false);
    await eventually(() => silent.every((s) => s.status() !== null), 10_000, 'the silent streams to be closed');
    for (const s of silent) expect(s.status()!.details).to.contain('--stream-grace-ms');
    expect(silent.map((s) => s.status()!.code)).to.deep.equal(Array(16).fill(4)); // DEADLINE_EXCEEDED
    expect(await fingerprint(h.client, 'other')).to.equal(other);
  });

  it('a trickling stream is closed DEADLINE_EXCEEDED, returns its staging and changes nothing', async () => {
    const big = await fingerprint(h.client, 'big');
    const other = await fingerprint(h.client, 'other');
    const c = connect(h.server.address);
    clients.push(c);
    const s = openStep(c);
    s.call.write({ header: { model: 'big', workerId: 'trickle' } });
    const grad = bytesOf(randomF32(N, 0.1));
    let offset = 0;
    const timer = setInterval(() => {
      if (s.status()) return;
      s.call.write({
        gradient: { param: 'w', offset, dtype: 'DTYPE_FP32', data: grad.subarray(offset * 4, offset * 4 + 4) },
      });
      offset++;
    }, 100);
    try {
      await eventually(() => h.server.deps.budget.inUse > 0, 5000, 'the trickler to hold staging');
      // Meanwhile a real step goes through.
      await h.client.step('other', { w: randomF32(N, 0.1) });
      await eventually(() => s.status() !== null, 20_000, 'the trickler to be closed');
    } finally {
      clearInterval(timer);
    }
    expect(s.status()!.code).to.equal(4);
    expect(s.status()!.details).to.contain('--stream-min-bytes-per-s');
    await eventually(() => h.server.deps.budget.inUse === 0, 5000, 'the staging to come back');
    expect(await fingerprint(h.client, 'big')).to.equal(big);
    expect(await fingerprint(h.client, 'other')).to.not.equal(other); // the real step did apply
  });

  it('one connection holds at most its share: a second concurrent stream waits, then RESOURCE_EXHAUSTED', async () => {
    // Two streams on one HTTP/2 connection: gRPC only (a direct connection carries one call at a time).
    const h2 = await startHarness(
      {
        stagingBudgetBytes: 40 * MIB,
        stagingPerConnectionBytes: 10 * MIB,
        stagingWaitMs: 500,
        streamGraceMs: 20_000,
        streamMinBytesPerSecond: MIB,
      },
      { direct: false },
    );
    try {
      await h2.client.createModel({
        name: 'm',
        parameters: [{ name: 'w', shape: [N], dtype: 'fp32' }],
        optimizer: { name: 'sgd', lr: 0.1 },
      });
      await h2.client.uploadParameters('m', { w: randomF32(N) });
      const before = await fingerprint(h2.client, 'm');
      const first = openStep(h2.client);
      first.call.write({ header: { model: 'm', workerId: 'a', returnWeights: true } });
      first.call.write({ gradient: { param: 'w', offset: 0, dtype: 'DTYPE_FP32', data: Buffer.alloc(4, 1) } });
      await eventually(() => h2.server.deps.budget.inUse === 8 * MIB, 5000, 'the first stream to hold staging');
      const err = await h2.client.step('m', { w: randomF32(N, 0.1) }).then(
        () => null,
        (e: { codeName: string; details: string }) => e,
      );
      expect(err?.codeName).to.equal('RESOURCE_EXHAUSTED');
      expect(err?.details).to.contain('--staging-per-connection-mib');
      // Another connection is not limited by this one's share (a local subchannel pool: grpc-js would otherwise
      // share one connection between clients of the same address).
      const c = connect(h2.server.address, { channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
      clients.push(c);
      await c.step('m', { w: randomF32(N, 0.1) }, { workerId: 'b', stepId: 1 });
      first.call.cancel();
      await eventually(() => h2.server.deps.budget.inUse === 0, 5000, 'the staging to come back');
      expect(await fingerprint(h2.client, 'm')).to.not.equal(before);
    } finally {
      await h2.close();
    }
  });
});
