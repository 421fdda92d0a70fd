// The generated contract at run time (ts-proto codecs, proto/grpc-service.ts): what a decoder hands the server,
// wire values the contract lacks, a oneof naming two members, and step ids the client refuses before sending.

import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { qstepService } from '../../proto';
import { stepIdToWire } from '../../proto/step-id';
import { QstepError } from '../../client';
import { bytesOf, fingerprint, randomF32, rawStep, startHarness } from './helpers';
import type { Harness } from './helpers';

const N = 300;

/** A Step stream of raw byte messages; resolves with the final status. */
function rawBytesStep(address: string, messages: Buffer[]): Promise<grpc.StatusObject> {
  const c = new grpc.Client(address, grpc.credentials.createInsecure());
  const id = (b: Buffer): Buffer => b;
  const call = c.makeBidiStreamRequest('/qstep.v1.Qstep/Step', id, id);
  return new Promise((resolve) => {
    call.on('data', () => undefined);
    call.on('error', () => undefined);
    call.on('status', (s: grpc.StatusObject) => {
      c.close();
      resolve(s);
    });
    for (const m of messages) call.write(m);
    call.end();
  });
}

/** StepRequest{gradient: TensorChunk{param, dtype: <number>, data}} written by hand, so any enum number fits. */
function gradientWithDtypeNumber(param: string, dtype: number, data: Buffer): Buffer {
  const p = Buffer.from(param, 'utf8');
  const len = (n: number): Buffer => {
    const out: number[] = [];
    while (n > 0x7f) {
      out.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(n);
    return Buffer.from(out);
  };
  const inner = Buffer.concat([
    Buffer.from([0x0a]),
    len(p.length),
    p,
    Buffer.from([0x18, dtype]),
    Buffer.from([0x22]),
    len(data.length),
    data,
  ]);
  return Buffer.concat([Buffer.from([0x12]), len(inner.length), inner]);
}

describe('service: generated contract at run time', function () {
  this.timeout(120_000);
  let h: Harness;

  before(async () => {
    h = await startHarness();
    await h.client.createModel({
      name: 'c',
      parameters: [{ name: 'w', shape: [N], dtype: 'fp32' }],
      optimizer: { name: 'adam', lr: 0.01, weightDecay: 0.01 },
    });
    await h.client.uploadParameters('c', { w: randomF32(N) });
  });
  after(() => h.close());

  it('decodes every scalar with its default and leaves absent messages undefined', () => {
    const def = qstepService.Step;
    const header = def.requestDeserialize(def.requestSerialize({ header: { model: 'm' } })).header;
    expect(header).to.include({ model: 'm', workerId: '', stepId: '0', gradDtype: 'DTYPE_UNSPECIFIED' });
    expect(header?.gradients).to.deep.equal([]);
    expect(header?.hyper).to.equal(undefined);
    const max = (2n ** 64n - 1n).toString();
    expect(def.requestDeserialize(def.requestSerialize({ header: { stepId: max } })).header?.stepId).to.equal(max);
  });

  it('a gradient dtype number the contract lacks: INVALID_ARGUMENT naming DType, nothing changed', async () => {
    const before = await fingerprint(h.client, 'c');
    const data = bytesOf(randomF32(N, 0.01));
    const s = await rawBytesStep(h.server.address, [
      qstepService.Step.requestSerialize({ header: { model: 'c', gradients: [{ param: 'w' }] } }),
      gradientWithDtypeNumber('w', 77, data),
      qstepService.Step.requestSerialize({ commit: { chunkCount: 1 } }),
    ]);
    expect(s.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(s.details).to.match(/DType number this server does not know/);
    expect(await fingerprint(h.client, 'c')).to.equal(before);
    // The same stream with a known dtype number (1 = FP32) is applied: the hand-written bytes are well formed.
    const ok = await rawBytesStep(h.server.address, [
      qstepService.Step.requestSerialize({ header: { model: 'c', gradients: [{ param: 'w' }] } }),
      gradientWithDtypeNumber('w', 1, data),
      qstepService.Step.requestSerialize({ commit: { chunkCount: 1 } }),
    ]);
    expect(ok.code, ok.details).to.equal(grpc.status.OK);
    expect(await fingerprint(h.client, 'c')).to.not.equal(before);
  });

  it('a Step message carrying two members of its oneof: INVALID_ARGUMENT, nothing changed', async () => {
    const before = await fingerprint(h.client, 'c');
    const first = await rawStep(h.client, [{ header: { model: 'c' }, commit: { chunkCount: 0 } }]);
    expect(first.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(first.details).to.match(/kind: expected one of header, headerMore, gradient, commit, got header and commit/);
    const later = await rawStep(h.client, [
      { header: { model: 'c', gradients: [{ param: 'w' }] } },
      { gradient: { param: 'w', dtype: 'DTYPE_FP32', data: bytesOf(randomF32(N, 0.01)) }, commit: { chunkCount: 1 } },
    ]);
    expect(later.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(later.details).to.match(/got gradient and commit/);
    expect(await fingerprint(h.client, 'c')).to.equal(before);
  });

  it('step ids outside uint64 or not integers: the client refuses them (INVALID_ARGUMENT), nothing sent', async () => {
    const before = await fingerprint(h.client, 'c');
    const bad: (number | bigint | string)[] = [
      -1,
      1.5,
      2 ** 53,
      2n ** 64n,
      -1n,
      'abc',
      '1e3',
      '-5',
      ' 7',
      '1'.repeat(21),
    ];
    for (const stepId of bad) {
      const err = await h.client.step('c', { w: randomF32(N, 0.01) }, { workerId: 'v', stepId }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, String(stepId)).to.be.instanceOf(QstepError);
      expect((err as QstepError).code, String(stepId)).to.equal(grpc.status.INVALID_ARGUMENT);
      expect((err as QstepError).message).to.match(/stepId/);
    }
    expect(await fingerprint(h.client, 'c')).to.equal(before);
    expect(stepIdToWire(2n ** 64n - 1n)).to.equal('18446744073709551615');
    expect(stepIdToWire('00012')).to.equal('12');
    expect(stepIdToWire(2 ** 53 - 1)).to.equal('9007199254740991');
  });
});
