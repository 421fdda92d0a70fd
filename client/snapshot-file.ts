// Snapshots as safetensors files, self-describing: weights keyed by parameter name, state tensors as
// "__state__/<param>/<key>", and a __metadata__ map carrying the format version, model, optimizer, state format,
// model step and per-parameter state info (mode, block size, step), so that `safetensors.torch.load_file`
// opens the file and `qstep restore` can load it bit-exactly. A plain safetensors file (no qstep metadata)
// restores as weights keyed by parameter name.

import { rename, rm } from 'node:fs/promises';
import type { RestoreResponse__Output, SnapshotHeader } from '../proto';
import { SafetensorsWriter, readSafetensorsData, readSafetensorsHeader } from '../proto/safetensors';
import { snapshotFileLayout, snapshotHeaderOf } from '../proto/snapshot-file';
import type { QstepClient } from './client';
import type { SnapshotOptions } from './types';

export { FILE_FORMAT } from '../proto/snapshot-file';

export type Progress = (doneBytes: number, totalBytes: number) => void;

/** Streams a snapshot of `model` into a safetensors file (written to <path>.partial, renamed when complete). */
export async function writeSnapshotFile(
  client: QstepClient,
  model: string,
  path: string,
  options: SnapshotOptions = {},
  progress?: Progress,
): Promise<{ tensors: number; bytes: number; header: SnapshotHeader }> {
  const partial = `${path}.partial`;
  let writer: SafetensorsWriter | null = null;
  let header: SnapshotHeader | null = null;
  let done = 0;
  try {
    for await (const ev of client.snapshotStream(model, options)) {
      if (ev.kind === 'header') {
        header = ev.header as SnapshotHeader;
        const { entries, metadata } = snapshotFileLayout(header);
        writer = await SafetensorsWriter.create(partial, entries, metadata, { checksums: true });
        progress?.(0, Number(header.totalBytes));
      } else {
        if (!writer || !header) throw new Error('snapshot data before its header');
        await writer.write(ev.tensor, ev.byteOffset, ev.data);
        done += ev.data.length;
        progress?.(done, Number(header.totalBytes));
      }
    }
    if (!writer || !header) throw new Error('the snapshot stream carried no header');
    await writer.close();
    writer = null;
    await rename(partial, path);
    return { tensors: (header.tensors ?? []).length, bytes: done, header };
  } catch (err) {
    await writer?.abort();
    await rm(partial, { force: true });
    throw err;
  }
}

/** The snapshot header a safetensors file describes (qstep metadata, or plain weights keyed by name). */
export async function readSnapshotFileHeader(
  path: string,
): Promise<{ header: SnapshotHeader; file: Awaited<ReturnType<typeof readSafetensorsHeader>> }> {
  const file = await readSafetensorsHeader(path);
  return { header: snapshotHeaderOf(file), file };
}

/** Restores `model` from a safetensors file, streaming it. */
export async function restoreSnapshotFile(
  client: QstepClient,
  model: string,
  path: string,
  progress?: Progress,
): Promise<RestoreResponse__Output> {
  const { header, file } = await readSnapshotFileHeader(path);
  const total = Number(header.totalBytes);
  progress?.(0, total);
  async function* data() {
    let done = 0;
    for await (const d of readSafetensorsData(path, file, client.maxChunkBytes)) {
      yield d;
      done += d.data.length;
      progress?.(done, total);
    }
  }
  return client.restore(model, { header, data: data() });
}
