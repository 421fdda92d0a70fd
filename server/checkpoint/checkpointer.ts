// When checkpoints are taken: every N model steps, every T seconds (if the model changed), on request (the
// Checkpoint RPC) and on shutdown; which ones are kept (the K newest per model). One Checkpointer per server with a
// state dir; models are attached when created or loaded.
//
// Each model's checkpoints are taken in order: the copy of checkpoint n+1 waits, inside the model's queue, for the
// write of checkpoint n. Training therefore never stalls while one write is in flight, and stalls (behind the copy
// job) only when a write is still running a full interval later. The loss bound that follows: after a crash the
// model is back at most 2N steps (and 2T seconds) behind its last applied step: the N since the newest complete
// checkpoint was copied, plus at most N applied while the next one was being written (docs/service.md, Operations).
// With several models, writes take turns (the write slot); a model whose turn has not come keeps training, and its
// bound grows by the steps it applies while other models' checkpoints are written.

import { rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Model } from '../domain/model';
import { fail } from '../errors';
import { listCheckpoints, modelDir, removeCheckpoint, syncDir } from './files';
import { copyModelInQueue, writeCheckpoint } from './write';
import type { CheckpointPolicy, WrittenCheckpoint } from './write';

export interface CheckpointOutcome extends WrittenCheckpoint {
  /** Milliseconds the model's queue was held for the copy. */
  stallMs: number;
}

interface Track {
  model: Model;
  /** The model's own policy (fields left out use the server's). */
  own: Partial<CheckpointPolicy>;
  /** Model step and time of the latest copy asked for (scheduled triggers count from here). */
  askedStep: number;
  askedAt: number;
  /** Whether any checkpoint of this model exists or was asked for. */
  taken: boolean;
  /** A scheduled checkpoint asked for and not yet copied: further triggers wait for it. */
  pendingCopy: boolean;
  /** The latest checkpoint's write (settles, never rejects). */
  last: Promise<void>;
  /** Checkpoints asked for whose write has not settled, and those not copied yet. */
  writing: number;
  uncopied: number;
}

/** Checks a policy's fields (INVALID_ARGUMENT naming the field). */
export function checkPolicy(p: Partial<CheckpointPolicy>, where: string): void {
  for (const [k, v] of Object.entries(p)) {
    if (v === undefined) continue;
    const lo = k === 'keep' ? 1 : 0;
    if (!Number.isSafeInteger(v) || v < lo || v > 2 ** 31) {
      throw fail.invalid(`expected an integer in [${lo}, ${2 ** 31}] for ${where}.${k}, got ${String(v).slice(0, 32)}`);
    }
  }
}

export class Checkpointer {
  private readonly tracks = new Map<Model, Track>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  /**
   * The write slot: checkpoints are copied and written one at a time across models, so host memory holds at most
   * one model's copy (two 3 GiB models saved at shutdown need 3 GiB more, not 6). FIFO.
   */
  private slotBusy = false;
  private readonly slotWaiters: (() => void)[] = [];

  constructor(
    readonly stateDir: string,
    readonly defaults: CheckpointPolicy,
    private readonly log: Logger,
    tickMs = 250,
  ) {
    this.timer = setInterval(() => this.tick(), tickMs);
    this.timer.unref();
  }

  policy(model: Model): CheckpointPolicy {
    const t = this.tracks.get(model);
    return { ...this.defaults, ...(t?.own ?? {}) };
  }

  /** Starts scheduling `model`. `loadedStep` marks a model just loaded from a checkpoint at that step. */
  attach(model: Model, own: Partial<CheckpointPolicy> = {}, loadedStep?: number): void {
    const track: Track = {
      model,
      own,
      askedStep: loadedStep ?? model.modelStep,
      askedAt: Date.now(),
      taken: loadedStep !== undefined,
      pendingCopy: false,
      last: Promise.resolve(),
      writing: 0,
      uncopied: 0,
    };
    this.tracks.set(model, track);
    model.steps.onCounted = () => this.onStep(track);
  }

  /** Stops scheduling a deleted model and removes its checkpoints (so that it does not come back on restart). */
  async forget(model: Model): Promise<void> {
    const t = this.tracks.get(model);
    if (!t) return;
    this.tracks.delete(model);
    model.steps.onCounted = null;
    await t.last;
    await rm(modelDir(this.stateDir, model.name), { recursive: true, force: true });
    await syncDir(this.stateDir).catch(() => undefined);
    this.log.info({ model: model.name }, 'checkpoint: model deleted, its checkpoints removed');
  }

  private onStep(t: Track): void {
    const n = this.policy(t.model).everySteps;
    if (this.closed || n <= 0 || t.pendingCopy || t.model.modelStep - t.askedStep < n) return;
    this.start(t, 'steps').catch(() => undefined); // logged by start
  }

