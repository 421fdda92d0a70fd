// Recovery: on start, each model directory of the state dir gives back its newest checkpoint that verifies.
// Leftovers of interrupted writes are removed first; a damaged checkpoint (manifest, size, header CRC, a tensor's
// CRC, a spec that does not fit) is skipped with a warning naming its file and the one before it is tried. When a
// model has checkpoints and none verifies, the start fails naming them. Loading deletes nothing that counts.
//
// Loading streams: the file is read in LOAD_CHUNK_BYTES pieces into one reused buffer and written straight into a
// freshly created model's parameters; only one parameter's optimizer state is held whole at a time (the engine
// imports a parameter's state in one call). A tensor's CRC is checked when its last chunk is read; a mismatch
// throws and the half-filled model is freed, so a damaged file never leaves a model behind.

import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { StateSnapshot } from '../../native/lib';
import type { SnapshotHeader } from '../../proto';
import { elementTypes, optimizers, stateModes, tensorRoles } from '../../proto/convert';
import { readSafetensorsData, readSafetensorsHeader } from '../../proto/safetensors';
import { snapshotHeaderOf } from '../../proto/snapshot-file';
import type { Model } from '../domain/model';
import type { ModelRegistry } from '../domain/registry';
import { listCheckpoints, modelDir, readManifest, syncDir } from './files';
import type { CheckpointRef, ManifestBody } from './files';
import { MODEL_KEY } from './write';
import type { PersistedModel } from './write';

const LEGACY_SUFFIX = '.qstep.safetensors';
/** Bytes read from a file per chunk (a multiple of every element width). */
const LOAD_CHUNK_BYTES = 4 * 1024 * 1024;
const DTYPE_OF_TYPE: Record<string, string> = { F32: 'fp32', F16: 'fp16', BF16: 'bf16' };

export interface LoadedModel {
  model: Model;
  spec: PersistedModel;
  manifest: ManifestBody;
  ref: CheckpointRef;
}

/** Loads one checkpoint into a new model of `registry`; on any failure the model is freed and the error thrown. */
export async function loadCheckpoint(registry: ModelRegistry, ref: CheckpointRef, name: string): Promise<LoadedModel> {
  const manifest = await readManifest(ref, name);
  const file = await readSafetensorsHeader(ref.dataPath, manifest);
  if (!file.crcs || file.crcs.some((c) => c === null)) throw new Error('the file carries no checksum for some tensor');
  const raw = file.metadata[MODEL_KEY];
  if (raw === undefined) throw new Error(`not a qstep checkpoint (no ${MODEL_KEY} metadata)`);
  const spec = JSON.parse(raw) as PersistedModel;
  if (spec.name !== name || spec.modelStep !== manifest.modelStep) {
    throw new Error(
      `the file holds model ${spec.name} at step ${spec.modelStep}; the manifest says ${name} at ${manifest.modelStep}`,
    );
  }
  const header = snapshotHeaderOf(file) as SnapshotHeader & { params: NonNullable<SnapshotHeader['params']> };
  const model = registry.create({
    name,
    params: spec.params,
    config: spec.config,
    overrides: spec.overrides,
    nonFinite: spec.nonFinite,
  });
  await registry.commit(model); // deletes the model itself if the memory is not there
  try {
    await streamInto(model, file.entries.length, header, ref.dataPath, file);
    for (const e of model.params) {
      if (!e.uploaded) throw new Error(`the file has no weights for ${e.name}`);
    }
    model.steps.loadHistory(spec);
    return { model, spec, manifest, ref };
  } catch (err) {
    registry.delete(name);
    throw err;
  }
}

