// Messages in parts (issue 10, "Many-tensor models"): a step of 10,000 parameters over two lanes, whose headers and
// results go in parts, with weights checked against a float64 SGD-with-momentum reference (docs/math.md §6.3); then
// the multi-part messages' bad inputs: each is INVALID_ARGUMENT (or CANCELLED) and changes nothing. The
// 100,000-parameter case end to end is test/large/many-params-100k.large.ts.

import { expect } from 'chai';
import type * as grpc from '@grpc/grpc-js';
import { connect } from '../../client';
import type { QstepClient } from '../../client';
import type { CreateModelRequest, CreateModelResponse__Output, StepResponse__Output } from '../../proto';
import { fingerprint, randomF32, rawStep, startHarness } from './helpers';
import { NUMEL, LR, MOMENTUM, names, SgdReference, expectClose, tensors } from './many-params-shared';

describe('service: a step of 10,000 parameters over two lanes', function () {
  this.timeout(600_000);

  it("splits each lane's header and result into parts; weights match the reference", async () => {
    const h = await startHarness();
    const lanes = connect(h.server.address, { lanes: 2, laneMinBytes: 0 });
    try {
      const n = 10_000;
      const list = names.slice(0, n);
      await h.client.createModel({
        name: 'moe',
        parameters: list.map((name) => ({ name, shape: [NUMEL], dtype: 'fp32' })),
        optimizer: { name: 'sgd', lr: LR, betas: [MOMENTUM] },
      });
      const init = list.map(() => randomF32(NUMEL));
      await h.client.uploadParameters('moe', tensors(init));
      const ref = new SgdReference(init);
      const grads = list.map(() => randomF32(NUMEL, 0.5));
      ref.step(grads);
      // Each lane's header names 5,000 gradients and slices (more than 256 KiB): it goes in parts.
      const r = await lanes.step('moe', tensors(grads), { workerId: 'w0', stepId: 1, returnWeights: true });
      expect(r.modelStep).to.equal(1);
      expect(r.params.map((p) => p.name)).to.deep.equal(list);
      for (let i = 0; i < n; i++) expectClose(r.weights.get(list[i])?.data, ref.p[i], `lanes ${list[i]}`);
      const again = await lanes.step('moe', tensors(grads), { workerId: 'w0', stepId: 1 });
      expect(again.replayed).to.equal(true);
      expect(again.params.length).to.equal(n);
    } finally {
      lanes.close();
      await h.close();
    }
  });
});

/**
 * Sends `parts` on a raw CreateModelStream (the first announcing their number unless it says otherwise); cancels
 * after them when asked; resolves with the status.
 */
function createInParts(
  c: QstepClient,
  parts: CreateModelRequest[],
  cancel = false,
): Promise<{ code: number; details: string; res?: CreateModelResponse__Output }> {
  return new Promise((resolve) => {
    const call = c.grpc.CreateModelStream((err: grpc.ServiceError | null, res?: CreateModelResponse__Output) =>
      resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '', res }),
    );
    parts.forEach((p, i) => call.write(i === 0 && p.parts === undefined ? { ...p, parts: parts.length } : p));
    if (cancel) setTimeout(() => call.cancel(), 200);
    else call.end();
  });
}

const spec = (from: number, to: number, prefix = 'p') =>
  Array.from({ length: to - from }, (_, i) => ({
    name: `${prefix}${from + i}`,
    shape: [1],
    dtype: 'DTYPE_FP32' as const,
  }));

