// The hand-written encoders (proto/fast-codec.ts) produce exactly the generated (ts-proto) encoder's bytes, and
// the view-returning decoders (proto/fast-decode.ts) exactly the generated decoder's messages.

import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { generatedService, qstepService } from '../../proto';
import { TensorChunk } from '../../proto/gen/qstep/v1/common';
import { encodeStepGradient, snapshotResponseSerializer, stepResponseSerializer } from '../../proto/fast-codec';
import type { SnapshotResponse, StepRequest, StepResponse } from '../../proto';

describe('service: fast codec', () => {
  const step = generatedService.Step;
  const snap = generatedService.Snapshot;
  const fastStep = stepResponseSerializer(step.responseSerialize);
  const fastSnap = snapshotResponseSerializer(snap.responseSerialize);

  it('encodes StepResponse.weights like the generated encoder, for every size class', () => {
    const dtypes = ['DTYPE_UNSPECIFIED', 'DTYPE_FP32', 'DTYPE_FP16', 'DTYPE_BF16'] as const;
    for (const len of [0, 1, 127, 128, 16383, 16384, 1 << 20]) {
      for (const offset of [0, 1, 300, 2 ** 31 + 5, 2 ** 40 + 3]) {
        const m: StepResponse = {
          weights: { param: len % 2 ? 'layers.0.wéight' : '', offset, dtype: dtypes[len % 4], data: randomBytes(len) },
        };
        const fast = Buffer.from(fastStep(m));
        expect(fast.equals(step.responseSerialize(m)), `len ${len} offset ${offset}`).to.equal(true);
        expect(step.responseDeserialize(fast)).to.deep.equal(step.responseDeserialize(step.responseSerialize(m)));
      }
    }
    const result: StepResponse = { result: { model: 'm', modelStep: 3, params: [{ name: 'w', step: 3 }] } };
    expect(Buffer.from(fastStep(result)).equals(step.responseSerialize(result))).to.equal(true);
  });

  it('encodes SnapshotResponse.data like the generated encoder', () => {
    for (const len of [0, 5, 1000, 1 << 20]) {
      for (const [tensor, byteOffset] of [
        [0, 0],
        [1, 7],
        [300, 2 ** 33],
      ]) {
        const m: SnapshotResponse = { data: { tensor, byteOffset, data: randomBytes(len) } };
        expect(Buffer.from(fastSnap(m)).equals(snap.responseSerialize(m)), `len ${len}`).to.equal(true);
      }
    }
  });

  it('encodes StepRequest.gradient like the generated encoder (client side, into a larger pooled buffer)', () => {
    const req = generatedService.Step;
    for (const len of [0, 3, 200, 1 << 20]) {
      for (const offset of [0, 129, 2 ** 35]) {
        const data = randomBytes(len);
        const big = Buffer.alloc(len + 100, 0xee);
        const fast = encodeStepGradient('encoder.layers.3.wéight', offset, 'DTYPE_BF16', data, (n) => {
          expect(n).to.be.at.most(big.length);
          return big;
        });
        const m: StepRequest = { gradient: { param: 'encoder.layers.3.wéight', offset, dtype: 'DTYPE_BF16', data } };
        expect(fast.equals(req.requestSerialize(m)), `len ${len} offset ${offset}`).to.equal(true);
      }
    }
  });

  /** A varint as bytes (for messages written by hand). */
  function varint(v: bigint): number[] {
    const out: number[] = [];
    while (v > 0x7fn) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    return out;
  }

  it('decodes the tensor messages like the generated decoder, with data as a view of the received bytes', () => {
    const gen = generatedService;
    const run = qstepService;
    const pairs = [
      ['Step request', gen.Step.requestDeserialize, run.Step.requestDeserialize, 'gradient'],
      ['Step response', gen.Step.responseDeserialize, run.Step.responseDeserialize, 'weights'],
      [
        'UploadParameters request',
        gen.UploadParameters.requestDeserialize,
        run.UploadParameters.requestDeserialize,
        'chunk',
      ],
    ] as const;
    const dtypes = ['DTYPE_UNSPECIFIED', 'DTYPE_FP32', 'DTYPE_FP16', 'DTYPE_BF16'] as const;
    for (const [name, generated, fast, key] of pairs) {
      for (let i = 0; i < 40; i++) {
        const len = [0, 1, 127, 128, 70000][i % 5];
        const chunk = {
          param: i % 3 ? `p.${randomBytes(3).toString('hex')}.wéight` : '',
          offset: [0, 1, 300, 2 ** 40 + 3][i % 4],
          dtype: dtypes[i % 4],
          data: randomBytes(len),
        };
        // Every third message carries fields this contract version lacks (field 15 varint, field 16 bytes).
        const unknown = i % 3 === 2 ? [0x78, 0x05, 0x82, 0x01, 0x02, 0xaa, 0xbb] : [];
        const inner = Buffer.concat([Buffer.from(TensorChunk.encode(chunk).finish()), Buffer.from(unknown)]);
        const bytes = Buffer.concat([Buffer.from([0x12, ...varint(BigInt(inner.length))]), inner]);
        const want = generated(bytes) as Record<string, unknown>;
        const got = fast(bytes) as Record<string, unknown>;
        expect(got, `${name} ${i}`).to.deep.equal(want);
        const data = (got[key] as { data: Buffer }).data;
        if (data.length > 0) expect(data.buffer, `${name}: a view`).to.equal(bytes.buffer);
      }
      for (let i = 0; i < 10; i++) {
        const chunk = { param: 'w', offset: 2 ** 45 + i, dtype: dtypes[i % 4], data: randomBytes(1000 * i) };
        const bytes = gen.Step.requestSerialize({ gradient: chunk });
        const got = fast(bytes) as Record<string, { data: Buffer }>;
        expect(got, name).to.deep.equal(generated(bytes));
        if (i > 0) expect(got[key].data.buffer).to.equal(bytes.buffer);
      }
    }
    for (const [generated, fast] of [
      [gen.Restore.requestDeserialize, run.Restore.requestDeserialize],
      [gen.Snapshot.responseDeserialize, run.Snapshot.responseDeserialize],
    ] as const) {
      for (const len of [0, 9, 5000]) {
        const bytes = gen.Snapshot.responseSerialize({
          data: { tensor: len % 7, byteOffset: len * 3, data: randomBytes(len) },
        });
        expect(fast(bytes)).to.deep.equal(generated(bytes));
      }
    }
  });

  it('decodes other messages, an unknown dtype number, two oneof members and oversize offsets as generated', () => {
    const gen = generatedService.Step;
    const fast = qstepService.Step.requestDeserialize;
    const header = gen.requestSerialize({ header: { model: 'm', workerId: 'w', stepId: '18446744073709551615' } });
    expect(fast(header)).to.deep.equal(gen.requestDeserialize(header));
    const grad = gen.requestSerialize({
      gradient: { param: 'w', offset: 5, dtype: 'DTYPE_FP16', data: randomBytes(64) },
    });
    const both = Buffer.concat([header, grad]);
    expect(fast(both)).to.deep.equal(gen.requestDeserialize(both));
    expect(fast(both).header?.model).to.equal('m');
    const unknownDtype = Buffer.from(grad);
    unknownDtype[unknownDtype.indexOf(0x18) + 1] = 77; // TensorChunk.dtype = 77
    expect(fast(unknownDtype).gradient?.dtype).to.equal('UNRECOGNIZED');
    expect(fast(unknownDtype)).to.deep.equal(gen.requestDeserialize(unknownDtype));
    const inner = [0x10, ...varint(2n ** 60n)];
    const huge = Buffer.from([0x12, inner.length, ...inner]);
    expect(() => fast(huge)).to.throw(/MAX_SAFE_INTEGER/);
    expect(() => gen.requestDeserialize(huge)).to.throw(/MAX_SAFE_INTEGER/);
  });
});
