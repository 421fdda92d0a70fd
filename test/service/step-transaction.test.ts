// The step transaction (server/domain/step-runner.ts) seen from the wire: full uint64 step ids, and
// expected_model_step (a resynchronising client's guard). Every refusal leaves every model's fingerprint as it was.

import { expect } from 'chai';
import { QstepError } from '../../client';
import { fingerprint, randomF32, startHarness } from './helpers';
import type { Harness } from './helpers';

describe('service: step transaction', function () {
  this.timeout(60_000);
  let h: Harness;
  const N = 5000;

  before(async () => {
    h = await startHarness();
    for (const name of ['a', 'other']) {
      await h.client.createModel({
        name,
        parameters: [{ name: 'w', shape: [N], dtype: 'fp32' }],
        optimizer: { name: 'adam', lr: 0.01, weightDecay: 0.01 },
      });
      await h.client.uploadParameters(name, { w: randomF32(N) });
    }
  });
  after(async () => {
    await h.close();
  });

  const fail = (p: Promise<unknown>) =>
    p.then(
      () => {
        throw new Error('expected a failure');
      },
      (e: QstepError) => e,
    );

  it('takes step ids up to 2^64-1, keeps 2^64-1 and 2^64-2 apart, and replays each exactly', async () => {
    const max = 2n ** 64n - 1n;
    const other = await fingerprint(h.client, 'other');
    const s0 = (await h.client.describe('a')).models[0].modelStep;
    const r1 = await h.client.step('a', { w: randomF32(N, 0.01) }, { workerId: 'big', stepId: max - 1n });
    const r2 = await h.client.step('a', { w: randomF32(N, 0.01) }, { workerId: 'big', stepId: max });
    expect([r1.replayed, r2.replayed]).to.deep.equal([false, false]);
    expect(r2.modelStep).to.equal(s0 + 2);
    const again = await h.client.step('a', { w: randomF32(N, 0.01) }, { workerId: 'big', stepId: max.toString() });
    expect(again.replayed).to.equal(true);
    expect(again.modelStep).to.equal(s0 + 2);
    const again1 = await h.client.step('a', { w: randomF32(N, 0.01) }, { workerId: 'big', stepId: max - 1n });
    expect(again1.replayed).to.equal(true);
    expect(again1.modelStep).to.equal(s0 + 1);
    // 2^53 + 1 is not a double: it must not be confused with 2^53.
    const a = await h.client.step('a', { w: randomF32(N, 0.01) }, { workerId: 'mid', stepId: 2n ** 53n });
    const b = await h.client.step('a', { w: randomF32(N, 0.01) }, { workerId: 'mid', stepId: 2n ** 53n + 1n });
    expect([a.replayed, b.replayed]).to.deep.equal([false, false]);
    expect((await h.client.describe('a')).models[0].modelStep).to.equal(s0 + 4);
    expect(await fingerprint(h.client, 'other')).to.equal(other);
  });

  it('expected_model_step: runs when it matches; else FAILED_PRECONDITION naming the step, nothing changes', async () => {
    const cur = (await h.client.describe('a')).models[0].modelStep;
    const ok = await h.client.step(
      'a',
      { w: randomF32(N, 0.01) },
      { expectedModelStep: cur, workerId: 'e', stepId: 1 },
    );
    expect(ok.modelStep).to.equal(cur + 1);
    const before = await fingerprint(h.client, 'a');
    const other = await fingerprint(h.client, 'other');
    for (const wrong of [cur, cur + 5, 0]) {
      const err = await fail(
        h.client.step('a', { w: randomF32(N, 0.01) }, { expectedModelStep: wrong, workerId: 'e', stepId: 2 }),
      );
      expect(err.codeName).to.equal('FAILED_PRECONDITION');
      expect(err.details).to.contain(`(model_step=${cur + 1})`);
    }
    expect(await fingerprint(h.client, 'a')).to.equal(before);
    expect(await fingerprint(h.client, 'other')).to.equal(other);
    // A replay of the recorded id replays, whatever expected_model_step says now.
    const replay = await h.client.step(
      'a',
      { w: randomF32(N, 0.01) },
      { expectedModelStep: cur, workerId: 'e', stepId: 1 },
    );
    expect(replay.replayed).to.equal(true);
    expect(replay.modelStep).to.equal(cur + 1);
    expect(await fingerprint(h.client, 'a')).to.equal(before);
    // And the refused id was not recorded: it runs once the guard matches.
    const next = await h.client.step(
      'a',
      { w: randomF32(N, 0.01) },
      { expectedModelStep: cur + 1, workerId: 'e', stepId: 2 },
    );
    expect([next.replayed, next.modelStep]).to.deep.equal([false, cur + 2]);
  });
});
