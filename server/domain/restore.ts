// Restore assembly: a snapshot header checked against the target model, its tensors staged as they arrive (in
// order per tensor), then applied inside the model's queue all or nothing: the current weights and state of the
// affected parameters are copied first, the snapshot's state tensors are compared with them (same keys, element
// types and shapes, same mode, block size and size), and any failure while applying puts the copies back.

import type { DType, Param, StateSnapshot } from '../../native/lib';
import type { RestoreHeader__Output, TensorData__Output, TensorDescriptor__Output } from '../../proto';
import {
  DTYPE_WIDTH,
  ELEMENT_BYTES,
  elementTypes,
  optimizers,
  stateFormats,
  stateModes,
  tensorRoles,
} from '../../proto/convert';
import type { ElementTypeName } from '../../proto/convert';
import { fail } from '../errors';
import type { Model, ParamEntry } from './model';
import { bounded, quote } from './bounded';
import { SNAPSHOT_FORMAT_VERSION } from './snapshot';
import { checkStateValues } from './state-check';
import { READ_PIECE_BYTES, readValues } from './tensor-chunks';

const ELEMENT_DTYPE: Partial<Record<ElementTypeName, DType>> = { F32: 'fp32', F16: 'fp16', BF16: 'bf16' };
/** Engine state tensors are fp32 or uint8. */
const STATE_ELEMENT: Partial<Record<ElementTypeName, 'f32' | 'u8'>> = { F32: 'f32', U8: 'u8' };
const MAX_STATE_TENSOR_BYTES = 2 ** 32 - 1;

interface StagedTensor {
  name: string;
  entry: ParamEntry;
  role: 'weights' | 'state';
  key: string;
  type: ElementTypeName;
  shape: number[];
  byteLength: number;
  pieces: Buffer[];
  received: number;
}

