// Conversions between the wire vocabulary (enum value names, proto messages) and the engine's vocabulary
// ('fp32', 'adam', { lr, betas, optimBits, ... }), shared by server/ and client/. The proto field names of
// Hyperparameters and Layout are the engine's config keys, so a config crosses the wire key by key.
// From native/lib only types and the addon-free vocabulary (vocab.ts, optimizers.ts) are imported: a client
// process never loads the addon, and no width or key list is typed twice.

import type {
  DType,
  Hyperparameters,
  LayoutConfig,
  NonFinitePolicy,
  OptimizerConfig,
  OptimizerName,
  ParamOverride,
  StateMode,
} from '../native/lib/types';
import { DTYPE_BYTES, HYPER_KEYS, LAYOUT_KEYS } from '../native/lib/vocab';
import { UNRECOGNIZED, enumValues } from './index';
import type {
  DType__Output as DTypeWire,
  ElementType__Output as ElementTypeWire,
  Hyperparameters as HyperparametersMsg,
  Hyperparameters__Output,
  Layout as LayoutMsg,
  Layout__Output,
  NonFinitePolicy__Output as NonFinitePolicyWire,
  OptimizerConfig as OptimizerConfigMsg,
  OptimizerConfig__Output,
  ParamOverride as ParamOverrideMsg,
  ParamOverride__Output,
  Optimizer__Output as OptimizerWire,
  StateFormat__Output as StateFormatWire,
  StateMode__Output as StateModeWire,
  TensorRole__Output as TensorRoleWire,
} from './messages';

/** A wire value that is not in the contract (an unknown enum number, a missing required field). */
export class ContractError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'ContractError';
    this.field = field;
  }
}

/**
 * One proto enum seen through friendly names: `DTYPE_FP32` <-> `fp32`. The value list comes from the loaded
 * descriptor; `*_UNSPECIFIED` decodes to undefined.
 */
export class EnumCodec<Name extends string, Wire extends string = string> {
  private readonly toWire = new Map<string, Wire>();
  private readonly fromWire = new Map<string, Name>();
  readonly names: Name[];

  constructor(
    readonly enumName: string,
    prefix: string,
    friendly: (suffix: string) => string = (s) => s.toLowerCase(),
  ) {
    for (const wire of enumValues(enumName)) {
      if (wire.endsWith('_UNSPECIFIED')) continue;
      const name = friendly(wire.slice(prefix.length)) as Name;
      this.toWire.set(name, wire as Wire);
      this.fromWire.set(wire, name);
    }
    this.names = [...this.fromWire.values()];
  }

  /** Wire name of a friendly name; throws ContractError for a name the contract does not have. */
  encode(name: Name | string, field = this.enumName): Wire {
    const wire = this.toWire.get(name);
    if (wire === undefined)
      throw new ContractError(field, `expected one of ${this.names.join(', ')}, got ${JSON.stringify(name)}`);
    return wire;
  }

  /** Friendly name of a decoded wire value; undefined for UNSPECIFIED; ContractError for unknown numbers. */
  decode(wire: string | number | null | undefined, field = this.enumName): Name | undefined {
    if (
      wire === undefined ||
      wire === null ||
      wire === 0 ||
      (typeof wire === 'string' && wire.endsWith('_UNSPECIFIED'))
    ) {
      return undefined;
    }
    const name = typeof wire === 'string' ? this.fromWire.get(wire) : undefined;
    // The generated decoder names every wire number the contract lacks UNRECOGNIZED (the number itself is gone).
    if (wire === UNRECOGNIZED) throw new ContractError(field, `a ${this.enumName} number this server does not know`);
    if (name === undefined) throw new ContractError(field, `unknown ${this.enumName} value ${JSON.stringify(wire)}`);
    return name;
  }

  /** decode() that refuses UNSPECIFIED. */
  require(wire: string | number | null | undefined, field = this.enumName): Name {
    const name = this.decode(wire, field);
    if (name === undefined) throw new ContractError(field, `required (one of ${this.names.join(', ')})`);
    return name;
  }
}

export type ElementTypeName = 'F32' | 'F16' | 'BF16' | 'U8';
export type StateFormatName = 'none' | 'raw' | 'dequantized';
export type TensorRoleName = 'weights' | 'state';

