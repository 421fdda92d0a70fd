// Snapshots as safetensors files, self-describing: weights keyed by parameter name, state tensors as
// "__state__/<param>/<key>", and a __metadata__ map carrying the format version, model, optimizer, state format,
// model step and per-parameter state info (mode, block size, step), so that `safetensors.torch.load_file`
// opens the file and `qstep restore` can load it bit-exactly. A plain safetensors file (no qstep metadata)
// restores as weights keyed by parameter name.

import { rename, rm } from 'node:fs/promises';
import type { RestoreResponse__Output, SnapshotHeader, TensorDescriptor } from '../proto';
import type { ElementTypeName } from '../proto/convert';
import { elementTypes, tensorRoles } from '../proto/convert';
import type { QstepClient } from './client';
import type { SnapshotOptions } from './types';
import { SafetensorsWriter, readSafetensorsData, readSafetensorsHeader } from './safetensors';
import type { SafetensorsEntry } from './safetensors';

export const FILE_FORMAT = 'qstep.snapshot';

export type Progress = (doneBytes: number, totalBytes: number) => void;

/** Streams a snapshot of `model` into a safetensors file (written to <path>.partial, renamed when complete). */
export async function writeSnapshotFile(
  client: QstepClient, model: string, path: string, options: SnapshotOptions = {}, progress?: Progress,
): Promise<{ tensors: number; bytes: number; header: SnapshotHeader }> {
  const partial = `${path}.partial`;
  let writer: SafetensorsWriter | null = null;
  let header: SnapshotHeader | null = null;
  let done = 0;
  try {
    for await (const ev of client.snapshotStream(model, options)) {
      if (ev.kind === 'header') {
        header = ev.header as SnapshotHeader;
        const h = ev.header;
        const entries: SafetensorsEntry[] = h.tensors.map((t) => ({
          name: t.name, dtype: elementTypes.require(t.elementType), shape: t.shape, byteLength: t.byteLength,
        }));
        const roles: Record<string, { param: string; role: string; state_key: string }> = {};
        for (const t of h.tensors) roles[t.name] = { param: t.param, role: tensorRoles.require(t.role), state_key: t.stateKey };
        writer = await SafetensorsWriter.create(partial, entries, {
          format: FILE_FORMAT,
          format_version: String(h.formatVersion),
          model: h.model,
          model_step: String(h.modelStep),
          state_format: String(h.state),
          optimizer: JSON.stringify(h.optimizer),
          params: JSON.stringify(h.params),
          tensors: JSON.stringify(roles),
        });
        progress?.(0, h.totalBytes);
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
export async function readSnapshotFileHeader(path: string): Promise<{ header: SnapshotHeader; file: Awaited<ReturnType<typeof readSafetensorsHeader>> }> {
  const file = await readSafetensorsHeader(path);
  const md = file.metadata;
  const ours = md.format === FILE_FORMAT;
  const roles = ours ? (JSON.parse(md.tensors ?? '{}') as Record<string, { param: string; role: string; state_key: string }>) : {};
  const tensors: TensorDescriptor[] = file.entries.map((e) => {
    const r = roles[e.name];
    return {
      name: e.name,
      param: r?.param ?? e.name,
      role: tensorRoles.encode(r?.role ?? 'weights'),
      stateKey: r?.state_key ?? '',
      elementType: elementTypes.encode(e.dtype as ElementTypeName, `dtype of ${e.name}`),
      shape: e.shape,
      byteLength: e.byteLength,
    };
  });
  const header: SnapshotHeader = {
    formatVersion: ours ? Number(md.format_version) : 1,
    model: md.model ?? '',
    optimizer: ours && md.optimizer ? JSON.parse(md.optimizer) : undefined,
    modelStep: ours ? Number(md.model_step ?? 0) : 0,
    state: ours ? (md.state_format as SnapshotHeader['state']) : 'STATE_FORMAT_NONE',
    params: ours ? JSON.parse(md.params ?? '[]') : [],
    tensors,
    totalBytes: file.entries.reduce((n, e) => n + e.byteLength, 0),
  };
  return { header, file };
}

/** Restores `model` from a safetensors file, streaming it. */
export async function restoreSnapshotFile(
  client: QstepClient, model: string, path: string, progress?: Progress,
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
