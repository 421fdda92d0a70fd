// Tensors as the client library takes and returns them: Float32Array (fp32), Uint16Array (fp16 or bf16 bit
// patterns) or Buffer (raw little-endian bytes), viewed as Buffers without copying, and cut into chunks.

import type { DType } from '../native/lib/types';

export type TensorData = Float32Array | Uint16Array | Buffer;
/** A bare Float32Array is fp32; a bare Uint16Array or Buffer takes the call's dtype (or the parameter's own). */
export type TensorInput = TensorData | { data: TensorData; dtype: DType };
export type TensorMap = Record<string, TensorInput> | Map<string, TensorInput>;

/** A tensor the server sent: raw bytes of `dtype`. */
export interface Tensor {
  dtype: DType;
  data: Buffer;
}

export const WIDTH: Record<DType, number> = { fp32: 4, fp16: 2, bf16: 2 };

export interface NormalizedTensor {
  name: string;
  /** undefined: the parameter's own dtype (decided by the server); only for 16-bit arrays. */
  dtype: DType | undefined;
  /** Bytes per element. */
  width: number;
  bytes: Buffer;
  /** First element of `bytes` within the parameter (a lane's slice of it); default 0. */
  elementOffset?: number;
}

/** The bytes of a tensor's memory, as a view (no copy). */
export function bytesOf(data: TensorData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof Float32Array || data instanceof Uint16Array) {
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }
  throw new TypeError('tensor data must be a Float32Array, Uint16Array or Buffer');
}

function dtypeOf(
  data: TensorData,
  given: DType | undefined,
  fallback: DType | undefined,
  name: string,
): DType | undefined {
  if (data instanceof Float32Array) {
    if (given !== undefined && given !== 'fp32') throw new TypeError(`${name}: a Float32Array is fp32, not ${given}`);
    return 'fp32';
  }
  const d = given ?? fallback;
  if (data instanceof Uint16Array && d === 'fp32')
    throw new TypeError(`${name}: a Uint16Array holds fp16 or bf16, not fp32`);
  return d;
}

/**
 * Entries of a TensorMap as raw bytes (views, no copies), in the map's order. Throws TypeError for a Buffer
 * without a dtype or bytes that are not whole elements.
 */
export function normalizeTensors(map: TensorMap, fallback?: DType): NormalizedTensor[] {
  const entries = map instanceof Map ? [...map.entries()] : Object.entries(map);
  return entries.map(([name, input]) => {
    const isWrapped = !(input instanceof Float32Array) && !(input instanceof Uint16Array) && !Buffer.isBuffer(input);
    const data = isWrapped ? (input as { data: TensorData }).data : (input as TensorData);
    const given = isWrapped ? (input as { dtype: DType }).dtype : undefined;
    const dtype = dtypeOf(data, given, fallback, name);
    const bytes = bytesOf(data);
    const width = dtype !== undefined ? WIDTH[dtype] : data instanceof Uint16Array ? 2 : 0;
    if (width === 0)
      throw new TypeError(`${name}: a Buffer tensor needs a dtype (pass { data, dtype } or the dtype option)`);
    if (bytes.length % width !== 0) {
      throw new TypeError(`${name}: ${bytes.length} bytes is not a whole number of ${width}-byte elements`);
    }
    return { name, dtype, width, bytes };
  });
}

/** Element-aligned views of at most `maxBytes` over `bytes` (alignment: 4 bytes covers every dtype). */
export function* chunksOf(bytes: Buffer, maxBytes: number): Generator<{ byteOffset: number; data: Buffer }> {
  const step = maxBytes - (maxBytes % 4);
  for (let at = 0; at < bytes.length; at += step) {
    yield { byteOffset: at, data: bytes.subarray(at, Math.min(bytes.length, at + step)) };
  }
}

/** An fp32 tensor's values (copied only when the bytes are not 4-byte aligned). */
export function toFloat32(t: Tensor | Buffer): Float32Array {
  const b = Buffer.isBuffer(t) ? t : t.data;
  if (!Buffer.isBuffer(t) && t.dtype !== 'fp32') throw new TypeError(`tensor is ${t.dtype}, not fp32`);
  if (b.byteOffset % 4 === 0) return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
  return new Float32Array(Uint8Array.prototype.slice.call(b).buffer);
}

/** An fp16/bf16 tensor's bit patterns. */
export function toUint16(t: Tensor | Buffer): Uint16Array {
  const b = Buffer.isBuffer(t) ? t : t.data;
  if (b.byteOffset % 2 === 0) return new Uint16Array(b.buffer, b.byteOffset, b.length / 2);
  return new Uint16Array(Uint8Array.prototype.slice.call(b).buffer);
}
