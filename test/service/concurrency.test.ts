// Several workers stepping one model at once: every step is applied exactly once, in some order. The order is
// read from each reply's model_step; replaying the same gradients in that order on an Engine driven directly
// must give byte-identical weights (Adam is order-sensitive, so a lost, doubled or torn step would show).

import { expect } from 'chai';
import { Engine } from '../../native/lib';
import { connect } from '../../client';
import type { StepReply } from '../../client';
import { bytesOf, randomF32, startHarness } from './helpers';
import type { Harness } from './helpers';

const SHAPES: Record<string, number> = { w: 20_000, v: 4096, b: 64 };

describe('service: concurrent workers', function () {
  this.timeout(60_000);
  let h: Harness;

  before(async () => {
    // A budget that fits two steps at a time: the others wait their turn for staging memory.
    h = await startHarness({ stagingBudgetBytes: 2 * 4 * (20_000 + 4096 + 64) + 1024 });
  });
  after(async () => {
    await h.close();
  });

  it('every step of 4 workers x 8 steps is applied exactly once, retries included', async () => {
    const init = new Map(Object.entries(SHAPES).map(([n, k]) => [n, randomF32(k)]));
    await h.client.createModel({
      name: 'shared',
      parameters: Object.entries(SHAPES).map(([name, n]) => ({ name, shape: [n], dtype: 'fp32' as const })),
      optimizer: { name: 'adam', lr: 1e-2, optimBits: 8, min8bitSize: 4096 },
    });
    await h.client.uploadParameters('shared', init);

    const applied: { reply: StepReply; grads: Map<string, Float32Array>; lr: number }[] = [];
    const workers = [0, 1, 2, 3].map(async (wk) => {
      const client = connect(h.server.address);
      try {
        for (let s = 1; s <= 8; s++) {
          const grads = new Map(Object.entries(SHAPES).map(([n, k]) => [n, randomF32(k, 0.1)]));
          const lr = (1e-2 * (1 + wk)) / s;
          const opts = { workerId: `worker-${wk}`, stepId: s, hyper: { lr } };
          // The first step of each worker is sent twice at once (a retry racing the original).
          const sends =
            s === 1
              ? [client.step('shared', grads, opts), client.step('shared', grads, opts)]
              : [client.step('shared', grads, opts)];
          const replies = await Promise.all(sends);
          const fresh = replies.filter((r) => !r.replayed);
          expect(fresh, `worker ${wk} step ${s}`).to.have.length(1);
          for (const r of replies.filter((x) => x.replayed)) expect(r.modelStep).to.equal(fresh[0].modelStep);
          applied.push({ reply: fresh[0], grads, lr });
        }
      } finally {
        client.close();
      }
    });
    await Promise.all(workers);

    const order = applied.map((a) => a.reply.modelStep).sort((a, b) => a - b);
    expect(order).to.deep.equal(Array.from({ length: 32 }, (_, i) => i + 1));
    const desc = (await h.client.describe('shared')).models[0];
    expect(desc.modelStep).to.equal(32);
    expect(desc.params.map((p) => p.step)).to.deep.equal([32, 32, 32]);

    const engine = Engine.open({
      backend: (process.env.QSTEP_BACKEND ?? 'cpu') as 'cpu' | 'cuda' | 'auto',
      threads: 2,
    });
    const direct = new Map(
      Object.entries(SHAPES).map(([name, n]) => [
        name,
        engine.createParam({
          name,
          shape: [n],
          dtype: 'fp32',
          config: { name: 'adam', lr: 1e-2, optimBits: 8, min8bitSize: 4096 },
        }),
      ]),
    );
    for (const [n, p] of direct) await p.write(0, bytesOf(init.get(n)!));
    for (const a of [...applied].sort((x, y) => x.reply.modelStep - y.reply.modelStep)) {
      await engine.step(
        [...direct].map(([n, p]) => ({
          param: p,
          grad: bytesOf(a.grads.get(n)!),
          gradDtype: 'fp32' as const,
          hyper: { lr: a.lr },
        })),
      );
    }
    const snap = await h.client.snapshot('shared', { state: 'none' });
    for (const [n, p] of direct) {
      expect(Buffer.compare(snap.tensors.get(n)!.data, await p.read()), n).to.equal(0);
      p.free();
    }
  });
});