  private tick(): void {
    if (this.closed) return;
    const now = Date.now();
    for (const t of this.tracks.values()) {
      const s = this.policy(t.model).everySeconds;
      if (s <= 0 || t.pendingCopy || !t.model.ready || t.model.deleted) continue;
      if (now - t.askedAt < s * 1000) continue;
      if (t.taken && t.model.modelStep === t.askedStep) continue; // nothing new to keep
      this.start(t, 'time').catch(() => undefined);
    }
  }

  /** Takes a checkpoint of `model` now (after the ones already asked for). FAILED_PRECONDITION if not ready. */
  take(model: Model, reason = 'request'): Promise<CheckpointOutcome> {
    const t = this.tracks.get(model);
    if (!t || model.deleted) throw fail.notFound(`model ${model.name} was deleted`);
    if (!model.ready) {
      throw fail.precondition(
        `model ${model.name} is not ready (values missing for ${model.pendingParams().slice(0, 3).join(', ')})`,
      );
    }
    return this.start(t, reason);
  }

  private start(t: Track, reason: string): Promise<CheckpointOutcome> {
    const { model } = t;
    const dir = modelDir(this.stateDir, model.name);
    const previous = t.last;
    t.askedStep = model.modelStep;
    t.askedAt = Date.now();
    t.taken = true;
    t.pendingCopy = true;
    // Host memory holds one model's copy at a time (the write slot). When this model's previous write is still
    // running, the copy job waits in the model's queue (holding its steps: the back-pressure of the header
    // comment) for that write and then for the slot; otherwise the slot is awaited before the job is queued, so
    // that waiting for another model's write does not hold this model's steps.
    let release: (() => void) | null = null;
    const acquire = async () => {
      release = await this.acquireSlot();
    };
    // (A previous checkpoint not copied yet is waited for outside the queue: its copy job has yet to be queued.)
    const copied =
      t.writing > 0 && t.uncopied === 0
        ? copyModelInQueue(model, t.own, previous.then(acquire))
        : previous.then(acquire).then(() => copyModelInQueue(model, t.own, Promise.resolve()));
    t.writing++;
    t.uncopied++;
    const copiedNow = () => {
      t.uncopied--;
      t.pendingCopy = t.uncopied > 0;
    };
    copied.then(copiedNow, copiedNow);
    const done = copied.then(async (copy) => {
      const id = await nextId(dir);
      this.log.debug(
        { model: model.name, reason, id, modelStep: copy.spec.modelStep, stallMs: round(copy.stallMs) },
        'checkpoint copied; writing',
      );
      const w = await writeCheckpoint(dir, id, copy);
      await this.prune(dir, this.policy(model).keep);
      return { ...w, stallMs: copy.stallMs };
    });
    const settle = () => {
      t.writing--;
      (release as (() => void) | null)?.();
    };
    done.then(settle, settle);
    t.last = done.then(
      (w) => {
        this.log.info(
          {
            model: model.name,
            reason,
            id: w.ref.id,
            modelStep: w.manifest.modelStep,
            bytes: w.bytes,
            stallMs: round(w.stallMs),
            writeMs: round(w.writeMs),
            file: w.ref.dataPath,
          },
          'checkpoint written',
        );
      },
      (err: unknown) => {
        if (model.deleted) return;
        this.log.error({ model: model.name, reason, err }, 'checkpoint failed');
      },
    );
    return done;
  }

  private acquireSlot(): Promise<() => void> {
    return new Promise((resolve) => {
      const grant = () => {
        this.slotBusy = true;
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          const next = this.slotWaiters.shift();
          if (next) next();
          else this.slotBusy = false;
        });
      };
      if (this.slotBusy) this.slotWaiters.push(grant);
      else grant();
    });
  }

  private async prune(dir: string, keep: number): Promise<void> {
    const { complete } = await listCheckpoints(dir);
    const old = complete.slice(keep);
    for (const ref of old) await removeCheckpoint(ref);
    if (old.length > 0) await syncDir(dir);
  }

  /**
   * Shutdown: no more scheduled checkpoints; every ready model is checkpointed once more (after what is in flight).
   * Models whose upload is incomplete are not kept (logged).
   */
  async saveAll(): Promise<{ saved: string[]; failed: string[] }> {
    this.closed = true;
    clearInterval(this.timer);
    const saved: string[] = [];
    const failed: string[] = [];
    await Promise.all(
      [...this.tracks.values()].map(async (t) => {
        const m = t.model;
        if (m.deleted) return;
        if (!m.ready) {
          this.log.warn(
            { model: m.name, pending: m.pendingParams().slice(0, 8) },
            'checkpoint: not saved, its upload is incomplete',
          );
          return;
        }
        try {
          await this.start(t, 'shutdown');
          saved.push(m.name);
        } catch {
          failed.push(m.name);
        }
      }),
    );
    return { saved: saved.sort(), failed: failed.sort() };
  }

  /** Stops the timer without saving (tests; a failed start). */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
  }
}

async function nextId(dir: string): Promise<number> {
  const { complete, leftovers } = await listCheckpoints(dir);
  let max = complete.length > 0 ? complete[0].id : 0;
  for (const p of leftovers) {
    const m = /ckpt-(\d+)\./.exec(p);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max + 1;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
