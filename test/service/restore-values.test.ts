// Restore validates state values, not only shapes (issue 10, "Poisoned state is accepted"): a snapshot whose
// fp32 state holds NaN/Inf, whose second moment is negative, or whose 8-bit scales are NaN or negative is
// INVALID_ARGUMENT, and neither the target nor any other model changes. A fresh parameter's zero scales and the
// untouched snapshot still restore.

import { expect } from 'chai';
import type { QstepError, Snapshot } from '../../client';
import { fingerprint, randomF32, startHarness } from './helpers';
import type { Harness } from './helpers';

describe('service: restore validates state values', function () {
  this.timeout(60_000);
  let h: Harness;
  const N = 3000;
  const models: Record<string, { name: string; optimBits?: number; blockWise?: boolean }> = {
    f32: { name: 'adam' },
    bw8: { name: 'adam', optimBits: 8, blockWise: true },
    st8: { name: 'adam', optimBits: 8, blockWise: false },
    rms: { name: 'rmsprop' },
  };

  before(async () => {
    h = await startHarness();
    for (const [model, o] of Object.entries(models)) {
      await h.client.createModel({
        name: model,
        parameters: [{ name: 'w', shape: [N], dtype: 'fp32' }],
        optimizer: { ...o, lr: 0.01, weightDecay: 0.01, min8bitSize: 0 } as never,
      });
      await h.client.uploadParameters(model, { w: randomF32(N) });
      for (let i = 0; i < 2; i++) await h.client.step(model, { w: randomF32(N, 0.1) });
    }
  });
  after(async () => {
    await h.close();
  });

  /** A copy of `snap` with one f32 value of state tensor `key` set to `v`. */
  function poisoned(snap: Snapshot, key: string, v: number): Snapshot {
    const tensors = new Map(snap.tensors);
    const entry = [...tensors.values()].find((t) => t.desc.stateKey === key);
    if (!entry) throw new Error(`no state ${key} in the snapshot`);
    const data = Buffer.from(entry.data);
    const at = Math.floor(Math.random() * (data.length / 4));
    data.writeFloatLE(v, at * 4);
    tensors.set(entry.desc.name, { desc: entry.desc, data });
    return { header: snap.header, tensors };
  }

  const cases: [string, string, number][] = [
    ['f32', 'state2', NaN],
    ['f32', 'state2', -1],
    ['f32', 'state1', Infinity],
    ['f32', 'state1', NaN],
    ['rms', 'state1', -0.5],
    ['rms', 'state1', NaN],
    ['bw8', 'absmax1', NaN],
    ['bw8', 'absmax2', -5],
    ['bw8', 'absmax1', Infinity],
    ['bw8', 'qmap1', NaN],
    ['st8', 'max1', -5],
    ['st8', 'max2', NaN],
  ];
  for (const [model, key, v] of cases) {
    it(`${model}: ${key} = ${v} is INVALID_ARGUMENT and changes nothing anywhere`, async () => {
      const snap = await h.client.snapshot(model, { weights: true, state: 'raw' });
      const before = new Map<string, string>();
      for (const m of Object.keys(models)) before.set(m, await fingerprint(h.client, m));
      const err = await h.client.restore(model, poisoned(snap, key, v)).then(
        () => null,
        (e: QstepError) => e,
      );
      expect(err?.codeName).to.equal('INVALID_ARGUMENT');
      expect(err?.details).to.contain(key);
      for (const m of Object.keys(models)) expect(await fingerprint(h.client, m), m).to.equal(before.get(m));
    });
  }

  it('a negative first moment is fine (it is signed), and so are the zero scales of a fresh parameter', async () => {
    const snap = await h.client.snapshot('f32', { weights: true, state: 'raw' });
    await h.client.restore('f32', poisoned(snap, 'state1', -3));
    await h.client.createModel({
      name: 'fresh',
      parameters: [{ name: 'w', shape: [N], dtype: 'fp32' }],
      optimizer: { ...models.bw8, lr: 0.01, min8bitSize: 0 } as never,
    });
    await h.client.uploadParameters('fresh', { w: randomF32(N) });
    const fresh = await h.client.snapshot('fresh', { weights: true, state: 'raw' });
    const absmax = [...fresh.tensors.values()].find((t) => t.desc.stateKey === 'absmax1')!.data;
    expect(absmax.readFloatLE(0)).to.equal(0);
    const r = await h.client.restore('fresh', fresh);
    expect(r.params).to.deep.equal(['w']);
  });
});
