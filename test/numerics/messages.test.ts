// Messages that name the cause, through a real server: a dtype mistake says which dtype and width were assumed;
// a setting that does not apply, sent with a Step, is refused naming it and changes nothing (fingerprints).
import { expect } from 'chai';
import type { StepRequest } from '../../proto';
import { bytesOf, fingerprint, randomF32, rawStep, startHarness, type Harness } from '../service/helpers';

describe('messages that name the cause', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
    await h.client.createModel({
      name: 'm',
      parameters: [{ name: 'w', shape: [300], dtype: 'fp16' }],
      optimizer: { name: 'adam', optimBits: 8, min8bitSize: 0 },
    });
    await h.client.uploadParameters('m', { w: randomF32(300) });
    await h.client.step('m', { w: randomF32(300, 0.1) });
  });
  after(async () => {
    await h.close();
  });

  it('fp32 bytes in a chunk without a dtype for an fp16 parameter: the message names fp16 and 2 bytes', async () => {
    const before = await fingerprint(h.client, 'm');
    const msgs: StepRequest[] = [
      { header: { model: 'm', workerId: 'x' } },
      { gradient: { param: 'w', offset: 0, data: bytesOf(randomF32(300, 0.1)) } },
      { commit: {} },
    ];
    const out = await rawStep(h.client, msgs);
    expect(out.code).to.equal(3); // INVALID_ARGUMENT
    expect(out.details).to.contain('as fp16 (2 bytes per element');
    expect(await fingerprint(h.client, 'm')).to.equal(before);
  });

  it('a Step whose hyperparameters set alpha on adam is refused naming alpha, and changes nothing', async () => {
    const before = await fingerprint(h.client, 'm');
    const msgs: StepRequest[] = [
      { header: { model: 'm', workerId: 'y', hyper: { alpha: 0.9 } } },
      { gradient: { param: 'w', offset: 0, dtype: 'DTYPE_FP32', data: bytesOf(randomF32(300, 0.1)) } },
      { commit: {} },
    ];
    const out = await rawStep(h.client, msgs);
    expect(out.code).to.equal(3);
    expect(out.details).to.contain('alpha does not apply to adam');
    expect(await fingerprint(h.client, 'm')).to.equal(before);
  });

  it('a snapshot header naming a parameter the model lacks (a flipped byte) says the header does not verify', async () => {
    const before = await fingerprint(h.client, 'm');
    const snap = await h.client.snapshot('m', { state: 'raw' });
    const state = [...snap.tensors.values()].find((t) => t.desc.role === 'TENSOR_ROLE_STATE');
    expect(state, 'the snapshot holds state').to.exist;
    state!.desc.param = 'v'; // 'w' with one bit flipped
    const e = await h.client.restore('m', snap).catch((x: { details?: string; codeName?: string }) => x);
    expect((e as { codeName: string }).codeName).to.equal('NOT_FOUND');
    expect((e as { details: string }).details)
      .to.contain('does not verify')
      .and.to.contain('"v"');
    expect(await fingerprint(h.client, 'm')).to.equal(before);
  });
});
