// Snapshots: a consistent copy of chosen parameters' weights and optimizer state, taken inside the model's queue
// (so between two steps) and streamed afterwards, plus the self-description (per-parameter state info and tensor
// descriptors) that Restore and the safetensors files rely on.
//
// Tensor names: a parameter's weights are named by the parameter; its state tensors "__state__/<param>/<key>"
// with the engine's keys (state1, state2, absmax1, qmap1, ...). Parameter names never start with "__".

import type { DType, StateSnapshot } from '../../native/lib';
import type { ParamSnapshot, SnapshotHeader, TensorDescriptor } from '../../proto';
import {
  DTYPE_ELEMENT,
  DTYPE_WIDTH,
  ELEMENT_BYTES,
  configToWire,
  dtypes,
  elementTypes,
  optimizers,
  stateFormats,
  stateModes,
  tensorRoles,
} from '../../proto/convert';
import type { ElementTypeName, StateFormatName } from '../../proto/convert';
import type { Model, ParamEntry } from './model';
import { readValues } from './tensor-chunks';

export const SNAPSHOT_FORMAT_VERSION = 1;
export const STATE_PREFIX = '__state__/';

export function stateTensorName(param: string, key: string): string {
  return `${STATE_PREFIX}${param}/${key}`;
}

export interface SnapshotRequestPlan {
  params: readonly ParamEntry[];
  weights: boolean;
  /** undefined: each parameter's own dtype. */
  weightsDtype: DType | undefined;
  state: StateFormatName;
}

export interface CapturedTensor {
  desc: TensorDescriptor;
  pieces: Buffer[];
}

export interface CapturedSnapshot {
  header: SnapshotHeader;
  tensors: CapturedTensor[];
}

/** Host bytes a capture will hold (reserved from the staging budget before capturing). */
export function estimateSnapshotBytes(plan: SnapshotRequestPlan): number {
  let bytes = 0;
  for (const e of plan.params) {
    if (plan.weights) bytes += e.numel * DTYPE_WIDTH[plan.weightsDtype ?? e.dtype];
    if (plan.state !== 'none') {
      const m = e.param.memory();
      bytes += m.state + m.scales + m.maps + m.percentileHistory + 64;
      if (plan.state === 'dequantized') bytes += m.fp32StateEquivalent;
    }
  }
  return bytes;
}

function shapeBytes(shape: number[], type: ElementTypeName): number {
  return shape.reduce((n, d) => n * d, 1) * ELEMENT_BYTES[type];
}

function describe(
  name: string,
  param: string,
  role: 'weights' | 'state',
  key: string,
  type: ElementTypeName,
  shape: number[],
  byteLength: number,
): TensorDescriptor {
  return {
    name,
    param,
    role: tensorRoles.encode(role),
    stateKey: key,
    elementType: elementTypes.encode(type),
    shape,
    byteLength,
  };
}

/** Copies weights and state of the planned parameters. Run inside the model's queue. */
export async function captureSnapshot(model: Model, plan: SnapshotRequestPlan): Promise<CapturedSnapshot> {
  const params: ParamSnapshot[] = [];
  const tensors: CapturedTensor[] = [];
  for (const e of plan.params) {
    const p = e.param;
    params.push({
      name: e.name,
      shape: p.shape,
      dtype: dtypes.encode(p.dtype),
      optimizer: optimizers.encode(p.optimizer),
      stateMode: stateModes.encode(p.mode),
      blockSize: p.mode === 'blockwise8' ? p.layout.blockSize : 0,
      step: p.step,
    });
    if (plan.weights) {
      const dtype = plan.weightsDtype ?? e.dtype;
      const pieces = await readValues(e, dtype);
      const type = DTYPE_ELEMENT[dtype];
      tensors.push({
        desc: describe(e.name, e.name, 'weights', '', type, p.shape, e.numel * DTYPE_WIDTH[dtype]),
        pieces,
      });
    }
    if (plan.state !== 'none') {
      const state = await p.exportState();
      params[params.length - 1].step = state.step;
      const list = plan.state === 'raw' ? rawStateTensors(state) : await dequantizedStateTensors(state);
      for (const t of list) {
        tensors.push({
          desc: describe(stateTensorName(e.name, t.key), e.name, 'state', t.key, t.type, t.shape, t.data.length),
          pieces: [t.data],
        });
      }
    }
  }
  const header: SnapshotHeader = {
    formatVersion: SNAPSHOT_FORMAT_VERSION,
    model: model.name,
    optimizer: configToWire(model.config, model.nonFinite),
    modelStep: model.modelStep,
    state: stateFormats.encode(plan.state),
    params,
    tensors: tensors.map((t) => t.desc),
    totalBytes: tensors.reduce((n, t) => n + Number(t.desc.byteLength), 0),
  };
  return { header, tensors };
}

