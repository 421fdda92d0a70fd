// Hand-written encoders for the hot server -> client tensor messages (StepResponse.weights and
// SnapshotResponse.data). They write into one reusable scratch buffer and return a view of it: grpc-js's server
// copies a serialized message into its frame synchronously (server-interceptors serializeMessage), so the scratch
// can be reused for the next message and each MiB sent costs one allocation less. Other messages fall back to the
// generated (ts-proto) serializer, which copies the data twice (BinaryWriter.finish, then Buffer.from); bench/codec.ts
// measures both. Server side only: a client's serialized message may be kept for retries.
// Field numbers and wire types must match step.proto (StepResponse, TensorChunk) and snapshot.proto
// (SnapshotResponse, TensorData); like the generated encoder, a scalar is written only when it is not its default.
// test/service/codec.test.ts compares the bytes with the generated encoder's.

import { enumNumbers } from './index';
import type { QstepDefinition } from './grpc-service';
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

  /** A varint field (its key byte, then the value), only when the value is not the default 0. */
  varintField(key: number, value: number): void {
    if (value === 0) return;
    this.byte(key);
    this.varint(value);
  }

  /** A length-delimited field of raw bytes, only when not empty. */
  bytesField(key: number, data: Buffer): void {
    if (data.length === 0) return;
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

/** Size of a field with a one-byte key: nothing when the value is the default (0, empty). */
function fieldSize(value: number, payload = 0): number {
  return value === 0 ? 0 : 1 + varintSize(value) + payload;
}

/** TensorChunk {1: param string, 2: offset uint64, 3: dtype enum, 4: data bytes}. */
function tensorChunkSize(offset: number, param: number, dtype: number, data: number): number {
  return fieldSize(param, param) + fieldSize(offset) + fieldSize(dtype) + fieldSize(data, data);
}

const w = new ScratchWriter();

/**
 * The front of a TensorChunk carried in field 2 (StepRequest.gradient, StepResponse.weights): the field's key and
 * length, then param, offset and dtype, then the data field's key and length; the data bytes follow.
 */
function chunkPrefix(out: ProtoWriter, param: string, paramBytes: number, offset: number, dtype: number, n: number) {
  out.byte(0x12); // field 2, length-delimited
  out.varint(tensorChunkSize(offset, paramBytes, dtype, n));
  if (paramBytes > 0) {
    out.byte(0x0a); // TensorChunk.param = 1
    out.varint(paramBytes);
    out.utf8(param);
  }
  out.varintField(0x10, offset); // offset = 2
  out.varintField(0x18, dtype); // dtype = 3
  if (n > 0) {
    out.byte(0x22); // data = 4
    out.varint(n);
  }
}

/** The bytes chunkPrefix writes. */
function chunkPrefixSize(paramBytes: number, offset: number, dtype: number, n: number): number {
  const inner = tensorChunkSize(offset, paramBytes, dtype, n);
  return 1 + varintSize(inner) + inner - n;
}

function encodeStepWeights(c: TensorChunk): Buffer {
  const param = c.param ?? '';
  const paramBytes = Buffer.byteLength(param, 'utf8');
  const dtype = DTYPE_NUMBER.get(c.dtype ?? 'DTYPE_UNSPECIFIED') ?? 0;
  const offset = num(c.offset);
  const data = c.data as Buffer;
  w.reset(chunkPrefixSize(paramBytes, offset, dtype, data.length) + data.length);
  chunkPrefix(w, param, paramBytes, offset, dtype, data.length);
  w.bytes(data);
  return w.view();
}

/**
 * A TensorChunk message in field 2 (a Step gradient or weights chunk) as two pieces, for a writer that gathers them
 * (the direct transport): a new buffer with `reserve` free bytes (for a frame header) and the protobuf prefix, then
 * the data itself, not copied. The message's bytes are the first piece from `reserve` on, then the second.
 */
export function tensorChunkPieces(
  param: string,
  offset: number,
  dtype: string,
  data: Buffer,
  reserve: number,
): [Buffer, Buffer] {
  const paramBytes = Buffer.byteLength(param, 'utf8');
  const dtypeNum = DTYPE_NUMBER.get(dtype) ?? 0;
  const head = new ProtoWriter(
    Buffer.allocUnsafe(reserve + chunkPrefixSize(paramBytes, offset, dtypeNum, data.length)),
  );
  head.pos = reserve;
  chunkPrefix(head, param, paramBytes, offset, dtypeNum, data.length);
  return [head.view(), data];
}

/** The pieces of a server Step response for the direct transport: weights chunks by tensorChunkPieces. */
export function stepResponsePieces(fallback: (m: StepResponse) => Buffer, reserve: number) {
  return (m: StepResponse): Buffer[] => {
    const c = m.weights;
    if (c && !m.result && isBufferData(c)) {
      return tensorChunkPieces(c.param ?? '', num(c.offset), c.dtype ?? 'DTYPE_UNSPECIFIED', c.data as Buffer, reserve);
    }
    const b = fallback(m);
    return [Buffer.alloc(reserve), b];
  };
}

function encodeSnapshotData(d: TensorData): Buffer {
  const tensor = num(d.tensor);
  const offset = num(d.byteOffset);
  const data = d.data as Buffer;
  const inner = fieldSize(data.length, data.length) + fieldSize(tensor) + fieldSize(offset);
  w.reset(inner + 16);
  w.byte(0x12); // SnapshotResponse.data = 2, length-delimited
  w.varint(inner);
  w.varintField(0x08, tensor);
  w.varintField(0x10, offset);
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
  return {
    ...def,
    Step: { ...def.Step, responseSerialize: stepResponseSerializer(def.Step.responseSerialize) },
    Snapshot: { ...def.Snapshot, responseSerialize: snapshotResponseSerializer(def.Snapshot.responseSerialize) },
  };
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
  const out = new ProtoWriter(alloc(chunkPrefixSize(paramBytes, offset, dtypeNum, data.length) + data.length));
  chunkPrefix(out, param, paramBytes, offset, dtypeNum, data.length);
  out.bytes(data);
  return out.view();
}

/** A request serializer that sends pre-encoded Buffers as they are and encodes anything else. */
export function passThroughSerializer<T>(fallback: (m: T) => Buffer): (m: T | Buffer) => Buffer {
  return (m) => (Buffer.isBuffer(m) ? m : fallback(m as T));
}
