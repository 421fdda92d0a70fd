// Tensor chunks in and out: validation of an arriving TensorChunk against its parameter, reading a parameter's
// values in bounded pieces, and cutting buffers into message-sized views (no copies).

import type { DType } from '../../native/lib';
import type { TensorChunk__Output } from '../../proto';
import { DTYPE_WIDTH, dtypes } from '../../proto/convert';
import { fail } from '../errors';
import type { Model, ParamEntry } from './model';
import type { BufferPool } from './buffer-pool';

export interface CheckedChunk {
  entry: ParamEntry;
  /** First element. */
  offset: number;
  /** Elements. */
  count: number;
  dtype: DType;
  data: Buffer;
}

/**
 * Validates a chunk: known parameter (NOT_FOUND), size within the limit (RESOURCE_EXHAUSTED), dtype as expected,
 * whole elements, inside the parameter (INVALID_ARGUMENT). `expected(entry)` gives the dtype the chunk must have
 * (UNSPECIFIED on the wire means exactly that dtype); undefined accepts any dtype, UNSPECIFIED meaning the
 * parameter's own.
 */
export function checkChunk(
  model: Model,
  chunk: TensorChunk__Output | null | undefined,
  maxChunkBytes: number,
  expected: (entry: ParamEntry) => DType | undefined,
): CheckedChunk {
  if (!chunk) throw fail.invalid('empty chunk message');
  const entry = model.param(chunk.param);
  const data = chunk.data;
  if (data.length > maxChunkBytes) {
    throw fail.exhausted(`chunk of ${entry.name} carries ${data.length} bytes; the limit is ${maxChunkBytes}`);
  }
  if (data.length === 0) throw fail.invalid(`chunk of ${entry.name} carries no data`);
  const want = expected(entry);
  const given = dtypes.decode(chunk.dtype, `chunk dtype of ${entry.name}`);
  const dtype = given ?? want ?? entry.dtype;
  if (want !== undefined && dtype !== want) {
    throw fail.invalid(`chunk of ${entry.name} is ${dtype}; this call announced ${want}`);
  }
  const width = DTYPE_WIDTH[dtype];
  // Where the element width came from, so that a dtype mistake (fp32 bytes, no chunk dtype, an fp16 parameter)
  // reads as one rather than as a range error.
  const assumed = `${dtype} (${width} bytes per element, ${
    given !== undefined
      ? "the chunk's dtype"
      : want !== undefined
        ? 'the dtype this call announced'
        : "the parameter's dtype; the chunk names none"
  })`;
  if (data.length % width !== 0) {
    throw fail.invalid(`chunk of ${entry.name}: ${data.length} bytes is not a whole number of elements of ${assumed}`);
  }
  const count = data.length / width;
  const offset = chunk.offset;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + count > entry.numel) {
    throw fail.invalid(
      `chunk of ${entry.name} covers elements [${offset}, ${offset + count}) as ${assumed}, ` +
        `outside [0, ${entry.numel})`,
    );
  }
  return { entry, offset, count, dtype, data };
}

/** Largest piece read from the engine at once (Node Buffers stop at 4 GiB; smaller pieces bound peak memory). */
export const READ_PIECE_BYTES = 64 * 1024 * 1024;

/** Byte sizes of the pieces readValues returns for `numel` elements of `width` bytes. */
export function pieceSizes(numel: number, width: number): number[] {
  const per = Math.max(1, Math.floor(READ_PIECE_BYTES / width));
  const sizes: number[] = [];
  for (let off = 0; off < numel; off += per) sizes.push(Math.min(per, numel - off) * width);
  return sizes;
}

/**
 * A parameter's values as `dtype`, in pieces of at most READ_PIECE_BYTES (whole elements). With a pool the pieces
 * are its reused buffers, which the caller gives back (giveBytes) once nothing reads them. `range` reads only
 * elements [offset, offset + count) (a lane's slice of the parameter).
 */
export async function readValues(
  entry: ParamEntry,
  dtype: DType,
  pool?: BufferPool,
  range: { offset: number; count: number } = { offset: 0, count: entry.numel },
): Promise<Buffer[]> {
  const width = DTYPE_WIDTH[dtype];
  const pieces: Buffer[] = [];
  let off = range.offset;
  try {
    for (const bytes of pieceSizes(range.count, width)) {
      if (pool) {
        const piece = pool.takeBytes(bytes);
        pieces.push(piece);
        await entry.param.readInto(piece, 0, off, bytes / width, dtype);
      } else {
        pieces.push(await entry.param.read(off, bytes / width, dtype));
      }
      off += bytes / width;
    }
  } catch (err) {
    if (pool) for (const p of pieces) pool.giveBytes(p);
    throw err;
  }
  return pieces;
}

function sliceStep(max: number, align: number): number {
  return Math.max(align, max - (max % align));
}

/** Views of at most `max` bytes (a multiple of `align`) over `pieces`, with their byte offsets. */
export function* slices(pieces: Buffer[], max: number, align: number): Generator<{ offset: number; data: Buffer }> {
  const step = sliceStep(max, align);
  let offset = 0;
  for (const piece of pieces) {
    for (let at = 0; at < piece.length; at += step) {
      const data = piece.subarray(at, Math.min(piece.length, at + step));
      yield { offset, data };
      offset += data.length;
    }
  }
}

/** How many views slices() makes over pieces of these sizes. */
export function sliceCount(sizes: number[], max: number, align: number): number {
  const step = sliceStep(max, align);
  return sizes.reduce((n, b) => n + Math.ceil(b / step), 0);
}
