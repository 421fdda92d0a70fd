// View-returning decoders for the hot tensor messages: StepRequest.gradient, UploadRequest.chunk and
// RestoreRequest.data on the server, StepResponse.weights and SnapshotResponse.data on the client. The generated
// decoder (ts-proto, env=node) copies every `bytes` field out of grpc-js's receive buffer; these hand out a view
// of it instead. That is safe because grpc-js allocates a fresh buffer for each received message and never reuses
// it. Any other message, or a hot one with more top-level fields than its one member (protobuf merge cases),
// goes to the generated decoder, so for well-formed input the result never differs from it but for `data` being a
// view (a malformed tag fails here, where the generated decoder may stop early).
// bench/codec.ts measures both; test/service/codec.test.ts checks the results are equal.
// Field numbers must match common.proto (TensorChunk), snapshot.proto (TensorData) and the oneofs of step.proto,
// model.proto and snapshot.proto.

import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { dTypeFromJSON } from './gen/qstep/v1/common';
import type { TensorChunk__Output, TensorData__Output } from './messages';

function safeNumber(v: bigint | string): number {
  const n = Number(v);
  // As the generated decoder does (forceLong=number): a uint64 past 2^53 is not a number without loss.
  if (n > Number.MAX_SAFE_INTEGER) throw new Error('Value is larger than Number.MAX_SAFE_INTEGER');
  return n;
}

/** A view of the bytes field the reader is at, as a Buffer (no copy). */
function bytesView(r: BinaryReader): Buffer {
  const b = r.bytes();
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

const EMPTY = Buffer.alloc(0);

/** TensorChunk {1: param string, 2: offset uint64, 3: dtype enum, 4: data bytes}. */
function tensorChunk(r: BinaryReader, end: number): TensorChunk__Output {
  const m: TensorChunk__Output = { param: '', offset: 0, dtype: 'DTYPE_UNSPECIFIED', data: EMPTY };
  while (r.pos < end) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) m.param = r.string();
    else if (no === 2 && wt === WireType.Varint) m.offset = safeNumber(r.uint64());
    else if (no === 3 && wt === WireType.Varint) m.dtype = dTypeFromJSON(r.int32());
    else if (no === 4 && wt === WireType.LengthDelimited) m.data = bytesView(r);
    else r.skip(wt, no);
  }
  return m;
}

/** TensorData {1: tensor uint32, 2: byte_offset uint64, 3: data bytes}. */
function tensorData(r: BinaryReader, end: number): TensorData__Output {
  const m: TensorData__Output = { tensor: 0, byteOffset: 0, data: EMPTY };
  while (r.pos < end) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.Varint) m.tensor = r.uint32();
    else if (no === 2 && wt === WireType.Varint) m.byteOffset = safeNumber(r.uint64());
    else if (no === 3 && wt === WireType.LengthDelimited) m.data = bytesView(r);
    else r.skip(wt, no);
  }
  return m;
}

/**
 * A deserializer for a message whose field `fieldNo` (named `key`) is a hot tensor message: decoded here when it
 * is the message's only field, else by `generated`. The result has the generated decoder's shape (its other
 * members present and undefined).
 */
function hot<T>(
  generated: (b: Buffer) => T,
  fieldNo: number,
  key: string,
  inner: (r: BinaryReader, end: number) => object,
): (b: Buffer) => T {
  const empty = generated(EMPTY);
  return (b) => {
    if (b.length === 0 || b[0] !== ((fieldNo << 3) | WireType.LengthDelimited)) return generated(b);
    const r = new BinaryReader(b);
    r.tag();
    const len = r.uint32();
    if (r.pos + len !== b.length) return generated(b);
    return { ...empty, [key]: inner(r, b.length) };
  };
}

export const hotDecoders = {
  stepRequest: <T>(g: (b: Buffer) => T) => hot(g, 2, 'gradient', tensorChunk),
  uploadRequest: <T>(g: (b: Buffer) => T) => hot(g, 2, 'chunk', tensorChunk),
  restoreRequest: <T>(g: (b: Buffer) => T) => hot(g, 2, 'data', tensorData),
  stepResponse: <T>(g: (b: Buffer) => T) => hot(g, 2, 'weights', tensorChunk),
  snapshotResponse: <T>(g: (b: Buffer) => T) => hot(g, 2, 'data', tensorData),
};
