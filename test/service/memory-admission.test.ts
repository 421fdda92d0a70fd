// Memory admission (issue 10, "Memory is promised, not checked"): --memory-limit parses bytes, sizes and
// percentages; a model that would pass the limit is refused RESOURCE_EXHAUSTED naming the numbers and the flag,
// freed at once, and nothing else changes; DeleteModel gives its memory back; ServerInfo reports the limit; the
// staging budget follows the memory the models leave on the CPU backend.

import { expect } from 'chai';
import type { QstepError } from '../../client';
import { DEFAULT_HOST_SHARE, hostMemoryBytes, parseMemoryLimit } from '../../server/domain/memory-admission';
import { fingerprint, randomF32, startHarness } from './helpers';

const MIB = 1024 * 1024;

describe('service: memory admission', function () {
  this.timeout(60_000);

  it('parses bytes, sizes and percentages; refuses anything else naming the flag', () => {
    const pool = 64 * 1024 * MIB;
    expect(parseMemoryLimit('', pool, DEFAULT_HOST_SHARE)).to.equal(48 * 1024 * MIB);
    expect(parseMemoryLimit('50%', pool, DEFAULT_HOST_SHARE)).to.equal(32 * 1024 * MIB);
    expect(parseMemoryLimit('16GiB', pool, DEFAULT_HOST_SHARE)).to.equal(16 * 1024 * MIB);
    expect(parseMemoryLimit('1.5g', pool, DEFAULT_HOST_SHARE)).to.equal(1.5 * 1024 * MIB);
    expect(parseMemoryLimit('2GB', pool, DEFAULT_HOST_SHARE)).to.equal(2e9);
    expect(parseMemoryLimit('123456', pool, DEFAULT_HOST_SHARE)).to.equal(123456);
    for (const bad of ['0', '-5', '150%', '0%', 'lots', '12 parsecs', 'x'.repeat(10_000)]) {
      expect(() => parseMemoryLimit(bad, pool, DEFAULT_HOST_SHARE), bad).to.throw(/--memory-limit/);
    }
    expect(hostMemoryBytes()).to.be.greaterThan(0);
  });

  it('a model over the limit: RESOURCE_EXHAUSTED with the numbers and the flag, freed, nothing else changed', async () => {
    const h = await startHarness({ memoryLimit: '64MiB' });
    try {
      const info = await h.client.serverInfo();
      expect(info.limits?.memoryLimitBytes).to.equal(64 * MIB);
      expect(info.limits?.stagingBudgetBytes).to.equal(32 * MIB); // follows the limit by default
      // 1M fp32 Adam: 4 MiB of values + 8 MiB of state.
      await h.client.createModel({
        name: 'a',
        parameters: [{ name: 'w', shape: [1 << 20], dtype: 'fp32' }],
        optimizer: { name: 'adam', lr: 0.01 },
      });
      await h.client.uploadParameters('a', { w: randomF32(1 << 20) });
      const before = await fingerprint(h.client, 'a');
      const held = (await h.client.serverInfo()).limits?.memoryHeldBytes ?? 0;
      expect(held).to.equal(12 * MIB);
      const err = await h.client
        .createModel({
          name: 'b',
          parameters: [{ name: 'w', shape: [5 << 20], dtype: 'fp32' }],
          optimizer: { name: 'adam', lr: 0.01 },
        })
        .then(
          () => null,
          (e: QstepError) => e,
        );
      expect(err?.codeName).to.equal('RESOURCE_EXHAUSTED');
      expect(err?.details).to.contain('--memory-limit');
      expect(err?.details).to.contain(String(60 * MIB)); // what it needs
      expect(err?.details).to.contain(String(12 * MIB)); // what is held
      expect((await h.client.listModels()).map((m) => m.name)).to.deep.equal(['a']);
      expect((await h.client.serverInfo()).limits?.memoryHeldBytes).to.equal(held);
      expect(await fingerprint(h.client, 'a')).to.equal(before);
      // What fits is accepted; Delete gives the memory back, and then the larger model fits.
      await h.client.createModel({
        name: 'c',
        parameters: [{ name: 'w', shape: [3 << 20], dtype: 'fp32' }],
        optimizer: { name: 'adam', lr: 0.01 },
      });
      await h.client.deleteModel('a');
      await h.client.deleteModel('c');
      expect((await h.client.serverInfo()).limits?.memoryHeldBytes).to.equal(0);
      await h.client.createModel({
        name: 'b',
        parameters: [{ name: 'w', shape: [5 << 20], dtype: 'fp32' }],
        optimizer: { name: 'sgd', lr: 0.01 },
      });
    } finally {
      await h.close();
    }
  });

  it('staging gets only what the models leave: a step that cannot fit any more is RESOURCE_EXHAUSTED', async () => {
    const h = await startHarness({ memoryLimit: '48MiB', stagingBudgetBytes: 32 * MIB, stagingWaitMs: 300 });
    try {
      // 2M fp32 SGD with momentum; a step stages 8 MiB of gradient + 8 MiB of weights.
      await h.client.createModel({
        name: 'a',
        parameters: [{ name: 'w', shape: [2 << 20], dtype: 'fp32' }],
        optimizer: { name: 'sgd', lr: 0.01, betas: [0.9] },
      });
      await h.client.uploadParameters('a', { w: randomF32(2 << 20) });
      await h.client.step('a', { w: randomF32(2 << 20, 0.1) }, { returnWeights: true });
      const before = await fingerprint(h.client, 'a');
      // 'b' leaves less room than the step needs (16 MiB): Adam holds 12 bytes per element.
      const room = 48 * MIB - ((await h.client.serverInfo()).limits?.memoryHeldBytes ?? 0);
      const numel = Math.ceil((room - 16 * MIB + MIB) / 12);
      await h.client.createModel({
        name: 'b',
        parameters: [{ name: 'w', shape: [numel], dtype: 'fp32' }],
        optimizer: { name: 'adam', lr: 0.01 },
      });
      const err = await h.client.step('a', { w: randomF32(2 << 20, 0.1) }, { returnWeights: true }).then(
        () => null,
        (e: QstepError) => e,
      );
      expect(err?.codeName).to.equal('RESOURCE_EXHAUSTED');
      expect(err?.details).to.contain('--memory-limit');
      await h.client.deleteModel('b');
      expect(await fingerprint(h.client, 'a')).to.equal(before);
      await h.client.step('a', { w: randomF32(2 << 20, 0.1) }, { returnWeights: true });
    } finally {
      await h.close();
    }
  });
});