interface ParamPlan {
  entry: ParamEntry;
  weights: StagedTensor | null;
  state: StagedTensor[];
  /** Present when the snapshot carries state for this parameter. */
  info: Omit<StateSnapshot, 'tensors'> | null;
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export class RestoreStage {
  readonly model: Model;
  readonly tensors: StagedTensor[] = [];
  readonly plans = new Map<ParamEntry, ParamPlan>();
  readonly modelStep: number;
  readonly totalBytes: number;

  /** Validates the header (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION). */
  constructor(model: Model, header: RestoreHeader__Output) {
    this.model = model;
    const snap = header.snapshot;
    if (!snap) throw fail.invalid('restore header without a snapshot header');
    if (snap.formatVersion !== SNAPSHOT_FORMAT_VERSION) {
      throw fail.invalid(`expected snapshot format_version ${SNAPSHOT_FORMAT_VERSION}, got ${snap.formatVersion}`);
    }
    const format = stateFormats.decode(snap.state, 'snapshot.state') ?? 'none';
    if (format === 'dequantized') {
      throw fail.invalid('a snapshot with dequantized state cannot be restored (it is lossy); take a raw one');
    }
    if (!Number.isSafeInteger(snap.modelStep) || snap.modelStep < 0) {
      throw fail.invalid(`expected a non-negative integer for snapshot.model_step, got ${snap.modelStep}`);
    }
    this.modelStep = snap.modelStep;
    if (snap.tensors.length === 0) throw fail.invalid('the snapshot holds no tensors');

    const infos = new Map<string, Omit<StateSnapshot, 'tensors'>>();
    for (const [i, p] of snap.params.entries()) {
      const entry = this.paramOf(p.name, `snapshot.params[${i}]`);
      if (infos.has(entry.name)) throw fail.invalid(`snapshot.params lists ${entry.name} twice`);
      const numel = p.shape.reduce((n, d) => n * d, 1);
      infos.set(entry.name, {
        optimizer: optimizers.require(p.optimizer, `snapshot.params[${i}].optimizer`),
        mode: stateModes.require(p.stateMode, `snapshot.params[${i}].state_mode`),
        blockSize: p.blockSize,
        numel,
        step: p.step,
      });
    }

    const names = new Set<string>();
    let total = 0;
    for (const [i, d] of snap.tensors.entries()) {
      const t = this.checkDescriptor(d, i, format, names);
      total += t.byteLength;
      let plan = this.plans.get(t.entry);
      if (!plan) {
        plan = { entry: t.entry, weights: null, state: [], info: null };
        this.plans.set(t.entry, plan);
      }
      if (t.role === 'weights') {
        if (plan.weights) throw fail.invalid(`snapshot holds two weight tensors for ${t.entry.name}`);
        plan.weights = t;
      } else {
        if (plan.state.some((s) => s.key === t.key)) {
          throw fail.invalid(`snapshot holds state ${quote(t.key)} of ${t.entry.name} twice`);
        }
        const info = infos.get(t.entry.name);
        if (!info) throw fail.invalid(`state tensor ${quote(t.name)} has no entry in snapshot.params`);
        plan.info = info;
        plan.state.push(t);
      }
      this.tensors.push(t);
    }
    if (snap.totalBytes !== 0 && snap.totalBytes !== total) {
      throw fail.invalid(`snapshot.total_bytes is ${snap.totalBytes}; the tensors add up to ${total}`);
    }
    this.totalBytes = total;
  }

  /**
   * The model's parameter a snapshot header names. A name the model lacks is still NOT_FOUND, but the message says
   * that the header does not match the model: a damaged file (a flipped byte in its header) or another model's
   * snapshot, rather than a parameter the caller forgot.
   */
  private paramOf(name: string, where: string): ParamEntry {
    if (this.model.has(name)) return this.model.param(name);
    throw fail.notFound(
      `${where} names parameter ${JSON.stringify(String(name).slice(0, 80))}, which model ` +
        `${this.model.name} does not have: the snapshot header does not verify against this model (a damaged ` +
        'file, or the snapshot of another model)',
    );
  }

  private checkDescriptor(d: TensorDescriptor__Output, i: number, format: string, names: Set<string>): StagedTensor {
    const where = `snapshot.tensors[${i}]`;
    if (!d.name) throw fail.invalid(`${where} has no name`);
    if (names.has(d.name)) throw fail.invalid(`${where}: tensor name ${quote(d.name)} appears twice`);
    names.add(d.name);
    const entry = this.paramOf(d.param, `${where} (${JSON.stringify(d.name.slice(0, 80))})`);
    const role = tensorRoles.require(d.role, `${where}.role`);
    const type = elementTypes.require(d.elementType, `${where}.element_type`);
    for (const dim of d.shape) {
      if (!Number.isSafeInteger(dim) || dim < 0)
        throw fail.invalid(`${where}: bad shape ${bounded(JSON.stringify(d.shape))}`);
    }
    const expected = d.shape.reduce((n, dim) => n * dim, 1) * ELEMENT_BYTES[type];
    if (d.byteLength !== expected) {
      throw fail.invalid(
        `${where} (${quote(d.name)}): byte_length ${d.byteLength} != ${expected} for shape ` +
          `${bounded(JSON.stringify(d.shape))} of ${type}`,
      );
    }
    if (role === 'weights') {
      if (!ELEMENT_DTYPE[type])
        throw fail.invalid(`${where}: weights of ${entry.name} must be F32, F16 or BF16, not ${type}`);
      if (!sameShape(d.shape, entry.param.shape)) {
        throw fail.precondition(
          `weights of ${entry.name} have shape ${bounded(JSON.stringify(d.shape))}; the model's is ` +
            `${JSON.stringify(entry.param.shape)}`,
        );
      }
    } else {
      if (format !== 'raw') throw fail.invalid(`${where}: state tensor in a snapshot whose state format is ${format}`);
      if (!d.stateKey) throw fail.invalid(`${where}: state tensor without a state_key`);
      if (!STATE_ELEMENT[type]) throw fail.invalid(`${where}: state tensors are F32 or U8, not ${type}`);
      if (d.byteLength > MAX_STATE_TENSOR_BYTES) throw fail.exhausted(`${where}: state tensor over 4 GiB`);
    }
    return {
      name: d.name,
      entry,
      role,
      key: d.stateKey,
      type,
      shape: d.shape,
      byteLength: d.byteLength,
      pieces: [],
      received: 0,
    };
  }

  /** Host bytes needed: the staged snapshot plus the copies kept for rolling back. */
  get reserveBytes(): number {
    let backup = 0;
    for (const p of this.plans.values()) {
      if (p.weights) backup += p.entry.numel * p.entry.width;
      if (p.state.length > 0) {
        const m = p.entry.param.memory();
        backup += m.state + m.scales + m.maps + m.percentileHistory;
      }
    }
    return this.totalBytes + backup;
  }

  /** Stages one data chunk: known tensor, next bytes in order, within the tensor. */
  add(chunk: TensorData__Output, maxChunkBytes: number): void {
    const t = this.tensors[chunk.tensor];
    if (!t) throw fail.invalid(`data for tensor index ${chunk.tensor}; the header lists ${this.tensors.length}`);
    const data = chunk.data;
    if (data.length > maxChunkBytes)
      throw fail.exhausted(`data chunk of ${data.length} bytes; the limit is ${maxChunkBytes}`);
    if (data.length === 0) throw fail.invalid(`empty data chunk for ${quote(t.name)}`);
    if (chunk.byteOffset !== t.received) {
      throw fail.invalid(
        `data for ${quote(t.name)} at byte ${chunk.byteOffset}; expected byte ${t.received} (in order)`,
      );
    }
    if (t.received + data.length > t.byteLength) {
      throw fail.invalid(`data for ${quote(t.name)} runs past its ${t.byteLength} bytes`);
    }
    // Weights are staged in pieces (written piece by piece); a state tensor in one buffer (the engine imports whole
    // tensors).
    const pieceSize =
      t.role === 'weights' ? READ_PIECE_BYTES - (READ_PIECE_BYTES % ELEMENT_BYTES[t.type]) : t.byteLength;
    let at = 0;
    while (at < data.length) {
      const pos = t.received + at;
      const piece = Math.floor(pos / pieceSize);
      if (piece === t.pieces.length)
        t.pieces.push(Buffer.allocUnsafe(Math.min(pieceSize, t.byteLength - piece * pieceSize)));
      const within = pos - piece * pieceSize;
      const n = Math.min(data.length - at, pieceSize - within);
      data.copy(t.pieces[piece], within, at, at + n);
      at += n;
    }
    t.received += data.length;
  }

  /** INVALID_ARGUMENT unless every tensor arrived in full. */
  checkComplete(): void {
    for (const t of this.tensors) {
      if (t.received !== t.byteLength) {
        throw fail.invalid(`tensor ${quote(t.name)} is incomplete: ${t.received} of ${t.byteLength} bytes arrived`);
      }
    }
  }

  /**
   * INVALID_ARGUMENT when restored state holds values no step could have produced (non-finite values, negative
   * second moments or scales: server/domain/state-check.ts). Call once complete, before apply(); changes nothing.
   */
  async checkValues(): Promise<void> {
    for (const plan of this.plans.values()) {
      if (!plan.info || plan.state.length === 0) continue;
      await checkStateValues(
        plan.info.optimizer,
        plan.info.mode,
        plan.state.map((t) => ({ name: t.name, key: t.key, f32: t.type === 'F32', pieces: t.pieces })),
      );
    }
  }

  /** Applies the snapshot, all or nothing. Run inside the model's queue. Returns the restored parameter names. */
  async apply(): Promise<string[]> {
    this.model.assertAlive();
    const backups: { plan: ParamPlan; weights: Buffer[] | null; state: StateSnapshot | null }[] = [];
    for (const plan of this.plans.values()) {
      const p = plan.entry.param;
      const weights = plan.weights ? await readValues(plan.entry, plan.entry.dtype) : null;
      const state = plan.state.length > 0 ? await p.exportState() : null;
      if (state) this.checkStateFits(plan, p, state);
      backups.push({ plan, weights, state });
    }
    const applied: typeof backups = [];
    try {
      for (const b of backups) {
        applied.push(b);
        const { plan } = b;
        const p = plan.entry.param;
        if (plan.weights) await writePieces(p, plan.weights.pieces, ELEMENT_DTYPE[plan.weights.type] as DType);
        if (plan.info) {
          const tensors: StateSnapshot['tensors'] = {};
          for (const t of plan.state) {
            tensors[t.key] = {
              dtype: STATE_ELEMENT[t.type] as 'f32' | 'u8',
              shape: t.shape,
              data: t.pieces[0] ?? Buffer.alloc(0),
            };
          }
          await p.importState({ ...plan.info, tensors });
        }
      }
    } catch (err) {
      try {
        await this.rollback(applied);
      } catch (again) {
        throw new Error(
          `restore of ${this.model.name} failed (${String(err)}) and so did rolling back (${String(again)})`,
          {
            cause: again,
          },
        );
      }
      throw err;
    }
    for (const plan of this.plans.values()) {
      if (plan.weights) this.model.markAllUploaded(plan.entry);
    }
    // The model step belongs to the optimizer's history: it comes back with the state, not with weights alone.
    const withState = [...this.plans.values()].some((p) => p.info !== null);
    this.model.steps.resetHistory(withState ? this.modelStep : undefined);
    return [...this.plans.keys()].map((e) => e.name);
  }

  /** The snapshot's state must have the parameter's own layout; else FAILED_PRECONDITION before anything changes. */
  private checkStateFits(plan: ParamPlan, p: Param, current: StateSnapshot): void {
    const info = plan.info as Omit<StateSnapshot, 'tensors'>;
    const name = plan.entry.name;
    if (info.mode !== p.mode) throw fail.precondition(`state of ${name} is ${info.mode}; the model holds ${p.mode}`);
    if (info.mode === 'blockwise8' && info.blockSize !== p.layout.blockSize) {
      throw fail.precondition(
        `state of ${name} has block size ${info.blockSize}; the model uses ${p.layout.blockSize}`,
      );
    }
    if (info.numel !== p.numel)
      throw fail.precondition(`state of ${name} has ${info.numel} elements; the model's has ${p.numel}`);
    const want = Object.keys(current.tensors).sort();
    const got = plan.state.map((t) => t.key).sort();
    if (want.join(',') !== got.join(',')) {
      throw fail.precondition(
        `state of ${name} holds [${got.map((k) => quote(k)).join(', ')}]; the model's optimizer keeps [${want.join(', ')}]`,
      );
    }
    for (const t of plan.state) {
      const c = current.tensors[t.key];
      if (STATE_ELEMENT[t.type] !== c.dtype || !sameShape(t.shape, c.shape)) {
        throw fail.precondition(
          `state ${quote(t.key)} of ${name} is ${t.type}${JSON.stringify(t.shape)}; the model holds ` +
            `${c.dtype}${JSON.stringify(c.shape)}`,
        );
      }
    }
  }

  private async rollback(applied: { plan: ParamPlan; weights: Buffer[] | null; state: StateSnapshot | null }[]) {
    for (const b of applied.reverse()) {
      const p = b.plan.entry.param;
      if (p.freed) continue;
      if (b.weights) await writePieces(p, b.weights, p.dtype);
      if (b.state) await p.importState(b.state);
    }
  }

  /** Drops staged bytes. */
  discard(): void {
    for (const t of this.tensors) t.pieces = [];
  }
}

async function writePieces(p: Param, pieces: Buffer[], dtype: DType): Promise<void> {
  let offset = 0;
  for (const piece of pieces) {
    await p.write(offset, piece, dtype);
    offset += piece.length / DTYPE_WIDTH[dtype];
  }
}
