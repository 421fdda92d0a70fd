// The direct transport's framing (docs/service.md, "Direct transport"), shared by server/direct.ts and
// client/direct.ts. A direct connection carries one Step call at a time, with the same protobuf messages as the
// gRPC stream, on a plain TCP (or TLS) socket without HTTP/2:
//
//   client: MAGIC, then per call   OPEN {method, metadata, timeoutMs}   MESSAGE*   HALF_CLOSE
//   server:                        MESSAGE*   STATUS {code, details, keep}
//
// Every frame is a type byte, a big-endian uint32 payload length and the payload. OPEN and STATUS carry JSON
// (at most MAX_CONTROL_BYTES). A client cancels a call by closing the connection; the server keeps a connection
// for the next call only when it says so in STATUS (keep), which it does only after the client's HALF_CLOSE.

import { status as Status } from '@grpc/grpc-js';

export const DIRECT_MAGIC = Buffer.from('QSTEPD01', 'latin1');

export const FrameType = {
  Open: 1,
  Message: 2,
  HalfClose: 3,
  Status: 4,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export const FRAME_HEADER_BYTES = 5;
/** Bound on an OPEN or STATUS payload (JSON). */
export const MAX_CONTROL_BYTES = 64 * 1024;

/** What OPEN carries. */
export interface OpenFrame {
  /** The method's name in the service, e.g. 'Step'. */
  method: string;
  /** Call metadata as gRPC would carry it (lower-case keys, string values): the authorization token. */
  metadata: Record<string, string>;
  /** The call's deadline, relative (ms); absent = none. */
  timeoutMs?: number;
}

/** What STATUS carries: the gRPC status of the call, and whether the connection stays open for another call. */
export interface StatusFrame {
  code: number;
  details: string;
  keep: boolean;
}

/** Writes a frame's 5-byte header at the front of `b`. */
export function writeFrameHeader(b: Buffer, type: FrameType, length: number): void {
  b[0] = type;
  b.writeUInt32BE(length, 1);
}

/** The 5-byte header of a frame. */
export function frameHeader(type: FrameType, length: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  writeFrameHeader(b, type, length);
  return b;
}

/** A whole control frame (OPEN, STATUS): header and JSON payload in one buffer. */
export function controlFrame(type: FrameType, body: object): Buffer {
  const json = Buffer.from(JSON.stringify(body), 'utf8');
  if (json.length > MAX_CONTROL_BYTES) throw new RangeError(`control frame of ${json.length} bytes`);
  return Buffer.concat([frameHeader(type, json.length), json]);
}

function freshBuffer(len: number): Buffer {
  return len >= 4096 ? Buffer.allocUnsafeSlow(len) : Buffer.allocUnsafe(len);
}

/** A gather function that hands out one buffer again and again (grown as needed): payloads valid until the next. */
export function scratchGather(): (len: number) => Buffer {
  let scratch = Buffer.alloc(0);
  return (len) => {
    if (scratch.length < len) scratch = Buffer.allocUnsafeSlow(Math.max(len, 2 * scratch.length));
    return scratch.subarray(0, len);
  };
}

/** A protocol violation by the peer, with the gRPC status it is answered with; the connection is closed. */
export class FrameError extends Error {
  constructor(
    message: string,
    readonly code: number = Status.INVALID_ARGUMENT,
  ) {
    super(message);
  }
}

/** Parses a control frame's JSON payload into an object (FrameError if it is not one). */
export function controlBody(payload: Buffer): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new FrameError('a control frame that is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new FrameError('a control frame that is not an object');
  return v as Record<string, unknown>;
}

/**
 * Splits a byte stream into frames. A payload that lies inside one received chunk is handed on as a view of it
 * (Node hands each socket read over in memory of its own); one spread over several chunks is gathered into a
 * buffer of its size from `gather`, the one copy the receiving side makes. By default that is new memory; a reader
 * whose consumer is done with each payload when onFrame returns may hand out the same memory every time (fresh
 * memory costs page faults and garbage collections: about a third of a Step's CPU on the 2-core machine).
 */
export class FrameReader {
  private head = Buffer.alloc(FRAME_HEADER_BYTES);
  private headFill = 0;
  private body: Buffer | null = null;
  private bodyFill = 0;
  private type = 0;
  private magicLeft: number;

  constructor(
    /** The largest payload accepted for a frame type; a larger length is a FrameError. */
    private readonly limit: (type: number) => number,
    private readonly onFrame: (type: number, payload: Buffer) => void,
    /** Bytes the stream must start with (the client's magic, on the server), or none. */
    private readonly magic: Buffer | null = null,
    /** Memory of `len` bytes to gather a payload into. */
    private readonly gather: (len: number) => Buffer = freshBuffer,
  ) {
    this.magicLeft = magic ? magic.length : 0;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    if (this.magicLeft > 0 && this.magic) {
      const n = Math.min(this.magicLeft, chunk.length);
      const at = this.magic.length - this.magicLeft;
      if (!chunk.subarray(0, n).equals(this.magic.subarray(at, at + n)))
        throw new FrameError('not a qstep direct connection (wrong magic)');
      this.magicLeft -= n;
      pos = n;
    }
    while (pos < chunk.length) {
      if (this.body === null) {
        const take = Math.min(FRAME_HEADER_BYTES - this.headFill, chunk.length - pos);
        if (this.headFill === 0 && take === FRAME_HEADER_BYTES) {
          this.type = chunk[pos];
          const len = chunk.readUInt32BE(pos + 1);
          pos += FRAME_HEADER_BYTES;
          this.check(len);
          if (chunk.length - pos >= len) {
            const payload = chunk.subarray(pos, pos + len);
            pos += len;
            this.onFrame(this.type, payload);
            continue;
          }
          this.begin(len);
          continue;
        }
        chunk.copy(this.head, this.headFill, pos, pos + take);
        this.headFill += take;
        pos += take;
        if (this.headFill < FRAME_HEADER_BYTES) return;
        this.headFill = 0;
        this.type = this.head[0];
        const len = this.head.readUInt32BE(1);
        this.check(len);
        this.begin(len);
        if (len === 0) this.deliver();
        continue;
      }
      const take = Math.min(this.body.length - this.bodyFill, chunk.length - pos);
      chunk.copy(this.body, this.bodyFill, pos, pos + take);
      this.bodyFill += take;
      pos += take;
      if (this.bodyFill === this.body.length) this.deliver();
    }
  }

  /** Whether the stream stopped between frames (a connection closed here lost no partial frame). */
  get atBoundary(): boolean {
    return this.body === null && this.headFill === 0 && this.magicLeft === 0;
  }

  private check(len: number): void {
    const max = this.limit(this.type);
    if (max < 0) throw new FrameError(`unknown frame type ${this.type}`);
    if (len > max) {
      throw new FrameError(
        `received a frame of ${len} bytes (type ${this.type}), over the limit of ${max}`,
        Status.RESOURCE_EXHAUSTED,
      );
    }
  }

  private begin(len: number): void {
    this.body = this.gather(len);
    this.bodyFill = 0;
  }

  private deliver(): void {
    const b = this.body as Buffer;
    this.body = null;
    this.onFrame(this.type, b);
  }
}
