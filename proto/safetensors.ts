// A small streaming safetensors writer and reader (https://github.com/huggingface/safetensors): 8-byte
// little-endian header length, a JSON header mapping each tensor name to { dtype, shape, data_offsets } plus an
// optional "__metadata__" string map, then the raw little-endian bytes. Tensors are written and read in
// data_offsets order, chunk by chunk, so no tensor or file is ever held whole.
//
// Checksums: a writer created with `checksums` records each tensor's CRC-32 (zlib's, IEEE polynomial) in the
// __metadata__ key `qstep_crc32` (a JSON map from tensor name to 8 hex digits). The header is written first with
// zeros in their place and rewritten in place at close(): same length, so the data offsets never move. Readers
// that know nothing of the key (safetensors.torch) see an ordinary metadata string. readSafetensorsData checks
// every tensor that has one. The CRC is computed in slices of CRC_SLICE_BYTES between awaited writes, so a large
// tensor never holds the event loop for more than one slice.

import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';

export const SAFETENSORS_DTYPE_BYTES: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

/** Headers larger than this are refused (the reference implementation's bound). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
/** The __metadata__ key holding per-tensor CRC-32s. */
export const CRC_KEY = 'qstep_crc32';
/** Bytes checksummed (and written) per turn of the event loop. */
export const CRC_SLICE_BYTES = 1024 * 1024;

/** 8 lowercase hex digits. */
export function crcHex(crc: number): string {
  return (crc >>> 0).toString(16).padStart(8, '0');
}

/** CRC-32 of `data` continuing from `prev`, computed slice by slice with a yield to the event loop between. */
export async function crc32Sliced(data: Buffer, prev = 0): Promise<number> {
  let crc = prev;
  for (let at = 0; at < data.length; at += CRC_SLICE_BYTES) {
    crc = crc32(data.subarray(at, Math.min(data.length, at + CRC_SLICE_BYTES)), crc);
    if (at + CRC_SLICE_BYTES < data.length) await new Promise<void>((r) => setImmediate(r));
  }
  return crc;
}

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
  /** Recorded CRC-32 per entry (same order), or null when the file carries none. */
  crcs: (string | null)[] | null;
}

function parseCrcs(metadata: Record<string, string>, entries: SafetensorsEntry[]): (string | null)[] | null {
  const raw = metadata[CRC_KEY];
  if (raw === undefined) return null;
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    throw new Error(`safetensors: metadata ${CRC_KEY} is not valid JSON`);
  }
  return entries.map((e) => {
    const v = m[e.name];
    if (v === undefined) return null;
    if (typeof v !== 'string' || !/^[0-9a-f]{8}$/.test(v)) throw new Error(`safetensors: bad checksum for ${e.name}`);
    return v;
  });
}

function checkEntry(e: SafetensorsEntry): void {
  const width = SAFETENSORS_DTYPE_BYTES[e.dtype];
  if (width === undefined) throw new Error(`safetensors: unknown dtype ${e.dtype} for ${e.name}`);
  if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new Error(`safetensors: bad shape ${JSON.stringify(e.shape)} for ${e.name}`);
  }
  const want = e.shape.reduce((n, d) => n * d, 1) * width;
  if (want !== e.byteLength)
    throw new Error(`safetensors: ${e.name} has ${e.byteLength} bytes; shape and dtype say ${want}`);
}

