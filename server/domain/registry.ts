// The models a server holds, by name. Creation is all or nothing: parameters are allocated on the engine one by
// one and freed again if any of them fails.

import type { DType, Engine, NonFinitePolicy, OptimizerConfig, Param, ParamOverride } from '../../native/lib';
import { EngineError } from '../../native/lib';
import { fail } from '../errors';
import { quote } from './bounded';
import { Model } from './model';
import { MemoryReclaimer } from './reclaim';

export interface RegistryLimits {
  maxModels: number;
  maxParamsPerModel: number;
  idempotencyWindow: number;
}

export interface ModelSpec {
  name: string;
  params: { name: string; shape: number[]; dtype: DType }[];
  config: OptimizerConfig;
  overrides: Record<string, ParamOverride>;
  nonFinite: NonFinitePolicy;
}

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export function checkModelName(name: string, field = 'model'): void {
  if (typeof name !== 'string' || !MODEL_NAME.test(name)) {
    throw fail.invalid(
      `expected 1-128 characters of [A-Za-z0-9._:-] starting with a letter or digit for ${field}, got ${quote(name)}`,
    );
  }
}

export function checkParamName(name: string, field = 'parameter name'): void {
  if (
    typeof name !== 'string' ||
    name.length === 0 ||
    name.length > 256 ||
    CONTROL.test(name) ||
    name.startsWith('__')
  ) {
    throw fail.invalid(`expected 1-256 printable characters not starting with "__" for ${field}, got ${quote(name)}`);
  }
}

export class ModelRegistry {
  private readonly models = new Map<string, Model>();

  /** Called with each new model's bytes (counted among the models already); throws to refuse it. */
  private admit: (name: string, bytes: number) => void = () => undefined;

  /** Runs after each delete (server/domain/reclaim.ts); main.ts adds the staging pools. */
  private reclaimer: MemoryReclaimer;

  constructor(
    private readonly engine: Engine,
    readonly limits: RegistryLimits,
  ) {
    this.reclaimer = new MemoryReclaimer(engine);
  }

  /** Installs the reclaimer that runs after deletes (one that also empties the staging pools). */
  reclaimWith(reclaimer: MemoryReclaimer): void {
    this.reclaimer = reclaimer;
  }

  /** Resolves once the memory of models deleted so far was given back (tests, scripts). */
  reclaimed(): Promise<void> {
    return this.reclaimer.settled();
  }

  /** Installs memory admission (server/domain/memory-admission.ts). */
  admitWith(admit: (name: string, bytes: number) => void): void {
    this.admit = admit;
  }

  /** Bytes every model holds (values, state, scales, maps, history). */
  heldBytes(): number {
    let n = 0;
    for (const m of this.models.values()) n += m.heldBytes();
    return n;
  }

  get size(): number {
    return this.models.size;
  }

  list(): Model[] {
    return [...this.models.values()];
  }

  /** The model named `name`, or NOT_FOUND. */
  get(name: string): Model {
    const m = this.models.get(name);
    if (!m) throw fail.notFound(`no model named ${quote(name)}`);
    return m;
  }

  create(spec: ModelSpec): Model {
    checkModelName(spec.name, 'name');
    if (this.models.has(spec.name)) throw fail.exists(`model ${spec.name} already exists`);
    if (this.models.size >= this.limits.maxModels) {
      throw fail.exhausted(`the server holds its maximum of ${this.limits.maxModels} models`);
    }
    if (spec.params.length === 0) throw fail.invalid('expected at least one parameter for parameters, got none');
    if (spec.params.length > this.limits.maxParamsPerModel) {
      throw fail.invalid(
        `expected at most ${this.limits.maxParamsPerModel} parameters for parameters, got ${spec.params.length}`,
      );
    }
    const names = new Set<string>();
    for (const [i, p] of spec.params.entries()) {
      checkParamName(p.name, `parameters[${i}].name`);
      if (names.has(p.name)) throw fail.invalid(`parameter name ${quote(p.name)} appears twice`);
      names.add(p.name);
    }
    for (const key of Object.keys(spec.overrides)) {
      if (!names.has(key)) throw fail.invalid(`override for ${quote(key)}, which is not a parameter of the model`);
    }
    const created: Param[] = [];
    try {
      for (const p of spec.params) {
        try {
          created.push(
            this.engine.createParam({
              name: p.name,
              shape: p.shape,
              dtype: p.dtype,
              config: spec.config,
              override: spec.overrides[p.name],
            }),
          );
        } catch (e) {
          if (e instanceof EngineError && e.code === 'INVALID_ARGUMENT') {
            throw fail.invalid(`parameter ${quote(p.name)}: ${e.message}`);
          }
          throw e;
        }
      }
      // The engine has allocated (not yet touched) everything: charge it now, and give it back if it does not fit.
      let bytes = 0;
      for (const p of created) {
        const m = p.memory();
        bytes += m.param + m.state + m.scales + m.maps + m.percentileHistory;
      }
      this.admit(spec.name, bytes);
    } catch (e) {
      for (const p of created) p.free();
      throw e;
    }
    const model = new Model({
      name: spec.name,
      params: created,
      config: spec.config,
      overrides: spec.overrides,
      nonFinite: spec.nonFinite,
      idempotencyWindow: this.limits.idempotencyWindow,
    });
    this.models.set(spec.name, model);
    return model;
  }

  /**
   * Makes a just-created model's memory real (issue 10, "Memory admission"): the engine allocates lazily, so an
   * admitted model would otherwise get its pages only as they are first written, and a host that overcommitted
   * would kill the whole server then. Runs on the engine's worker threads; contents are kept, so an upload racing
   * with it is safe. If the host cannot give the memory, the model is deleted and RESOURCE_EXHAUSTED thrown.
   */
  async commit(model: Model): Promise<void> {
    try {
      await Promise.all(model.params.map((e) => e.param.commit()));
    } catch (e) {
      if (this.models.get(model.name) === model) this.delete(model.name);
      if (e instanceof EngineError && e.code === 'OUT_OF_MEMORY') {
        throw fail.exhausted(`model ${model.name}: ${e.message}; the host has less free memory than --memory-limit`);
      }
      if (e instanceof EngineError && e.code === 'FREED') {
        throw fail.notFound(`model ${model.name} was deleted while its memory was being committed`);
      }
      throw e;
    }
  }

  /** Removes and frees a model; operations in flight on it finish or fail NOT_FOUND. Returns freed bytes. */
  delete(name: string): number {
    const model = this.get(name);
    this.models.delete(name);
    const bytes = model.free();
    this.reclaimSoon();
    return bytes;
  }

  /**
   * Gives back soon what a large operation left for V8 to collect (a delete's buffers; a Restore's staged snapshot
   * and its copies of the old values): an idle server does not collect by itself, so repeated Restores would pile up.
   */
  reclaimSoon(): void {
    this.reclaimer.schedule();
  }

  /** Frees every model (server shutdown). */
  clear(): void {
    for (const m of this.models.values()) m.free();
    this.models.clear();
  }
}