async function streamInto(
  model: Model,
  count: number,
  header: SnapshotHeader,
  path: string,
  file: Awaited<ReturnType<typeof readSafetensorsHeader>>,
): Promise<void> {
  const tensors = header.tensors ?? [];
  const infos = new Map((header.params ?? []).map((p) => [p.name as string, p]));
  // State tensors per parameter, gathered until the parameter's last one arrived.
  const stateCount = new Map<string, number>();
  for (const t of tensors) {
    if (tensorRoles.require(t.role) === 'state')
      stateCount.set(t.param as string, (stateCount.get(t.param as string) ?? 0) + 1);
  }
  const gathered = new Map<string, StateSnapshot['tensors']>();
  const buf = Buffer.allocUnsafe(LOAD_CHUNK_BYTES);
  let stateBuf: Buffer | null = null;
  for await (const d of readSafetensorsData(path, file, LOAD_CHUNK_BYTES, buf)) {
    if (d.tensor >= count) throw new Error('tensor index out of range');
    const t = tensors[d.tensor];
    const entry = model.param(t.param as string);
    const role = tensorRoles.require(t.role);
    const last = d.byteOffset + d.data.length === Number(t.byteLength);
    if (role === 'weights') {
      const type = elementTypes.require(t.elementType);
      if (DTYPE_OF_TYPE[type] !== entry.dtype)
        throw new Error(`weights of ${entry.name} are ${type}, the parameter is ${entry.dtype}`);
      await entry.param.write(d.byteOffset / entry.width, d.data, entry.dtype);
      if (last) model.markAllUploaded(entry);
      continue;
    }
    if (d.byteOffset === 0) stateBuf = Buffer.allocUnsafe(Number(t.byteLength));
    d.data.copy(stateBuf as Buffer, d.byteOffset);
    if (!last) continue;
    const key = t.stateKey as string;
    const got = gathered.get(entry.name) ?? {};
    got[key] = {
      dtype: elementTypes.require(t.elementType) === 'U8' ? 'u8' : 'f32',
      shape: (t.shape ?? []) as number[],
      data: stateBuf as Buffer,
    };
    stateBuf = null;
    gathered.set(entry.name, got);
    if (Object.keys(got).length === stateCount.get(entry.name)) {
      await entry.param.importState({ ...stateInfo(infos.get(entry.name), entry.name), tensors: got });
      gathered.delete(entry.name);
    }
  }
  // Parameters without state tensors (an optimizer that keeps none) still carry their step counter.
  for (const e of model.params) {
    if (!stateCount.has(e.name) && infos.has(e.name)) {
      await e.param.importState({ ...stateInfo(infos.get(e.name), e.name), tensors: {} });
    }
  }
}

function stateInfo(
  p: NonNullable<SnapshotHeader['params']>[number] | undefined,
  name: string,
): Omit<StateSnapshot, 'tensors'> {
  if (!p) throw new Error(`the file has state for ${name} but no entry for it in its params`);
  const shape = (p.shape ?? []) as number[];
  return {
    optimizer: optimizers.require(p.optimizer, `params ${name}`),
    mode: stateModes.require(p.stateMode, `params ${name}`),
    blockSize: Number(p.blockSize),
    numel: shape.reduce((n, d) => n * d, 1),
    step: Number(p.step),
  };
}

export interface Recovered {
  loaded: LoadedModel[];
  /** Checkpoints skipped as damaged, with why. */
  skipped: { file: string; reason: string }[];
  removed: string[];
}

/**
 * Loads every model of `stateDir`. All or nothing: a model with checkpoints none of which verifies stops the start
 * (every model loaded so far is freed), naming the files tried.
 */
export async function recoverModels(registry: ModelRegistry, stateDir: string, log: Logger): Promise<Recovered> {
  const out: Recovered = { loaded: [], skipped: [], removed: [] };
  let names: string[];
  try {
    const entries = await readdir(stateDir, { withFileTypes: true });
    names = entries
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    // Files of the earlier layout (one <model>.qstep.safetensors per model, written only on SIGTERM) are snapshot
    // files: not loaded automatically, but `qstep restore` takes them.
    for (const f of entries.filter((d) => d.isFile() && d.name.endsWith(LEGACY_SUFFIX))) {
      log.warn(
        { file: join(stateDir, f.name) },
        'state-dir: a model file of the earlier layout is not loaded; ' +
          'create the model and `qstep restore` it from this file',
      );
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw err;
  }
  try {
    for (const name of names) {
      const dir = modelDir(stateDir, name);
      const listing = await listCheckpoints(dir);
      for (const p of listing.leftovers) {
        await rm(p, { force: true });
        out.removed.push(p);
        log.warn({ file: p }, 'checkpoint: removed the leftover of an interrupted write');
      }
      if (listing.leftovers.length > 0) await syncDir(dir);
      if (listing.complete.length === 0) continue;
      const tried: string[] = [];
      let loaded: LoadedModel | null = null;
      for (const ref of listing.complete) {
        try {
          loaded = await loadCheckpoint(registry, ref, name);
          break;
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          tried.push(`${ref.dataPath} (${reason})`);
          out.skipped.push({ file: ref.dataPath, reason });
          log.warn(
            { model: name, file: ref.dataPath, manifest: ref.manifestPath, reason },
            'checkpoint: damaged, skipped; trying the one before it',
          );
        }
      }
      if (!loaded) throw new Error(`state-dir: no checkpoint of model ${name} verifies: ${tried.join('; ')}`);
      out.loaded.push(loaded);
      log.info(
        { model: name, modelStep: loaded.manifest.modelStep, file: loaded.ref.dataPath },
        'checkpoint: model loaded',
      );
    }
  } catch (err) {
    for (const l of out.loaded) registry.delete(l.model.name);
    throw err;
  }
  return out;
}
