// The snapshot file format shared by the client (`qstep snapshot` / `qstep restore`) and the server (models kept
// across restarts with --state-dir): a safetensors file whose tensors are a snapshot's (weights keyed by parameter
// name, state tensors "__state__/<param>/<key>") and whose __metadata__ map carries the snapshot header (format
// version, model, optimizer, state format, model step, per-parameter state info, each tensor's role).
// A plain safetensors file (no qstep metadata) reads as weights keyed by parameter name.

import type { SnapshotHeader, TensorDescriptor } from './index';
import type { ElementTypeName } from './convert';
import { elementTypes, tensorRoles } from './convert';
import type { SafetensorsEntry, SafetensorsHeader } from './safetensors';

export const FILE_FORMAT = 'qstep.snapshot';

/** The file's tensor entries and __metadata__ for a snapshot header. */
export function snapshotFileLayout(h: SnapshotHeader): {
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
} {
  const tensors = h.tensors ?? [];
  const entries: SafetensorsEntry[] = tensors.map((t) => ({
    name: t.name as string,
    dtype: elementTypes.require(t.elementType),
    shape: (t.shape ?? []) as number[],
    byteLength: Number(t.byteLength),
  }));
  const roles: Record<string, { param: string; role: string; state_key: string }> = {};
  for (const t of tensors) {
    roles[t.name as string] = {
      param: t.param as string,
      role: tensorRoles.require(t.role),
      state_key: t.stateKey as string,
    };
  }
  const metadata = {
    format: FILE_FORMAT,
    format_version: String(h.formatVersion),
    model: h.model as string,
    model_step: String(h.modelStep),
    state_format: String(h.state),
    optimizer: JSON.stringify(h.optimizer),
    params: JSON.stringify(h.params),
    tensors: JSON.stringify(roles),
  };
  return { entries, metadata };
}

/** The snapshot header a safetensors file describes (qstep metadata, or plain weights keyed by name). */
export function snapshotHeaderOf(file: SafetensorsHeader): SnapshotHeader {
  const md = file.metadata;
  const ours = md.format === FILE_FORMAT;
  const roles = ours
    ? (JSON.parse(md.tensors ?? '{}') as Record<string, { param: string; role: string; state_key: string }>)
    : {};
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
  return {
    formatVersion: ours ? Number(md.format_version) : 1,
    model: md.model ?? '',
    optimizer: ours && md.optimizer ? JSON.parse(md.optimizer) : undefined,
    modelStep: ours ? Number(md.model_step ?? 0) : 0,
    state: ours ? (md.state_format as SnapshotHeader['state']) : 'STATE_FORMAT_NONE',
    params: ours ? JSON.parse(md.params ?? '[]') : [],
    tensors,
    totalBytes: file.entries.reduce((n, e) => n + e.byteLength, 0),
  };
}
