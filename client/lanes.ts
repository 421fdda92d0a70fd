// Lanes: one step carried over K streams, each on its own HTTP/2 connection (docs/service.md, Transport). Each lane
// sends a contiguous share of the step's gradient bytes (whole tensors, or slices of large ones) and receives the
// same share of the weights; the server joins the lanes of one (model, worker_id, step_id) into one atomic step.
// This module splits the gradients and merges the lanes' replies; client.ts opens the connections and the calls.

import type { DType } from '../native/lib/types';
import { QstepError, Status } from './errors';
import { WIDTH } from './tensors';
import type { NormalizedTensor, Tensor } from './tensors';
import type { StepOptions, StepReply } from './types';

/**
 * Lanes per step by default: one, as before. On the busy 2-core build machine K = 2 and 4 measured no faster than
 * one connection (docs/service.md, Transport: Figures); hosts with spare cores opt in with `lanes`.
 */
export const DEFAULT_LANES = 1;
/** The contract's bound (step.proto, StepLane.count). */
export const MAX_LANES = 64;
/** Below this many gradient bytes a step goes over one stream: a lane costs a round trip and a join. */
export const LANE_MIN_BYTES = 4 * 1024 * 1024;

/** One lane's share: slices of the step's gradients, as views of the caller's memory. */
export interface LanePlan {
  index: number;
  tensors: NormalizedTensor[];
  slices: { param: string; offset: number; count: number }[];
}

/**
 * Splits the gradients into at most k lanes of about equal bytes, in order: lane i takes the elements whose bytes
 * start in [total * i / k, total * (i + 1) / k), so a tensor that crosses a boundary is cut at an element boundary
 * and the rest stay whole. Lanes that would be empty are left out.
 */
export function planLanes(list: NormalizedTensor[], k: number): LanePlan[] {
  const total = list.reduce((n, t) => n + t.bytes.length, 0);
  const bound = (i: number) => Math.floor((total * i) / k);
  const lanes: LanePlan[] = Array.from({ length: k }, (_, index) => ({ index, tensors: [], slices: [] }));
  let pos = 0;
  for (const t of list) {
    const len = t.bytes.length;
    for (let i = 0; i < k; i++) {
      const lo = Math.max(bound(i), pos);
      const hi = Math.min(bound(i + 1), pos + len);
      if (hi <= lo) continue;
      // Elements whose first byte lies in [lo, hi): the same rule on both sides of a boundary, so no gap or overlap.
      const from = Math.ceil((lo - pos) / t.width);
      const to = Math.ceil((hi - pos) / t.width);
      if (to <= from) continue;
      lanes[i].tensors.push({ ...t, bytes: t.bytes.subarray(from * t.width, to * t.width), elementOffset: from });
      lanes[i].slices.push({ param: t.name, offset: from, count: to - from });
    }
    pos += len;
  }
  return lanes.filter((l) => l.slices.length > 0).map((l, index) => ({ ...l, index }));
}

/** Chunks of returned weights from all lanes, merged into one tensor per parameter. */
export class WeightMerger {
  private readonly parts = new Map<string, { dtype: DType; target: Buffer | null; bytes: number }>();

  /**
   * @param numel elements per parameter of the step
   * @param into  caller memory per parameter (weightsInto), already checked for size by the caller
   */
  constructor(
    private readonly numel: Map<string, number>,
    private readonly into: Map<string, Buffer>,
  ) {}

  add(param: string, dtype: DType, byteOffset: number, data: Buffer): void {
    const n = this.numel.get(param);
    if (n === undefined)
      throw new QstepError(Status.DATA_LOSS, `weights for ${param.slice(0, 200)}, which the step did not update`);
    let p = this.parts.get(param);
    if (!p) {
      const given = this.into.get(param);
      const bytes = n * WIDTH[dtype];
      p = { dtype, target: given && given.length === bytes ? given : Buffer.allocUnsafeSlow(bytes), bytes: 0 };
      this.parts.set(param, p);
    }
    if (p.dtype !== dtype) throw new QstepError(Status.DATA_LOSS, `weights of ${param} arrived in two dtypes`);
    if (!p.target || byteOffset + data.length > p.target.length) {
      throw new QstepError(Status.DATA_LOSS, `weights of ${param} out of range`);
    }
    data.copy(p.target, byteOffset);
    p.bytes += data.length;
  }

  /** The merged reply: lane 0's result with every parameter's weights (each must be complete). */
  reply(first: StepReply, replies: StepReply[], streamed: boolean): StepReply {
    const weights = new Map<string, Tensor>();
    if (!streamed) {
      for (const [name, p] of this.parts) {
        if (!p.target || p.bytes !== p.target.length)
          throw new QstepError(Status.DATA_LOSS, `weights of ${name} incomplete`);
        weights.set(name, { dtype: p.dtype, data: p.target });
      }
    }
    return { ...first, replayed: replies.every((r) => r.replayed), weights };
  }
}

/** What one lane's stream gets: the abort shared by all lanes, and where its weights go. */
export interface LaneWeights {
  signal: AbortSignal;
  into: Map<string, Buffer>;
  onWeights: NonNullable<StepOptions['onWeights']>;
}

/**
 * One step over several lanes: `run` opens lane's Step stream on its own connection. The first lane to fail
 * cancels the others, so the server discards the whole step; the error is that lane's. Returned weights of all
 * lanes are merged (into the caller's weightsInto memory where given) unless onWeights takes them.
 */
export async function stepOverLanes(
  plans: LanePlan[],
  list: NormalizedTensor[],
  into: Map<string, Buffer>,
  o: StepOptions,
  run: (lane: LanePlan, w: LaneWeights) => Promise<StepReply>,
): Promise<StepReply> {
  const merger = new WeightMerger(new Map(list.map((t) => [t.name, t.bytes.length / t.width])), into);
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  if (o.signal?.aborted) abort.abort();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let first: unknown = null;
  try {
    const replies = await Promise.all(
      plans.map(async (lane) => {
        try {
          return await run(lane, {
            signal: abort.signal,
            into: new Map(),
            onWeights: o.onWeights ?? ((p, d, off, data) => merger.add(p, d, off, data)),
          });
        } catch (err) {
          first ??= err;
          abort.abort();
          throw err;
        }
      }),
    ).catch(() => {
      throw QstepError.from(first);
    });
    return merger.reply(
      replies[0],
      replies,
      o.onWeights !== undefined || o.returnWeights === undefined || o.returnWeights === false,
    );
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
}
