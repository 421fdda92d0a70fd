// The hand-written encoders (proto/fast-codec.ts) produce exactly the generated (ts-proto) encoder's bytes.

import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { qstepService } from '../../proto';
import { encodeStepGradient, snapshotResponseSerializer, stepResponseSerializer } from '../../proto/fast-codec';
import type { SnapshotResponse, StepRequest, StepResponse } from '../../proto';

describe('service: fast codec', () => {
  const step = qstepService.Step;
  const snap = qstepService.Snapshot;
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
    const req = qstepService.Step;
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
});
