// Taking one checkpoint of a model: a consistent in-memory copy taken inside the model's queue (between two
// steps: weights, raw state, per-parameter and model step counters, the step ledger), then, with the queue free
// again, the copy is written, checksummed and fsynced (files.ts for the atomic steps). Only the copy holds up the
// model's steps; the write runs on async fs calls in libuv's pool and the CRC in 1 MiB slices on the event loop.

import { mkdir, rename, rm } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { SafetensorsWriter, crcHex } from '../../proto/safetensors';
import { snapshotFileLayout } from '../../proto/snapshot-file';
import type { Model } from '../domain/model';
import { captureSnapshot } from '../domain/snapshot';
import type { CapturedSnapshot } from '../domain/snapshot';
import type { LedgerData } from '../domain/step-ledger';
import type { DType, NonFinitePolicy, OptimizerConfig, ParamOverride } from '../../native/lib';
import {
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  TMP_SUFFIX,
  checkpointRef,
  encodeManifest,
  syncDir,
  writeFileAtomic,
} from './files';
import type { CheckpointRef, ManifestBody } from './files';

/** The __metadata__ key holding the PersistedModel JSON. */
export const MODEL_KEY = 'qstep_model';

/** Per-model checkpoint policy (0 = that trigger is off). */
export interface CheckpointPolicy {
  everySteps: number;
  everySeconds: number;
  keep: number;
}

/** What CreateModel was given plus the counters that are not optimizer state. */
export interface PersistedModel {
  name: string;
  params: { name: string; shape: number[]; dtype: DType }[];
  config: OptimizerConfig;
  overrides: Record<string, ParamOverride>;
  nonFinite: NonFinitePolicy;
  /** The model's own checkpoint policy, when CreateModel gave one (fields left out use the server's). */
  checkpoint?: Partial<CheckpointPolicy>;
  modelStep: number;
  ledger: LedgerData;
}

export interface ModelCopy {
  capture: CapturedSnapshot;
  spec: PersistedModel;
  takenAt: Date;
  /** Milliseconds the model's queue was held for the copy. */
  stallMs: number;
}

/**
 * The consistent copy, taken as one job of the model's queue. The job first waits for `after` (the previous
 * checkpoint's write), which holds the model's later jobs only when that write has not finished yet.
 */
export function copyModelInQueue(
  model: Model,
  policy: Partial<CheckpointPolicy>,
  after: Promise<void>,
): Promise<ModelCopy> {
  return model.exclusive(async () => {
    await after;
    model.assertAlive();
    const t0 = performance.now();
    const capture = await captureSnapshot(model, {
      params: model.params,
      weights: true,
      weightsDtype: undefined,
      state: 'raw',
    });
    const spec: PersistedModel = {
      name: model.name,
      params: model.params.map((e) => ({ name: e.name, shape: e.param.shape, dtype: e.dtype })),
      config: model.config,
      overrides: model.overrides,
      nonFinite: model.nonFinite,
      ...(Object.keys(policy).length > 0 ? { checkpoint: policy } : {}),
      ...model.steps.history(),
    };
    return { capture, spec, takenAt: new Date(), stallMs: performance.now() - t0 };
  });
}

export interface WrittenCheckpoint {
  ref: CheckpointRef;
  manifest: ManifestBody;
  bytes: number;
  writeMs: number;
}

/**
 * Writes a copy as checkpoint `id` of `dir`: the data file (tmp, fsync, rename), then the manifest (same), then
 * the directory fsync. The copy's buffers are dropped tensor by tensor as they are written. On failure the
 * temporary files are removed and the error rethrown; nothing that counts was touched.
 */
export async function writeCheckpoint(dir: string, id: number, copy: ModelCopy): Promise<WrittenCheckpoint> {
  const t0 = performance.now();
  await mkdir(dir, { recursive: true });
  const ref = checkpointRef(dir, id);
  const tmp = ref.dataPath + TMP_SUFFIX;
  const { entries, metadata } = snapshotFileLayout(copy.capture.header);
  let writer: SafetensorsWriter | null = null;
  try {
    writer = await SafetensorsWriter.create(
      tmp,
      entries,
      { ...metadata, [MODEL_KEY]: JSON.stringify(copy.spec) },
      { checksums: true },
    );
    let bytes = 0;
    for (const [i, t] of copy.capture.tensors.entries()) {
      let at = 0;
      for (const piece of t.pieces) {
        await writer.write(i, at, piece);
        at += piece.length;
      }
      bytes += at;
      t.pieces = [];
    }
    const w = writer;
    writer = null;
    await w.close(true);
    await rename(tmp, ref.dataPath);
    const header = w.header;
    const manifest: ManifestBody = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      model: copy.spec.name,
      id,
      modelStep: copy.spec.modelStep,
      takenAt: copy.takenAt.toISOString(),
      file: ref.dataPath.slice(dir.length + 1),
      fileBytes: header.length + bytes,
      headerCrc32: crcHex(crc32(header)),
    };
    await writeFileAtomic(ref.manifestPath, encodeManifest(manifest));
    await syncDir(dir);
    return { ref, manifest, bytes: manifest.fileBytes, writeMs: performance.now() - t0 };
  } catch (err) {
    await writer?.abort();
    await rm(tmp, { force: true });
    await rm(ref.manifestPath + TMP_SUFFIX, { force: true });
    throw err;
  }
}
