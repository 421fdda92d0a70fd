// Snapshot: weights and/or optimizer state of chosen parameters, copied between two steps (inside the model's
// queue) and then streamed: a header describing every tensor (in parts when it is large), then each tensor's bytes in order.

import type { SnapshotRequest__Output, SnapshotResponse } from '../../proto';
import { dtypes, stateFormats } from '../../proto/convert';
import { splitLists } from '../../proto/header-parts';
import type { ServiceDeps } from '../config';
import { fail } from '../errors';
import type { ParamEntry } from '../domain/model';
import { captureSnapshot, estimateSnapshotBytes } from '../domain/snapshot';
import type { SnapshotRequestPlan } from '../domain/snapshot';
import { slices } from '../domain/tensor-chunks';
import type { ServerStreamImpl } from '../rpc';

export function snapshotHandler(deps: ServiceDeps): ServerStreamImpl<SnapshotRequest__Output, SnapshotResponse> {
  return async (req, out, ctx) => {
    ctx.set({ model: req.model });
    const model = deps.registry.get(req.model);
    const state = stateFormats.decode(req.state, 'state') ?? 'none';
    if (!req.weights && state === 'none') throw fail.invalid('nothing to snapshot: ask for weights, state or both');
    const params: readonly ParamEntry[] = req.params.length > 0 ? req.params.map((n) => model.param(n)) : model.params;
    if (new Set(params).size !== params.length) throw fail.invalid('a parameter is listed twice');
    const plan: SnapshotRequestPlan = {
      params,
      weights: req.weights,
      weightsDtype: dtypes.decode(req.weightsDtype, 'weights_dtype'),
      state,
    };
    const lease = await deps.budget.acquire(estimateSnapshotBytes(plan), ctx.signal, model.chargeStaging);
    try {
      const snap = await model.exclusive(async () => {
        model.assertAlive();
        if (ctx.cancelled) throw fail.cancelled();
        return captureSnapshot(model, plan);
      }, ctx.signal);
      // A header listing many parameters continues in header_more messages (proto/header-parts.ts).
      const [head, ...more] = splitLists({ params: snap.header.params ?? [], tensors: snap.header.tensors ?? [] });
      await out.write({ header: { ...snap.header, ...head, headerParts: more.length } });
      for (const part of more) await out.write({ headerMore: part });
      let bytes = 0;
      for (const [index, t] of snap.tensors.entries()) {
        for (const s of slices(t.pieces, deps.config.maxChunkBytes, 4)) {
          await out.write({ data: { tensor: index, byteOffset: s.offset, data: s.data } });
          bytes += s.data.length;
        }
        t.pieces = []; // sent: let it go before the next tensor
      }
      deps.metrics.snapshotBytes.inc({ direction: 'out' }, bytes);
      ctx.set({ bytesOut: bytes, tensors: snap.tensors.length, state });
    } finally {
      lease.release();
    }
  };
}