interface StateTensor {
  key: string;
  type: ElementTypeName;
  shape: number[];
  data: Buffer;
}

function rawStateTensors(state: StateSnapshot): StateTensor[] {
  return Object.keys(state.tensors)
    .sort()
    .map((key) => {
      const t = state.tensors[key];
      const type: ElementTypeName = t.dtype === 'u8' ? 'U8' : 'F32';
      if (shapeBytes(t.shape, type) !== t.data.length) {
        throw new Error(
          `engine state tensor ${key}: shape ${JSON.stringify(t.shape)} does not match ${t.data.length} bytes`,
        );
      }
      return { key, type, shape: t.shape, data: t.data };
    });
}

const DEQUANT_SLICE = 1 << 20;

function f32(t: { data: Buffer }): Float32Array {
  const d = t.data;
  if (d.byteOffset % 4 === 0) return new Float32Array(d.buffer, d.byteOffset, d.length / 4);
  return new Float32Array(new Uint8Array(d).buffer);
}

/**
 * The state streams as fp32 values: 8-bit codes become qmap[code] x scale (absmax per block in blockwise8, one
 * max per stream in static8, docs/math.md §5.3 and 8.1); fp32 streams pass through. Scales, maps and histories are left
 * out. Works in slices, yielding to the event loop between them.
 */
export async function dequantizedStateTensors(state: StateSnapshot): Promise<StateTensor[]> {
  const out: StateTensor[] = [];
  for (const key of Object.keys(state.tensors).sort()) {
    const m = /^state(\d+)$/.exec(key);
    if (!m) continue;
    const t = state.tensors[key];
    if (t.dtype === 'f32') {
      out.push({ key, type: 'F32', shape: t.shape, data: t.data });
      continue;
    }
    const k = m[1];
    const qmap = state.tensors[`qmap${k}`];
    const scales = state.mode === 'blockwise8' ? state.tensors[`absmax${k}`] : state.tensors[`max${k}`];
    if (!qmap || !scales) throw new Error(`engine state of mode ${state.mode} lacks qmap${k} or its scales`);
    const codes = t.data;
    const map = f32(qmap);
    const sc = f32(scales);
    const n = state.numel;
    const rows = codes.length / n;
    const perRow = sc.length / rows;
    const block = state.mode === 'blockwise8' ? state.blockSize : n;
    const data = Buffer.allocUnsafeSlow(codes.length * 4);
    const values = new Float32Array(data.buffer, data.byteOffset, codes.length);
    let sinceYield = 0;
    for (let row = 0; row < rows; row++) {
      for (let b = 0; b * block < n; b++) {
        const scale = sc[row * perRow + b];
        const start = row * n + b * block;
        const end = row * n + Math.min(n, (b + 1) * block);
        for (let i = start; i < end; i++) values[i] = map[codes[i]] * scale;
        sinceYield += end - start;
        if (sinceYield >= DEQUANT_SLICE) {
          sinceYield = 0;
          await new Promise<void>((r) => setImmediate(r));
        }
      }
    }
    out.push({ key, type: 'F32', shape: t.shape, data });
  }
  return out;
}
