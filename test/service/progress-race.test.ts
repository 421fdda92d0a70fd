// Regression (issue 10, soak): a stream whose progress deadline had already passed when the server went to read
// its next message failed DEADLINE_EXCEEDED at once, and the read it had just started was left behind with nobody
// waiting on it. When the server then closed the call, that read failed with the call's own status object
// ({code: 4, details: 'stream too slow: ...'}), an unhandled rejection. The soak met it about once per 300
// trickling streams (a chunk arriving just after the deadline, before its timer ran). Here the wall clock is
// stepped past the deadline while the stream holds staging, so the next chunk always finds it passed.

import { expect } from 'chai';
import type * as grpc from '@grpc/grpc-js';
import { bytesOf, eventually, fingerprint, randomF32, sleep, startHarness } from './helpers';
import type { Harness } from './helpers';

const N = 1 << 16;

describe('service: a stream past its progress deadline', function () {
  this.timeout(60_000);
  let h: Harness;
  const realNow = Date.now;

  before(async () => {
    // The rule's timer (60 s) never fires in this test: only the clock step makes the deadline pass.
    h = await startHarness({ streamGraceMs: 60_000, streamMinBytesPerSecond: 1024 * 1024 });
    await h.client.createModel({
      name: 'm',
      parameters: [{ name: 'w', shape: [N], dtype: 'fp32' }],
      optimizer: { name: 'sgd', lr: 0.1 },
    });
    await h.client.uploadParameters('m', { w: randomF32(N) });
  });
  after(async () => {
    Date.now = realNow;
    await h.close();
  });

  it('is closed DEADLINE_EXCEEDED without an unhandled rejection, returns its staging and changes nothing', async () => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    try {
      const before = await fingerprint(h.client, 'm');
      const grad = bytesOf(randomF32(N, 0.1));
      const chunk = (i: number) => ({
        gradient: {
          param: 'w',
          offset: i * 1024,
          dtype: 'DTYPE_FP32' as const,
          data: grad.subarray(i * 4096, (i + 1) * 4096),
        },
      });
      for (let round = 0; round < 5; round++) {
        const call = h.client.grpc.Step();
        let status: grpc.StatusObject | null = null;
        call.on('data', () => undefined);
        call.on('error', () => undefined);
        call.on('status', (s: grpc.StatusObject) => (status = s));
        call.write({ header: { model: 'm', workerId: `late${round}` } });
        call.write(chunk(0));
        await eventually(() => h.server.deps.budget.inUse > 0, 5000, 'the stream to hold staging');
        // The clock steps past the deadline; the next chunk arrives before the rule's timer could run.
        const shift = 10 * 60_000;
        Date.now = () => realNow() + shift;
        try {
          call.write(chunk(1));
          await eventually(() => status !== null, 10_000, 'the stream to be closed');
        } finally {
          Date.now = realNow;
        }
        expect(status!.code).to.equal(4); // DEADLINE_EXCEEDED
        expect(status!.details).to.contain('stream too slow');
        call.end();
        await eventually(() => h.server.deps.budget.inUse === 0, 5000, 'the staging to come back');
      }
      // Unhandled rejections are reported after the microtask queue drains: give them a few turns.
      for (let i = 0; i < 5; i++) await sleep(20);
      expect(rejections.map((r) => JSON.stringify(r))).to.deep.equal([]);
      expect(await fingerprint(h.client, 'm')).to.equal(before);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });
});
