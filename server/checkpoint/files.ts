// The on-disk layout of checkpoints and the few file operations that make them atomic.
//
//   <state-dir>/<model>/ckpt-<id>.safetensors      weights + raw state + the model's spec (safetensors layout)
//   <state-dir>/<model>/ckpt-<id>.manifest.json    written last: size and header CRC of the data file, model step
//
// <id> is 8+ decimal digits, increasing per model; the newest checkpoint is the highest id. Every file is written
// under "<name>.tmp", fsynced, renamed, and the directory fsynced, so a name without ".tmp" always holds complete
// bytes. A checkpoint counts only once its manifest is in place: a data file without a manifest is what a crash
// between the two renames leaves, and start-up removes it with the ".tmp" files (docs/service.md, Operations).
//
// The manifest guards its own bytes with a CRC-32 of its body, so a damaged manifest reads as damaged instead of
// pointing at the wrong size or checksum.

import { open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { crcHex } from '../../proto/safetensors';

export const MANIFEST_FORMAT = 'qstep.checkpoint';
export const MANIFEST_VERSION = 1;
export const TMP_SUFFIX = '.tmp';
const DATA_SUFFIX = '.safetensors';
const MANIFEST_SUFFIX = '.manifest.json';
const NAME = /^ckpt-(\d{8,})\.(safetensors|manifest\.json)$/;

export interface ManifestBody {
  format: string;
  version: number;
  model: string;
  id: number;
  modelStep: number;
  /** ISO time the copy was taken. */
  takenAt: string;
  /** The data file's name (in the same directory), byte size and CRC-32 of its first 8 + header-length bytes. */
  file: string;
  fileBytes: number;
  headerCrc32: string;
}

export interface CheckpointRef {
  id: number;
  dir: string;
  dataPath: string;
  manifestPath: string;
}

export function modelDir(stateDir: string, model: string): string {
  return join(stateDir, model);
}

export function checkpointRef(dir: string, id: number): CheckpointRef {
  const base = `ckpt-${String(id).padStart(8, '0')}`;
  return { id, dir, dataPath: join(dir, base + DATA_SUFFIX), manifestPath: join(dir, base + MANIFEST_SUFFIX) };
}

/** fsync of a directory, so that renames and unlinks in it survive a power cut. */
export async function syncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Writes `data` to `path` atomically: <path>.tmp, fsync, rename (the caller syncs the directory). */
export async function writeFileAtomic(path: string, data: Buffer): Promise<void> {
  const tmp = path + TMP_SUFFIX;
  const h = await open(tmp, 'w');
  try {
    await h.writeFile(data);
    await h.sync();
  } finally {
    await h.close();
  }
  await rename(tmp, path);
}

export function encodeManifest(body: ManifestBody): Buffer {
  const json = JSON.stringify(body);
  return Buffer.from(
    JSON.stringify({ body: JSON.parse(json), crc32: crcHex(crc32(Buffer.from(json))) }, null, 1) + '\n',
  );
}

/** Reads and checks a manifest; throws a message naming what is wrong. */
export async function readManifest(ref: CheckpointRef, model: string): Promise<ManifestBody> {
  const raw = await readFile(ref.manifestPath);
  if (raw.length === 0) throw new Error('the manifest is empty');
  let outer: { body?: unknown; crc32?: unknown };
  try {
    outer = JSON.parse(raw.toString('utf8')) as { body?: unknown; crc32?: unknown };
  } catch {
    throw new Error('the manifest is not valid JSON');
  }
  const json = JSON.stringify(outer?.body ?? null);
  if (typeof outer?.crc32 !== 'string' || crcHex(crc32(Buffer.from(json))) !== outer.crc32) {
    throw new Error('the manifest fails its checksum');
  }
  const b = outer.body as ManifestBody;
  if (b.format !== MANIFEST_FORMAT || b.version !== MANIFEST_VERSION) {
    throw new Error(`unknown manifest format ${String(b.format)} version ${String(b.version)}`);
  }
  if (b.model !== model || b.id !== ref.id) throw new Error(`the manifest names model ${b.model} checkpoint ${b.id}`);
  if (join(ref.dir, b.file) !== ref.dataPath) throw new Error(`the manifest names another data file (${b.file})`);
  return b;
}

export interface DirListing {
  /** Checkpoints with a manifest, newest first. */
  complete: CheckpointRef[];
  /** Paths left by interrupted writes: ".tmp" files and data files without a manifest. */
  leftovers: string[];
}

/** What a model's directory holds (nothing when it does not exist). */
export async function listCheckpoints(dir: string): Promise<DirListing> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { complete: [], leftovers: [] };
    throw err;
  }
  const data = new Set<number>();
  const manifests = new Set<number>();
  const leftovers: string[] = [];
  for (const n of names) {
    if (n.endsWith(TMP_SUFFIX) && NAME.test(n.slice(0, -TMP_SUFFIX.length))) {
      leftovers.push(join(dir, n));
      continue;
    }
    const m = NAME.exec(n);
    if (!m) continue; // not ours: left alone
    (m[2] === 'safetensors' ? data : manifests).add(Number(m[1]));
  }
  for (const id of data) if (!manifests.has(id)) leftovers.push(checkpointRef(dir, id).dataPath);
  const complete = [...manifests].sort((a, b) => b - a).map((id) => checkpointRef(dir, id));
  return { complete, leftovers };
}

/** Removes a checkpoint: the manifest first, so that a crash in between leaves only a leftover data file. */
export async function removeCheckpoint(ref: CheckpointRef): Promise<void> {
  await rm(ref.manifestPath, { force: true });
  await rm(ref.dataPath, { force: true });
}