/** The 8-byte length and the JSON header, padded with spaces to a multiple of 8 bytes. */
export function encodeHeader(entries: SafetensorsEntry[], metadata: Record<string, string>): Buffer {
  const obj: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) obj.__metadata__ = metadata;
  let offset = 0;
  for (const e of entries) {
    checkEntry(e);
    if (e.name === '__metadata__' || e.name in obj)
      throw new Error(`safetensors: duplicate or reserved name ${e.name}`);
    obj[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.byteLength] };
    offset += e.byteLength;
  }
  let json = Buffer.from(JSON.stringify(obj), 'utf8');
  // A header no reader would accept is refused here, so that no file (or checkpoint) is written that cannot be read.
  if (json.length > MAX_HEADER_BYTES) {
    throw new Error(
      `safetensors: the header of ${entries.length} tensors takes ${json.length} bytes; the format's limit is ` +
        `${MAX_HEADER_BYTES} (docs/service.md, "Many-parameter models")`,
    );
  }
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
  /** Running CRC-32 per tensor; null without checksums. */
  private readonly crcs: number[] | null;
  private headerBytes: Buffer;

  private constructor(
    private readonly file: FileHandle,
    private readonly entries: SafetensorsEntry[],
    private readonly metadata: Record<string, string>,
    header: Buffer,
    checksums: boolean,
  ) {
    this.crcs = checksums ? entries.map(() => 0) : null;
    this.headerBytes = header;
  }

  /** The header as it stands in the file (final once close() returned). */
  get header(): Buffer {
    return this.headerBytes;
  }

  static async create(
    path: string,
    entries: SafetensorsEntry[],
    metadata: Record<string, string>,
    options: { checksums?: boolean } = {},
  ): Promise<SafetensorsWriter> {
    const checksums = options.checksums ?? false;
    const md = checksums
      ? {
          ...metadata,
          [CRC_KEY]: crcMap(
            entries,
            entries.map(() => 0),
          ),
        }
      : metadata;
    const header = encodeHeader(entries, md);
    const file = await open(path, 'w');
    try {
      await file.write(header, 0, header.length);
    } catch (err) {
      await file.close();
      throw err;
    }
    return new SafetensorsWriter(file, entries, metadata, header, checksums);
  }

  /** Appends bytes of tensor `tensor` at `byteOffset`; tensors and bytes must come in order. */
  async write(tensor: number, byteOffset: number, data: Buffer): Promise<void> {
    while (
      this.index < this.entries.length &&
      this.written === this.entries[this.index].byteLength &&
      tensor > this.index
    ) {
      this.index++;
      this.written = 0;
    }
    const e = this.entries[tensor];
    if (tensor !== this.index || !e || byteOffset !== this.written || byteOffset + data.length > e.byteLength) {
      throw new Error(`safetensors: out-of-order data for tensor ${tensor} at ${byteOffset}`);
    }
    // Slice by slice, pipelined: the CRC of slice k+1 is computed on the event loop (one slice at most at a time)
    // while slice k is being written in libuv's pool; writes stay in order, one in flight.
    let inFlight: Promise<void> = Promise.resolve();
    try {
      for (let at = 0; at < data.length; at += CRC_SLICE_BYTES) {
        const slice = data.subarray(at, Math.min(data.length, at + CRC_SLICE_BYTES));
        if (this.crcs) this.crcs[tensor] = crc32(slice, this.crcs[tensor]);
        await inFlight;
        inFlight = this.writeAll(slice);
      }
    } finally {
      await inFlight;
    }
    this.written += data.length;
  }

  private async writeAll(slice: Buffer): Promise<void> {
    for (let at = 0; at < slice.length;) {
      const { bytesWritten } = await this.file.write(slice, at, slice.length - at);
      at += bytesWritten;
    }
  }

  /**
   * Puts the checksums into the header, flushes the file to the device when `sync`, closes it; throws if a tensor
   * is incomplete (the file is closed either way).
   */
  async close(sync = false): Promise<void> {
    try {
      while (this.index < this.entries.length && this.written === this.entries[this.index].byteLength) {
        this.index++;
        this.written = 0;
      }
      if (this.index < this.entries.length)
        throw new Error(`safetensors: tensor ${this.entries[this.index].name} incomplete`);
      if (this.crcs) {
        const header = encodeHeader(this.entries, { ...this.metadata, [CRC_KEY]: crcMap(this.entries, this.crcs) });
        if (header.length !== this.headerBytes.length) throw new Error('safetensors: the header changed length');
        await this.file.write(header, 0, header.length, 0);
        this.headerBytes = header;
      }
      if (sync) await this.file.sync();
    } finally {
      await this.file.close();
    }
  }

  /** Closes the file after a failure, without checks. */
  async abort(): Promise<void> {
    await this.file.close().catch(() => undefined);
  }
}

function crcMap(entries: SafetensorsEntry[], crcs: number[]): string {
  const m: Record<string, string> = {};
  for (const [i, e] of entries.entries()) m[e.name] = crcHex(crcs[i]);
  return JSON.stringify(m);
}

