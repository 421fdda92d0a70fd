// Checkpoint: takes a checkpoint of one model now and answers once it is complete on disk (server/checkpoint/).

import type { CheckpointRequest__Output, CheckpointResponse } from '../../proto';
import type { ServiceDeps } from '../config';
import { fail } from '../errors';
import type { UnaryImpl } from '../rpc';

export function checkpointHandler(deps: ServiceDeps): UnaryImpl<CheckpointRequest__Output, CheckpointResponse> {
  return async (req, ctx) => {
    ctx.set({ model: req.model });
    const model = deps.registry.get(req.model);
    if (!deps.checkpointer) throw fail.precondition('this server keeps no checkpoints: start it with --state-dir');
    const c = await deps.checkpointer.take(model);
    ctx.set({ id: c.ref.id, modelStep: c.manifest.modelStep, bytes: c.bytes, stallMs: c.stallMs, writeMs: c.writeMs });
    return {
      model: model.name,
      id: c.ref.id,
      modelStep: c.manifest.modelStep,
      bytes: c.bytes,
      file: c.ref.dataPath,
      stallMs: c.stallMs,
      writeMs: c.writeMs,
    };
  };
}
