// Restore: a snapshot streamed in (header, then tensor bytes), staged in full, then applied all or nothing
// inside the model's queue (between two steps).

import type { RestoreRequest__Output, RestoreResponse } from '../../proto';
import type { ServiceDeps } from '../config';
import { fail } from '../errors';
import { RestoreStage } from '../domain/restore';
import type { Lease } from '../domain/staging-budget';
import { ProgressDeadline } from '../domain/stream-progress';
import type { ClientStreamImpl } from '../rpc';
import { oneofCase } from '../../proto/oneof';
import { MAX_LISTED_NAMES, RESTORE_KINDS, joinRestoreHeader } from './header-parts';

export function restoreHandler(deps: ServiceDeps): ClientStreamImpl<RestoreRequest__Output, RestoreResponse> {
  return async (input, ctx) => {
    const first = await input.next();
    if (!first) throw fail.invalid('empty restore stream: expected a header first');
    if (oneofCase(first, RESTORE_KINDS) !== 'header' || !first.header)
      throw fail.invalid('the first restore message must be a header');
    ctx.set({ model: first.header.model });
    const model = deps.registry.get(first.header.model);
    if (first.header.snapshot) await joinRestoreHeader(first.header.snapshot, input, model.params.length);
    const endRestore = model.beginRestore();
    try {
      const stage = new RestoreStage(model, first.header);
      // Staging is reserved when the first data arrives; then the stream must keep the minimum rate.
      const progress = new ProgressDeadline({
        graceMs: deps.config.streamGraceMs,
        minBytesPerSecond: deps.config.streamMinBytesPerSecond,
      });
      progress.awaitFirstData();
      let lease: Lease | null = null;
      try {
        for (let msg = await progress.race(input.next()); msg; msg = await progress.race(input.next())) {
          if (oneofCase(msg, RESTORE_KINDS) !== 'data' || !msg.data)
            throw fail.invalid('expected tensor data after the header, got another header');
          if (!lease) {
            lease = await deps.budget.acquire(stage.reserveBytes, ctx.signal, model.chargeStaging, ctx.peer);
            progress.holding(stage.totalBytes, stage.tensors.length);
          }
          stage.add(msg.data, deps.config.maxChunkBytes);
        }
        progress.clear();
        stage.checkComplete();
        await stage.checkValues();
        lease ??= await deps.budget.acquire(stage.reserveBytes, ctx.signal, model.chargeStaging, ctx.peer);
        const params = await model.exclusive(async () => {
          if (ctx.cancelled) throw fail.cancelled();
          return stage.apply();
        }, ctx.signal);
        deps.metrics.snapshotBytes.inc({ direction: 'in' }, stage.totalBytes);
        ctx.set({ bytesIn: stage.totalBytes, params: params.length });
        return {
          model: model.name,
          modelStep: model.modelStep,
          params: params.slice(0, MAX_LISTED_NAMES), // the reply must not grow with the parameter count
          paramCount: params.length,
          bytes: stage.totalBytes,
          ready: model.ready,
        };
      } finally {
        stage.discard();
        lease?.release();
      }
    } finally {
      endRestore();
      deps.registry.reclaimSoon();
    }
  };
}