export const dtypes = new EnumCodec<DType, DTypeWire>('DType', 'DTYPE_');
export const optimizers = new EnumCodec<OptimizerName, OptimizerWire>('Optimizer', 'OPTIMIZER_');
export const stateModes = new EnumCodec<StateMode, StateModeWire>('StateMode', 'STATE_MODE_');
export const policies = new EnumCodec<NonFinitePolicy, NonFinitePolicyWire>('NonFinitePolicy', 'NON_FINITE_POLICY_');
export const elementTypes = new EnumCodec<ElementTypeName, ElementTypeWire>('ElementType', 'ELEMENT_TYPE_', (s) => s);
export const stateFormats = new EnumCodec<StateFormatName, StateFormatWire>('StateFormat', 'STATE_FORMAT_');
export const tensorRoles = new EnumCodec<TensorRoleName, TensorRoleWire>('TensorRole', 'TENSOR_ROLE_');

/** Bytes per element of each snapshot element type and each dtype. */
export const ELEMENT_BYTES: Record<ElementTypeName, number> = { F32: 4, F16: 2, BF16: 2, U8: 1 };
export const DTYPE_WIDTH: Readonly<Record<DType, number>> = DTYPE_BYTES;
export const DTYPE_ELEMENT: Record<DType, ElementTypeName> = { fp32: 'F32', fp16: 'F16', bf16: 'BF16' };

/** The Hyperparameters and Layout fields, which are also the engine's config keys (one list: vocab.ts). */
export const HYPER_FIELDS = HYPER_KEYS;
export const LAYOUT_FIELDS = LAYOUT_KEYS;

/** camelCase config key -> the proto field name (`weightDecay` -> `weight_decay`, `min8bitSize` -> `min8bit_size`). */
export function protoFieldName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function copyDefined(from: object | null | undefined, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!from) return out;
  for (const k of keys) {
    const v = (from as Record<string, unknown>)[k];
    if (v === undefined || v === null) continue;
    if (k === 'betas' && Array.isArray(v) && v.length === 0) continue; // empty repeated = inherit
    out[k] = k === 'betas' ? [...(v as number[])] : v;
  }
  return out;
}

export function hyperToWire(h: Partial<Hyperparameters> | undefined): HyperparametersMsg {
  return copyDefined(h, HYPER_FIELDS) as HyperparametersMsg;
}

export function hyperFromWire(h: Hyperparameters__Output | null | undefined): Partial<Hyperparameters> {
  return copyDefined(h, HYPER_FIELDS) as Partial<Hyperparameters>;
}

export function layoutToWire(l: Partial<LayoutConfig> | undefined): LayoutMsg {
  return copyDefined(l, LAYOUT_FIELDS) as LayoutMsg;
}

export function layoutFromWire(l: Layout__Output | null | undefined): Partial<LayoutConfig> {
  return copyDefined(l, LAYOUT_FIELDS) as Partial<LayoutConfig>;
}

export function overrideToWire(o: ParamOverride): ParamOverrideMsg {
  return { hyper: hyperToWire(o), layout: layoutToWire(o) };
}

export function overrideFromWire(o: ParamOverride__Output | null | undefined): ParamOverride {
  return { ...hyperFromWire(o?.hyper), ...layoutFromWire(o?.layout) };
}

export function configToWire(config: OptimizerConfig, nonFinite?: NonFinitePolicy): OptimizerConfigMsg {
  return {
    optimizer: optimizers.encode(config.name, 'optimizer.optimizer'),
    hyper: hyperToWire(config),
    layout: layoutToWire(config),
    nonFinite:
      nonFinite === undefined ? 'NON_FINITE_POLICY_UNSPECIFIED' : policies.encode(nonFinite, 'optimizer.non_finite'),
  };
}

export function configFromWire(c: OptimizerConfig__Output | null | undefined): {
  config: OptimizerConfig;
  nonFinite: NonFinitePolicy | undefined;
} {
  if (!c) throw new ContractError('optimizer', 'required');
  const name = optimizers.require(c.optimizer, 'optimizer.optimizer');
  return {
    config: { name, ...hyperFromWire(c.hyper), ...layoutFromWire(c.layout) },
    nonFinite: policies.decode(c.nonFinite, 'optimizer.non_finite'),
  };
}