describe('service: messages in parts, bad input', function () {
  this.timeout(120_000);

  it('CreateModelStream: bad parts are INVALID_ARGUMENT, a cancelled stream creates nothing', async () => {
    const h = await startHarness();
    try {
      const c = h.client;
      await c.createModel({
        name: 'other',
        parameters: [{ name: 'w', shape: [64], dtype: 'fp32' }],
        optimizer: { name: 'adam', lr: 1e-3 },
      });
      await c.uploadParameters('other', { w: randomF32(64) });
      const other = await fingerprint(c, 'other');
      const held = (await c.serverInfo()).limits?.memoryHeldBytes;
      const totals = JSON.stringify((await c.describe()).totals?.memory);
      const optimizer = { optimizer: 'OPTIMIZER_ADAM' as const, hyper: { lr: 0.01 } };
      const max = (await c.serverInfo()).limits?.maxParamsPerModel ?? 0;
      expect(max).to.equal(131_072);
      const cases: [string, CreateModelRequest[], string][] = [
        ['no part', [], 'empty CreateModelStream'],
        [
          'fewer parts than announced',
          [{ name: 'bad', optimizer, parameters: spec(0, 10), parts: 3 }, { parameters: spec(10, 20) }],
          'ended after 2 of the 3 parts',
        ],
        [
          'more parts than announced',
          [{ name: 'bad', optimizer, parameters: spec(0, 10), parts: 1 }, { parameters: spec(10, 20) }],
          'more than the 1 parts',
        ],
        [
          'no count announced',
          [{ name: 'bad', optimizer, parameters: spec(0, 10), parts: 0 }, { parameters: spec(10, 20) }],
          'expected parts in',
        ],
        [
          'an empty later part',
          [{ name: 'bad', optimizer, parameters: spec(0, 10) }, {}, { parameters: spec(10, 20) }],
          'is empty',
        ],
        [
          'a name repeated across parts',
          [
            { name: 'bad', optimizer, parameters: spec(0, 1000) },
            { parameters: spec(1000, 2000) },
            { parameters: spec(1999, 2001) },
          ],
          'appears twice',
        ],
        [
          'a name in a later part',
          [
            { name: 'bad', optimizer, parameters: spec(0, 10) },
            { name: 'bad', parameters: spec(10, 20) },
          ],
          'only the first part may',
        ],
        [
          'an optimizer in a later part',
          [
            { name: 'bad', optimizer, parameters: spec(0, 10) },
            { optimizer, parameters: spec(10, 20) },
          ],
          'only the first part may',
        ],
        [
          'an override set twice',
          [
            { name: 'bad', optimizer, parameters: spec(0, 10), overrides: { p1: { hyper: { lr: 0.1 } } } },
            { parameters: spec(10, 20), overrides: { p1: { hyper: { lr: 0.2 } } } },
          ],
          'given twice',
        ],
        [
          'an override for no parameter',
          [{ name: 'bad', optimizer, parameters: spec(0, 10) }, { overrides: { nope: { hyper: { lr: 0.2 } } } }],
          'not a parameter of the model',
        ],
        [
          'more parameters than the limit',
          [
            { name: 'bad', optimizer, parameters: spec(0, 30_000) },
            ...[1, 2, 3, 4].map((k) => ({ parameters: spec(k * 30_000, (k + 1) * 30_000) })),
          ],
          `at most ${max} parameters`,
        ],
      ];
      for (const [what, parts, says] of cases) {
        const r = await createInParts(c, parts);
        expect(r.code, what).to.equal(3); // INVALID_ARGUMENT
        expect(r.details, what).to.contain(says);
        expect(r.details.length, what).to.be.below(1000);
      }
      // Cancelled after two of three parts: nothing is created (grpc-js half-closes the stream it cancels).
      const cancelled = await createInParts(
        c,
        [{ name: 'ghost', optimizer, parameters: spec(0, 5000), parts: 3 }, { parameters: spec(5000, 10_000) }],
        true,
      );
      expect(cancelled.code).to.equal(1); // CANCELLED
      // The same parts, ended cleanly, do create the model (so the cases above failed for their own reason).
      const ok = await createInParts(c, [
        { name: 'fine', optimizer, parameters: spec(0, 5000) },
        { parameters: spec(5000, 10_000), overrides: { p9999: { hyper: { lr: 0.5 } } } },
      ]);
      expect(ok.code, ok.details).to.equal(0);
      expect(ok.res?.summary?.paramCount).to.equal(10_000);
      expect((await c.describeAll('fine')).models[0].overrides.p9999?.hyper?.lr).to.equal(0.5);
      await c.deleteModel('fine');

      expect((await c.listModels()).map((m) => m.name)).to.deep.equal(['other']);
      expect((await c.serverInfo()).limits?.memoryHeldBytes).to.equal(held);
      expect(JSON.stringify((await c.describe()).totals?.memory)).to.equal(totals);
      expect(await fingerprint(c, 'other')).to.equal(other);
    } finally {
      await h.close();
    }
  });

  it('Step and Restore headers in parts: missing, empty or surplus parts are INVALID_ARGUMENT', async () => {
    const h = await startHarness();
    try {
      const c = h.client;
      const params = ['a', 'b', 'c'];
      await c.createModel({
        name: 'm',
        parameters: params.map((name) => ({ name, shape: [8], dtype: 'fp32' })),
        optimizer: { name: 'sgd', lr: 0.1, betas: [0.9] },
      });
      await c.uploadParameters('m', Object.fromEntries(params.map((p) => [p, randomF32(8)])));
      const before = await fingerprint(c, 'm');
      const grad = (param: string) => ({ gradient: { param, offset: 0, data: Buffer.from(randomF32(8).buffer) } });
      const header = (parts: number) => ({
        header: { model: 'm', gradients: [{ param: 'a' }], headerParts: parts },
      });
      const cases: [string, object[], string][] = [
        ['a gradient before the announced part', [header(1), grad('a'), { commit: {} }], 'part 1 is missing'],
        ['an empty part', [header(1), { headerMore: {} }, grad('a'), { commit: {} }], 'is empty'],
        [
          'a part more than announced',
          [header(1), { headerMore: { gradients: [{ param: 'b' }] } }, { headerMore: { gradients: [{ param: 'c' }] } }],
          'got another header',
        ],
        [
          'more gradients than the model has parameters',
          [
            header(2),
            { headerMore: { gradients: [{ param: 'b' }, { param: 'c' }] } },
            { headerMore: { gradients: [{ param: 'a' }] } },
          ],
          'more than 3 gradients',
        ],
        [
          'a parameter twice across parts',
          [header(1), { headerMore: { gradients: [{ param: 'a' }] } }, grad('a'), { commit: {} }],
          'twice',
        ],
        [
          'lane slices without a lane',
          [header(1), { headerMore: { laneSlices: [{ param: 'a', offset: 0, count: 8 }] } }],
          'without a lane',
        ],
      ];
      for (const [what, msgs, says] of cases) {
        const r = await rawStep(c, msgs as never);
        expect(r.code, what).to.equal(3);
        expect(r.details, what).to.contain(says);
        expect(await fingerprint(c, 'm'), what).to.equal(before);
      }
      // The same header in parts, complete, steps: a, then b and c from the continuation.
      const good = await rawStep(c, [
        header(1),
        { headerMore: { gradients: [{ param: 'b' }, { param: 'c' }] } },
        ...params.map(grad),
        { commit: { chunkCount: 3 } },
      ] as never);
      expect(good.code, good.details).to.equal(0);
      const result = good.responses.find((m: StepResponse__Output) => m.result)?.result;
      expect(result?.params.map((p) => p.name)).to.deep.equal(params);

      // Restore: a header announcing a part that never comes.
      const snap = await c.snapshot('m', { state: 'raw' });
      const fp = await fingerprint(c, 'm');
      const restore = (msgs: object[]) =>
        new Promise<{ code: number; details: string }>((resolve) => {
          const call = c.grpc.Restore((err: grpc.ServiceError | null) =>
            resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '' }),
          );
          for (const m of msgs) call.write(m);
          call.end();
        });
      const head = { header: { model: 'm', snapshot: { ...snap.header, headerParts: 1 } } };
      const data = { data: { tensor: 0, byteOffset: 0, data: snap.tensors.get('a')!.data } };
      for (const [what, msgs, says] of [
        ['data before the announced part', [head, data], 'part 1 is missing'],
        ['an empty part', [head, { headerMore: {} }, data], 'is empty'],
        ['a surplus part', [{ header: { model: 'm', snapshot: snap.header } }, { headerMore: {} }], 'another header'],
      ] as [string, object[], string][]) {
        const r = await restore(msgs);
        expect(r.code, what).to.equal(3);
        expect(r.details, what).to.contain(says);
        expect(await fingerprint(c, 'm'), what).to.equal(fp);
      }
    } finally {
      await h.close();
    }
  });
});
