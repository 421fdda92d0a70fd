// Models kept across a restart (--state-dir). On a graceful stop, after the calls in flight have drained, every
// ready model is written to <dir>/<model>.qstep.safetensors: a snapshot file (weights and raw state, the format
// `qstep snapshot` writes, so `qstep restore` reads it too) whose metadata also carries what CreateModel was given
// (parameters, optimizer, overrides, non-finite policy), the model step and the step ledger (so a worker's retry
// of a step applied before the restart still replays instead of applying twice).
//
// On start every such file is loaded through the Restore path (validated, all or nothing) before the server
// serves; once all of them loaded, the files are removed. A later crash therefore never brings back state older
// than what was served since: the files only ever hold the state of the last graceful stop, until the next start
// has taken it over. A file that does not load stops the start, naming the file, and leaves every file in place.

import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { DType, NonFinitePolicy, OptimizerConfig, ParamOverride } from '../../native/lib';
import type { SnapshotHeader__Output } from '../../proto';
import { SafetensorsWriter, readSafetensorsData, readSafetensorsHeader } from '../../proto/safetensors';
import { snapshotFileLayout, snapshotHeaderOf } from '../../proto/snapshot-file';
import type { Model } from './model';
import type { ModelRegistry } from './registry';
import { RestoreStage } from './restore';
import { captureSnapshot } from './snapshot';
import type { LedgerData } from './step-ledger';

export const MODEL_FILE_SUFFIX = '.qstep.safetensors';
/** The __metadata__ key holding the PersistedModel JSON. */
const MODEL_KEY = 'qstep_model';
/** Bytes read from a file per staged chunk. */
const LOAD_CHUNK_BYTES = 4 * 1024 * 1024;

interface PersistedModel {
  name: string;
  params: { name: string; shape: number[]; dtype: DType }[];
  config: OptimizerConfig;
  overrides: Record<string, ParamOverride>;
  nonFinite: NonFinitePolicy;
  modelStep: number;
  ledger: LedgerData;
}

function modelFilePath(dir: string, model: string): string {
  return join(dir, model + MODEL_FILE_SUFFIX);
}

/** Writes one model's file (to .partial, synced, then renamed). Run when no call changes the model. */
async function saveModel(model: Model, dir: string): Promise<number> {
  const capture = await model.queue.run(() => captureSnapshot(model, {
    params: model.params, weights: true, weightsDtype: undefined, state: 'raw',
  }));
  const spec: PersistedModel = {
    name: model.name,
    params: model.params.map((e) => ({ name: e.name, shape: e.param.shape, dtype: e.dtype })),
    config: model.config,
    overrides: model.overrides,
    nonFinite: model.nonFinite,
    modelStep: model.modelStep,
    ledger: model.ledger.toData(),
  };
  const { entries, metadata } = snapshotFileLayout(capture.header);
  const path = modelFilePath(dir, model.name);
  const partial = `${path}.partial`;
  const writer = await SafetensorsWriter.create(partial, entries, { ...metadata, [MODEL_KEY]: JSON.stringify(spec) });
  try {
    for (const [i, t] of capture.tensors.entries()) {
      let at = 0;
      for (const piece of t.pieces) {
        await writer.write(i, at, piece);
        at += piece.length;
      }
    }
    await writer.close(true);
  } catch (err) {
    await writer.abort();
    await rm(partial, { force: true });
    throw err;
  }
  await rename(partial, path);
  return Number(capture.header.totalBytes);
}

/**
 * Saves every ready model (a model whose upload is incomplete has nothing worth keeping and is skipped with a
 * warning). A model that fails to save is logged and the others are still saved; the result names both.
 */
export async function saveModels(registry: ModelRegistry, dir: string, log: Logger): Promise<{ saved: string[]; failed: string[] }> {
  await mkdir(dir, { recursive: true });
  const saved: string[] = [];
  const failed: string[] = [];
  for (const model of registry.list()) {
    if (!model.ready) {
      log.warn({ model: model.name, pending: model.pendingParams() }, 'state-dir: not saved, its upload is incomplete');
      continue;
    }
    try {
      const bytes = await saveModel(model, dir);
      saved.push(model.name);
      log.info({ model: model.name, bytes, modelStep: model.modelStep }, 'state-dir: model saved');
    } catch (err) {
      failed.push(model.name);
      log.error({ model: model.name, err }, 'state-dir: model not saved');
    }
  }
  return { saved, failed };
}

async function loadModel(registry: ModelRegistry, path: string): Promise<Model> {
  const file = await readSafetensorsHeader(path);
  const raw = file.metadata[MODEL_KEY];
  if (raw === undefined) throw new Error(`not a qstep model file (no ${MODEL_KEY} metadata)`);
  const spec = JSON.parse(raw) as PersistedModel;
  const model = registry.create({
    name: spec.name, params: spec.params, config: spec.config, overrides: spec.overrides, nonFinite: spec.nonFinite,
  });
  try {
    const snapshot = snapshotHeaderOf(file) as SnapshotHeader__Output;
    const stage = new RestoreStage(model, { model: model.name, snapshot });
    try {
      for await (const d of readSafetensorsData(path, file, LOAD_CHUNK_BYTES)) {
        stage.add({ tensor: d.tensor, byteOffset: d.byteOffset, data: d.data }, LOAD_CHUNK_BYTES);
      }
      stage.checkComplete();
      await model.queue.run(() => stage.apply());
    } finally {
      stage.discard();
    }
    if (!model.ready) throw new Error(`the file leaves parameters without values: ${model.pendingParams().join(', ')}`);
    model.modelStep = spec.modelStep;
    model.ledger.load(spec.ledger);
    return model;
  } catch (err) {
    registry.delete(model.name);
    throw err;
  }
}

/** Loads every model file of `dir` (none if it does not exist), then removes the files. All or nothing. */
export async function loadModels(registry: ModelRegistry, dir: string, log: Logger): Promise<string[]> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith(MODEL_FILE_SUFFIX)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const loaded: Model[] = [];
  for (const f of files) {
    const path = join(dir, f);
    try {
      const model = await loadModel(registry, path);
      loaded.push(model);
      log.info({ model: model.name, modelStep: model.modelStep, file: path }, 'state-dir: model loaded');
    } catch (err) {
      for (const m of loaded) registry.delete(m.name);
      throw new Error(`state-dir: ${path} does not load: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    }
  }
  for (const f of files) await rm(join(dir, f));
  return loaded.map((m) => m.name);
}
