// Many-tensor models (issue 10, "A model with many tensors half-succeeds"): replies never grow with the parameter
// count past the message limit. A 7,500-parameter model at the default flags: CreateModel answers (a summary and
// the first page), Describe pages, every other model stays describable, and `qstep stats` prints the first page.

import { expect } from 'chai';
import type { CreateModelResponse__Output } from '../../proto';
import { DEFAULT_PAGE_SIZE } from '../../server/domain/param-pages';
import { fingerprint, randomF32, startHarness } from './helpers';
import { runQstep } from '../helpers/serve-process';

function names(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `layers.${Math.floor(i / 64)}.experts.${i % 64}.w`);
}

describe('service: many-tensor models', function () {
  this.timeout(600_000);

  it('7,500 parameters at the default flags: CreateModel answers, Describe pages, other models unaffected', async () => {
    const h = await startHarness();
    try {
      await h.client.createModel({
        name: 'small',
        parameters: [{ name: 'w', shape: [100], dtype: 'fp32' }],
        optimizer: { name: 'sgd', lr: 0.1 },
      });
      await h.client.uploadParameters('small', { w: randomF32(100) });
      const before = await fingerprint(h.client, 'small');
      const list = names(7500);
      const created = await new Promise<CreateModelResponse__Output>((resolve, reject) => {
        h.client.grpc.CreateModel(
          {
            name: 'moe',
            parameters: list.map((name) => ({ name, shape: [4], dtype: 'DTYPE_FP32' })),
            optimizer: { optimizer: 'OPTIMIZER_ADAM', hyper: { lr: 0.01 } },
          },
          (err, res) => (err || !res ? reject(err) : resolve(res)),
        );
      });
      expect(created.summary?.paramCount).to.equal(7500);
      expect(created.model?.paramCount).to.equal(7500);
      expect(created.model?.params.length).to.be.at.most(DEFAULT_PAGE_SIZE);
      expect(created.model?.nextPageToken).to.not.equal('');
      // Every model of the server stays describable, and the pages of 'moe' add up to its parameters in order.
      const all = await h.client.describe();
      expect(all.models.map((m) => m.name).sort()).to.deep.equal(['moe', 'small']);
      const full = await h.client.describeAll('moe', { pageSize: 3000 });
      expect(full.models[0].params.map((p) => p.name)).to.deep.equal(list);
      const bad = await h.client.describe('small', { pageToken: '5:moe' }).then(
        () => null,
        (e: { codeName: string }) => e,
      );
      expect(bad?.codeName).to.equal('INVALID_ARGUMENT');
      const stats = await runQstep(['stats', 'moe', '-a', h.server.address], { timeoutMs: 120_000 });
      expect(stats.code).to.equal(0);
      expect(stats.stdout).to.contain('7500 parameters');
      expect(stats.stdout).to.contain('of 7500 shown');
      expect(await fingerprint(h.client, 'small')).to.equal(before);
    } finally {
      await h.close();
    }
  });
});
