// The direct transport's framing (proto/direct-frames.ts): a stream of random frames, cut into chunks at random
// places (inside the magic, inside a frame header, inside a payload), reads back as exactly the frames written;
// lengths over a type's limit and unknown types are refused from the header; the gather function is what payloads
// spread over several chunks are copied into.

import { expect } from 'chai';
import { randomBytes, randomInt } from 'node:crypto';
import {
  DIRECT_MAGIC,
  FrameError,
  FrameReader,
  FrameType,
  frameHeader,
  scratchGather,
} from '../../proto/direct-frames';

interface Frame {
  type: number;
  payload: Buffer;
}

function encode(frames: Frame[]): Buffer {
  return Buffer.concat(frames.flatMap((f) => [frameHeader(f.type as FrameType, f.payload.length), f.payload]));
}

/** `b` cut at `cuts` random places. */
function cut(b: Buffer, cuts: number): Buffer[] {
  const at = [...new Set(Array.from({ length: cuts }, () => randomInt(1, b.length)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let from = 0;
  for (const a of [...at, b.length]) {
    out.push(b.subarray(from, a));
    from = a;
  }
  return out;
}

const LIMITS = (t: number) =>
  t === FrameType.Message ? 1 << 20 : t === FrameType.HalfClose ? 0 : t === FrameType.Open ? 4096 : -1;

describe('direct transport framing', () => {
  it('reads back random frames whatever the chunking, with and without the magic', () => {
    for (let round = 0; round < 50; round++) {
      const frames: Frame[] = Array.from({ length: randomInt(1, 30) }, () => {
        const type = [FrameType.Open, FrameType.Message, FrameType.HalfClose][randomInt(0, 3)];
        const n =
          type === FrameType.HalfClose ? 0 : type === FrameType.Open ? randomInt(0, 4097) : randomInt(0, 70_000);
        return { type, payload: randomBytes(n) };
      });
      const magic = round % 2 === 0;
      const bytes = Buffer.concat([magic ? DIRECT_MAGIC : Buffer.alloc(0), encode(frames)]);
      const got: Frame[] = [];
      // Copy each payload out: with scratch gathering a payload is valid only during onFrame.
      const reader = new FrameReader(
        LIMITS,
        (type, payload) => got.push({ type, payload: Buffer.from(payload) }),
        magic ? DIRECT_MAGIC : null,
        round % 3 === 0 ? scratchGather() : undefined,
      );
      const chunks = cut(bytes, randomInt(0, 60));
      for (const c of chunks) reader.push(c);
      expect(reader.atBoundary).to.equal(true);
      expect(got.length).to.equal(frames.length);
      got.forEach((g, i) => {
        expect(g.type, `frame ${i}`).to.equal(frames[i].type);
        expect(g.payload.equals(frames[i].payload), `frame ${i} payload`).to.equal(true);
      });
      // Stopping inside the last frame leaves the reader off a boundary.
      if (bytes.length > 1 && frames.at(-1)!.payload.length > 0) {
        const partial = new FrameReader(LIMITS, () => undefined, magic ? DIRECT_MAGIC : null);
        partial.push(bytes.subarray(0, bytes.length - 1));
        expect(partial.atBoundary).to.equal(false);
      }
    }
  });

  it('refuses a length over its type limit and an unknown type from the header, and a wrong magic at once', () => {
    const over = new FrameReader(LIMITS, () => expect.fail('no frame should be delivered'));
    let err: unknown = null;
    try {
      over.push(frameHeader(FrameType.Message, (1 << 20) + 1));
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(FrameError);
    expect((err as FrameError).code).to.equal(8); // RESOURCE_EXHAUSTED
    expect(() => new FrameReader(LIMITS, () => undefined).push(Buffer.from([9, 0, 0, 0, 0]))).to.throw(
      FrameError,
      /unknown frame type 9/,
    );
    // A header split over two chunks is judged once it is whole.
    const split = new FrameReader(LIMITS, () => undefined);
    split.push(Buffer.from([FrameType.HalfClose, 0, 0]));
    expect(() => split.push(Buffer.from([0, 1]))).to.throw(FrameError, /over the limit of 0/);
    // The magic is checked byte by byte as it arrives.
    const m = new FrameReader(LIMITS, () => undefined, DIRECT_MAGIC);
    m.push(DIRECT_MAGIC.subarray(0, 3));
    expect(() => m.push(Buffer.from('X'))).to.throw(FrameError, /wrong magic/);
  });

  it('gathers a payload spread over chunks into what `gather` returns; one within a chunk is a view of it', () => {
    const seen: Buffer[] = [];
    const gathered: Buffer[] = [];
    const reader = new FrameReader(
      LIMITS,
      (_t, p) => seen.push(p),
      null,
      (len) => {
        const b = Buffer.alloc(len);
        gathered.push(b);
        return b;
      },
    );
    const whole = Buffer.concat([frameHeader(FrameType.Message, 10), randomBytes(10)]);
    reader.push(whole);
    expect(seen[0].buffer).to.equal(whole.buffer); // a view: no copy
    const spread = Buffer.concat([frameHeader(FrameType.Message, 1000), randomBytes(1000)]);
    reader.push(spread.subarray(0, 300));
    reader.push(spread.subarray(300));
    expect(gathered).to.have.length(1);
    expect(seen[1]).to.equal(gathered[0]);
    expect(seen[1].equals(spread.subarray(5))).to.equal(true);
  });
});
