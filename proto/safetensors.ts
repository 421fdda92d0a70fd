// A small streaming safetensors writer and reader (https://github.com/huggingface/safetensors): 8-byte
// little-endian header length, a JSON header mapping each tensor name to { dtype, shape, data_offsets } plus an
// optional "__metadata__" string map, then the raw little-endian bytes. Tensors are written and read in
// data_offsets order, chunk by chunk, so no tensor or file is ever held whole.

import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';

export const SAFETENSORS_DTYPE_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4,
  F64: 8, I64: 8, U64: 8,
};

/** Headers larger than this are refused (the reference implementation's bound). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  byteLength: number;
}

export interface SafetensorsHeader {
  entries: (SafetensorsEntry & { begin: number })[];
  metadata: Record<string, string>;
  /** File offset of the data section. */
  dataStart: number;
}

function checkEntry(e: SafetensorsEntry): void {
  const width = SAFETENSORS_DTYPE_BYTES[e.dtype];
  if (width === undefined) throw new Error(`safetensors: unknown dtype ${e.dtype} for ${e.name}`);
  if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new Error(`safetensors: bad shape ${JSON.stringify(e.shape)} for ${e.name}`);
  }
  const want = e.shape.reduce((n, d) => n * d, 1) * width;
  if (want !== e.byteLength) throw new Error(`safetensors: ${e.name} has ${e.byteLength} bytes; shape and dtype say ${want}`);
}

/** The 8-byte length and the JSON header, padded with spaces to a multiple of 8 bytes. */
export function encodeHeader(entries: SafetensorsEntry[], metadata: Record<string, string>): Buffer {
  const obj: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) obj.__metadata__ = metadata;
  let offset = 0;
  for (const e of entries) {
    checkEntry(e);
    if (e.name === '__metadata__' || e.name in obj) throw new Error(`safetensors: duplicate or reserved name ${e.name}`);
    obj[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.byteLength] };
    offset += e.byteLength;
  }
  let json = Buffer.from(JSON.stringify(obj), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad > 0) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json]);
}

/** Writes a safetensors file whose tensors arrive in order, chunk by chunk. */
export class SafetensorsWriter {
  private index = 0;
  private written = 0;

  private constructor(
    private readonly file: FileHandle,
    private readonly entries: SafetensorsEntry[],
  ) {}

  static async create(path: string, entries: SafetensorsEntry[], metadata: Record<string, string>): Promise<SafetensorsWriter> {
    const header = encodeHeader(entries, metadata);
    const file = await open(path, 'w');
    try {
      await file.write(header, 0, header.length);
    } catch (err) {
      await file.close();
      throw err;
    }
    return new SafetensorsWriter(file, entries);
  }

  /** Appends bytes of tensor `tensor` at `byteOffset`; tensors and bytes must come in order. */
  async write(tensor: number, byteOffset: number, data: Buffer): Promise<void> {
    while (this.index < this.entries.length && this.written === this.entries[this.index].byteLength && tensor > this.index) {
      this.index++;
      this.written = 0;
    }
    const e = this.entries[tensor];
    if (tensor !== this.index || !e || byteOffset !== this.written || byteOffset + data.length > e.byteLength) {
      throw new Error(`safetensors: out-of-order data for tensor ${tensor} at ${byteOffset}`);
    }
    let at = 0;
    while (at < data.length) {
      const { bytesWritten } = await this.file.write(data, at, data.length - at);
      at += bytesWritten;
    }
    this.written += data.length;
  }

  /** Closes the file (after flushing it to the device when `sync`); throws if a tensor is incomplete. */
  async close(sync = false): Promise<void> {
    if (sync) await this.file.sync();
    await this.file.close();
    while (this.index < this.entries.length && this.written === this.entries[this.index].byteLength) {
      this.index++;
      this.written = 0;
    }
    if (this.index < this.entries.length) throw new Error(`safetensors: tensor ${this.entries[this.index].name} incomplete`);
  }

  /** Closes the file after a failure, without checks. */
  async abort(): Promise<void> {
    await this.file.close().catch(() => undefined);
  }
}

/** Parses and checks a file's header (entries sorted by data offset). */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const lenBuf = Buffer.alloc(8);
    if ((await file.read(lenBuf, 0, 8, 0)).bytesRead !== 8) throw new Error('safetensors: file shorter than 8 bytes');
    const len = Number(lenBuf.readBigUInt64LE());
    if (len > MAX_HEADER_BYTES || 8 + len > size) throw new Error(`safetensors: bad header length ${len}`);
    const json = Buffer.alloc(len);
    await file.read(json, 0, len, 8);
    const obj = JSON.parse(json.toString('utf8')) as Record<string, unknown>;
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new Error('safetensors: the header is not an object');
    const metadata: Record<string, string> = {};
    const entries: (SafetensorsEntry & { begin: number })[] = [];
    for (const [name, v] of Object.entries(obj)) {
      if (name === '__metadata__') {
        for (const [k, s] of Object.entries((v ?? {}) as Record<string, unknown>)) {
          if (typeof s !== 'string') throw new Error(`safetensors: metadata ${k} is not a string`);
          metadata[k] = s;
        }
        continue;
      }
      const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const offs = t?.data_offsets;
      if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((x) => Number.isSafeInteger(x)) || offs[1] < offs[0]) {
        throw new Error(`safetensors: bad data_offsets for ${name}`);
      }
      const e = { name, dtype: String(t.dtype), shape: t.shape as number[], byteLength: offs[1] - offs[0], begin: offs[0] };
      checkEntry(e);
      entries.push(e);
    }
    entries.sort((a, b) => a.begin - b.begin);
    let expect = 0;
    for (const e of entries) {
      if (e.begin !== expect) throw new Error(`safetensors: data of ${e.name} does not start at byte ${expect}`);
      expect += e.byteLength;
    }
    if (8 + len + expect !== size) throw new Error(`safetensors: data section is ${size - 8 - len} bytes; the header says ${expect}`);
    return { entries, metadata, dataStart: 8 + len };
  } finally {
    await file.close();
  }
}

/** Each tensor's bytes in file order, in chunks of at most `chunkBytes`. */
export async function* readSafetensorsData(
  path: string, header: SafetensorsHeader, chunkBytes: number,
): AsyncGenerator<{ tensor: number; byteOffset: number; data: Buffer }> {
  const file = await open(path, 'r');
  try {
    for (const [i, e] of header.entries.entries()) {
      for (let at = 0; at < e.byteLength; at += chunkBytes) {
        const n = Math.min(chunkBytes, e.byteLength - at);
        const data = Buffer.allocUnsafe(n);
        const { bytesRead } = await file.read(data, 0, n, header.dataStart + e.begin + at);
        if (bytesRead !== n) throw new Error(`safetensors: short read in ${e.name}`);
        yield { tensor: i, byteOffset: at, data };
      }
    }
  } finally {
    await file.close();
  }
}
