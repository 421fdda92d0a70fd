// Exact uint64 step ids. The contract's other uint64 fields (sizes, offsets, counters) stay below 2^53 and are
// decoded as numbers (LOADER_OPTIONS.longs = Number); StepHeader.step_id is an opaque key a client may draw from
// the whole uint64 range, and a number would merge 2^64-1 with 2^64-2. The server's Step deserializer therefore
// reads step_id again from the raw bytes as a bigint. Field numbers must match step.proto (StepRequest.header = 1,
// StepHeader.step_id = 3); test/service/step-id.test.ts sends ids around 2^64.

import type { MethodDefinition } from '@grpc/proto-loader';
import type { StepHeader__Output, StepRequest__Output } from './messages';

/** A Step header as the server sees it: step_id exact. */
export type StepHeaderExact = Omit<StepHeader__Output, 'stepId'> & { stepId: bigint };

class Cursor {
  constructor(
    private readonly buf: Buffer,
    public pos: number,
    readonly end: number,
  ) {}

  varint(): bigint {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++];
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return v & 0xffff_ffff_ffff_ffffn;
      shift += 7n;
      if (shift > 63n + 7n) throw new Error('varint too long');
    }
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) {
      const len = Number(this.varint()); // read before adding: `pos += varint()` would add to the old pos
      this.pos += len;
    } else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
    if (this.pos > this.end) throw new Error('truncated field');
  }
}

/** step_id of the StepRequest in `buf` (0n when absent; the last occurrence wins, as protobuf merges). */
export function readStepId(buf: Buffer): bigint {
  let id = 0n;
  const top = new Cursor(buf, 0, buf.length);
  while (top.pos < top.end) {
    const key = Number(top.varint());
    if (key === ((1 << 3) | 2)) {
      const len = Number(top.varint());
      const inner = new Cursor(buf, top.pos, top.pos + len);
      if (inner.end > top.end) throw new Error('truncated header');
      while (inner.pos < inner.end) {
        const k = Number(inner.varint());
        if (k === ((3 << 3) | 0)) id = inner.varint();
        else inner.skip(k & 7);
      }
      top.pos = inner.end;
    } else {
      top.skip(key & 7);
    }
  }
  return id;
}

/** The Step method with a request deserializer that puts the exact step_id (a bigint) on the header. */
export function exactStepIds<Req, Res>(method: MethodDefinition<Req, Res>): MethodDefinition<Req, Res> {
  const decode = method.requestDeserialize as unknown as (b: Buffer) => StepRequest__Output;
  return {
    ...method,
    requestDeserialize: (buf: Buffer) => {
      const msg = decode(buf);
      // protobufjs already accepted the bytes, so the second read cannot fail on them.
      if (msg.header) (msg.header as unknown as StepHeaderExact).stepId = readStepId(buf);
      return msg as unknown as Req;
    },
  };
}
