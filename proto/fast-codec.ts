// Hand-written encoders for the hot server -> client tensor messages (StepResponse.weights and
// SnapshotResponse.data). They write into one reusable scratch buffer and return a view of it: grpc-js's server
// copies a serialized message into its frame synchronously (server-interceptors serializeMessage), so the scratch
// can be reused for the next message and each MiB sent costs one allocation less. Other messages fall back to the
// generated (protobufjs) serializer. Server side only: a client's serialized message may be kept for retries.
// Field numbers and wire types must match step.proto (StepResponse, TensorChunk) and snapshot.proto
// (SnapshotResponse, TensorData); like protobufjs, a field is written when it is set (even to its default).
// test/service/codec.test.ts compares the bytes with protobufjs.

import type { MethodDefinition } from '@grpc/proto-loader';
import { enumNumbers } from './index';
import type { QstepDefinition } from './gen/qstep/v1/Qstep';
import { exactStepIds } from './step-id';
import type { SnapshotResponse, StepResponse, TensorChunk, TensorData } from './messages';

const DTYPE_NUMBER = enumNumbers('DType');

/** Protobuf wire writing into a buffer known to be large enough. */
class ProtoWriter {
  pos = 0;

  constructor(protected buf: Buffer) {}

  varint(v: number): void {
    // Non-negative safe integers only (lengths, offsets, enum numbers).
    while (v > 0x7f) {
      this.buf[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }

  byte(b: number): void {
    this.buf[this.pos++] = b;
  }

  /** A varint field (its key byte, then the value), only when the message field is set. */
  varintField(key: number, field: unknown, value: number): void {
    if (!set(field)) return;
    this.byte(key);
    this.varint(value);
  }

  /** A length-delimited field of raw bytes. */
  bytesField(key: number, data: Buffer): void {
    this.byte(key);
    this.varint(data.length);
    this.bytes(data);
  }

  bytes(b: Buffer): void {
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }

  utf8(s: string): void {
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** One reusable scratch buffer, grown on demand (the server's serializers). */
class ScratchWriter extends ProtoWriter {
  constructor() {
    super(Buffer.allocUnsafeSlow(64 * 1024));
  }

  reset(capacity: number): void {
    if (this.buf.length < capacity) this.buf = Buffer.allocUnsafeSlow(Math.max(capacity, this.buf.length * 2));
    this.pos = 0;
  }
}

function varintSize(v: number): number {
  let n = 1;
  while (v > 0x7f) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v ?? 0);
}

function set(v: unknown): boolean {
  return v !== undefined && v !== null;
}

/** TensorChunk {1: param string, 2: offset uint64, 3: dtype enum, 4: data bytes}. */
function tensorChunkSize(c: TensorChunk, param: number, dtype: number): number {
  const data = c.data as Buffer;
  let n = 0;
  if (set(c.param)) n += 1 + varintSize(param) + param;
  if (set(c.offset)) n += 1 + varintSize(num(c.offset));
  if (set(c.dtype)) n += 1 + varintSize(dtype);
  n += 1 + varintSize(data.length) + data.length;
  return n;
}

const w = new ScratchWriter();

function encodeStepWeights(c: TensorChunk): Buffer {
  const param = Buffer.byteLength(c.param ?? '', 'utf8');
  const dtype = typeof c.dtype === 'number' ? c.dtype : (DTYPE_NUMBER.get(c.dtype ?? 'DTYPE_UNSPECIFIED') ?? 0);
  const inner = tensorChunkSize(c, param, dtype);
  const data = c.data as Buffer;
  w.reset(inner + 16);
  w.byte(0x12); // StepResponse.weights = 2, length-delimited
  w.varint(inner);
  if (set(c.param)) {
    w.byte(0x0a);
    w.varint(param);
    w.utf8(c.param as string);
  }
  w.varintField(0x10, c.offset, num(c.offset));
  w.varintField(0x18, c.dtype, dtype);
  w.bytesField(0x22, data);
  return w.view();
}

function encodeSnapshotData(d: TensorData): Buffer {
  const tensor = num(d.tensor);
  const offset = num(d.byteOffset);
  const data = d.data as Buffer;
  let inner = 1 + varintSize(data.length) + data.length;
  if (set(d.tensor)) inner += 1 + varintSize(tensor);
  if (set(d.byteOffset)) inner += 1 + varintSize(offset);
  w.reset(inner + 16);
  w.byte(0x12); // SnapshotResponse.data = 2, length-delimited
  w.varint(inner);
  w.varintField(0x08, d.tensor, tensor);
  w.varintField(0x10, d.byteOffset, offset);
  w.bytesField(0x1a, data);
  return w.view();
}

function isBufferData(x: { data?: unknown } | null | undefined): boolean {
  return !!x && Buffer.isBuffer(x.data);
}

/** Serializers for the server side: StepResponse.weights and SnapshotResponse.data through the scratch buffer. */
export function stepResponseSerializer(fallback: (m: StepResponse) => Buffer): (m: StepResponse) => Buffer {
  return (m) => (m.weights && !m.result && isBufferData(m.weights) ? encodeStepWeights(m.weights) : fallback(m));
}

export function snapshotResponseSerializer(fallback: (m: SnapshotResponse) => Buffer): (m: SnapshotResponse) => Buffer {
  return (m) => (m.data && !m.header && isBufferData(m.data) ? encodeSnapshotData(m.data) : fallback(m));
}

/** The service definition with the scratch serializers installed (for grpc.Server.addService only). */
export function serverDefinition(def: QstepDefinition): QstepDefinition {
  const step = def.Step as MethodDefinition<unknown, StepResponse>;
  const snap = def.Snapshot as MethodDefinition<unknown, SnapshotResponse>;
  return {
    ...def,
    Step: exactStepIds({ ...def.Step, responseSerialize: stepResponseSerializer(step.responseSerialize) }),
    Snapshot: { ...def.Snapshot, responseSerialize: snapshotResponseSerializer(snap.responseSerialize) },
  } as QstepDefinition;
}

/**
 * Client side: StepRequest{gradient: TensorChunk} encoded into a buffer from `alloc(size)` (a pooled buffer the
 * client recycles only after the call has ended, since grpc-js may hold a serialized message until then). Returns
 * the exact-size view; the method's serializer passes Buffers through (passThroughSerializer).
 */
export function encodeStepGradient(
  param: string,
  offset: number,
  dtype: string,
  data: Buffer,
  alloc: (size: number) => Buffer,
): Buffer {
  const paramBytes = Buffer.byteLength(param, 'utf8');
  const dtypeNum = DTYPE_NUMBER.get(dtype) ?? 0;
  let inner = 1 + varintSize(paramBytes) + paramBytes + 1 + varintSize(offset) + 1 + varintSize(dtypeNum);
  inner += 1 + varintSize(data.length) + data.length;
  const size = 1 + varintSize(inner) + inner;
  const out = new ProtoWriter(alloc(size));
  out.byte(0x12); // StepRequest.gradient = 2, length-delimited
  out.varint(inner);
  out.byte(0x0a); // TensorChunk.param = 1
  out.varint(paramBytes);
  out.utf8(param);
  out.byte(0x10); // offset = 2
  out.varint(offset);
  out.byte(0x18); // dtype = 3
  out.varint(dtypeNum);
  out.bytesField(0x22, data); // data = 4
  return out.view();
}

/** A request serializer that sends pre-encoded Buffers as they are and encodes anything else. */
export function passThroughSerializer<T>(fallback: (m: T) => Buffer): (m: T | Buffer) => Buffer {
  return (m) => (Buffer.isBuffer(m) ? m : fallback(m as T));
}