/**
 * Parses and checks a file's header (entries sorted by data offset). With `expect`, the file's size and the CRC-32
 * of its first 8 + header-length bytes must match before anything is parsed.
 */
export async function readSafetensorsHeader(
  path: string,
  expect?: { fileBytes: number; headerCrc32: string },
): Promise<SafetensorsHeader> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    if (expect && size !== expect.fileBytes) {
      throw new Error(`safetensors: file is ${size} bytes; ${expect.fileBytes} were written`);
    }
    const lenBuf = Buffer.alloc(8);
    if ((await file.read(lenBuf, 0, 8, 0)).bytesRead !== 8) throw new Error('safetensors: file shorter than 8 bytes');
    const len = Number(lenBuf.readBigUInt64LE());
    if (len > MAX_HEADER_BYTES || 8 + len > size) throw new Error(`safetensors: bad header length ${len}`);
    const json = Buffer.alloc(len);
    await file.read(json, 0, len, 8);
    if (expect) {
      const crc = crcHex(crc32(json, crc32(lenBuf)));
      if (crc !== expect.headerCrc32) {
        throw new Error(`safetensors: header checksum ${crc} does not match the recorded ${expect.headerCrc32}`);
      }
    }
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(json.toString('utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new Error(`safetensors: the header is not valid JSON (${(err as Error).message.slice(0, 80)})`, {
        cause: err,
      });
    }
    if (!obj || typeof obj !== 'object' || Array.isArray(obj))
      throw new Error('safetensors: the header is not an object');
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
      if (
        !Array.isArray(offs) ||
        offs.length !== 2 ||
        !offs.every((x) => Number.isSafeInteger(x)) ||
        offs[1] < offs[0]
      ) {
        throw new Error(`safetensors: bad data_offsets for ${name}`);
      }
      const e = {
        name,
        dtype: String(t.dtype),
        shape: t.shape as number[],
        byteLength: offs[1] - offs[0],
        begin: offs[0],
      };
      checkEntry(e);
      entries.push(e);
    }
    entries.sort((a, b) => a.begin - b.begin);
    let end = 0;
    for (const e of entries) {
      if (e.begin !== end) throw new Error(`safetensors: data of ${e.name} does not start at byte ${end}`);
      end += e.byteLength;
    }
    if (8 + len + end !== size)
      throw new Error(`safetensors: data section is ${size - 8 - len} bytes; the header says ${end}`);
    return { entries, metadata, dataStart: 8 + len, crcs: parseCrcs(metadata, entries) };
  } finally {
    await file.close();
  }
}

/**
 * Each tensor's bytes in file order, in chunks of at most `chunkBytes`. Where the file records a checksum, the
 * tensor's last chunk is yielded only after its CRC-32 matched (a mismatch throws, naming the tensor), so a consumer
 * can treat a tensor whose last chunk arrived as verified. With `into`, every chunk is read into that one buffer
 * (at least chunkBytes long): the consumer must be done with a chunk before asking for the next.
 */
export async function* readSafetensorsData(
  path: string,
  header: SafetensorsHeader,
  chunkBytes: number,
  into?: Buffer,
): AsyncGenerator<{ tensor: number; byteOffset: number; data: Buffer }> {
  const file = await open(path, 'r');
  try {
    for (const [i, e] of header.entries.entries()) {
      const want = header.crcs?.[i] ?? null;
      let crc = 0;
      for (let at = 0; at < e.byteLength; at += chunkBytes) {
        const n = Math.min(chunkBytes, e.byteLength - at);
        const data = into ? into.subarray(0, n) : Buffer.allocUnsafe(n);
        const { bytesRead } = await file.read(data, 0, n, header.dataStart + e.begin + at);
        if (bytesRead !== n) throw new Error(`safetensors: short read in ${e.name}`);
        if (want !== null) {
          crc = await crc32Sliced(data, crc);
          if (at + n === e.byteLength && crcHex(crc) !== want) {
            throw new Error(`safetensors: checksum of tensor ${e.name} is ${crcHex(crc)}; the file records ${want}`);
          }
        }
        yield { tensor: i, byteOffset: at, data };
      }
    }
  } finally {
    await file.close();
  }
}
