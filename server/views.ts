// Read-only views of domain objects as proto messages (Describe, CreateModel, ListModels).

import type { MemoryInfo } from '../native/lib';
import type { MemoryBytes, ModelDescription, ModelSummary, ParamDescription, ParamOverride } from '../proto';
import {
  configToWire,
  dtypes,
  hyperToWire,
  layoutToWire,
  optimizers,
  overrideToWire,
  stateModes,
} from '../proto/convert';
import type { Model, ParamEntry } from './domain/model';
import type { ParamPage } from './domain/param-pages';

type Bytes = Required<{ [K in keyof MemoryBytes]: number }>;

export function emptyBytes(): Bytes {
  return {
    parameters: 0,
    state: 0,
    scales: 0,
    maps: 0,
    percentileHistory: 0,
    staging: 0,
    paged: 0,
    fp32StateEquivalent: 0,
    total: 0,
  };
}

function fromMemory(m: MemoryInfo): Bytes {
  const b = emptyBytes();
  b.parameters = m.param;
  b.state = m.state;
  b.scales = m.scales;
  b.maps = m.maps;
  b.percentileHistory = m.percentileHistory;
  b.paged = m.paged;
  b.fp32StateEquivalent = m.fp32StateEquivalent;
  b.total = m.param + m.state + m.scales + m.maps + m.percentileHistory;
  return b;
}

export function addBytes(into: Bytes, b: Bytes): Bytes {
  for (const k of Object.keys(into) as (keyof Bytes)[]) into[k] += b[k];
  return into;
}

function paramBytes(e: ParamEntry): Bytes {
  return e.param.freed ? emptyBytes() : fromMemory(e.param.memory());
}

export function describeParam(e: ParamEntry): ParamDescription {
  const p = e.param;
  const { mode, ...layout } = p.layout;
  return {
    name: e.name,
    shape: p.shape,
    dtype: dtypes.encode(p.dtype),
    numel: e.numel,
    stateMode: stateModes.encode(mode),
    blockSize: mode === 'blockwise8' ? layout.blockSize : 0,
    step: p.freed ? 0 : p.step,
    uploaded: e.uploaded,
    uploadedElements: e.uploadedElements,
    memory: paramBytes(e),
    hyper: hyperToWire(p.hyper()),
    layout: layoutToWire(layout),
  };
}

export function modelBytes(model: Model): Bytes {
  const total = emptyBytes();
  for (const e of model.params) addBytes(total, paramBytes(e));
  total.staging = model.stagingBytes;
  total.total += model.stagingBytes;
  return total;
}

/** A model with one page of its parameters (server/domain/param-pages.ts); overrides of that page only. */
export function describeModel(model: Model, page: ParamPage): ModelDescription {
  const overrides: Record<string, ParamOverride> = {};
  for (const e of page.params) {
    const o = model.overrides[e.name];
    if (o) overrides[e.name] = overrideToWire(o);
  }
  return {
    name: model.name,
    optimizer: configToWire(model.config, model.nonFinite),
    overrides,
    ready: model.ready,
    modelStep: model.modelStep,
    params: page.params.map(describeParam),
    memory: modelBytes(model),
    queuedOperations: model.queueDepth,
    paramCount: model.params.length,
    paramsOffset: page.offset,
    nextPageToken: page.nextToken,
  };
}

export function summarizeModel(model: Model): ModelSummary {
  return {
    name: model.name,
    optimizer: optimizers.encode(model.config.name),
    paramCount: model.params.length,
    numel: model.numel,
    ready: model.ready,
    modelStep: model.modelStep,
    memoryBytes: modelBytes(model).total,
  };
}
