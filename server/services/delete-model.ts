// DeleteModel: removes a model and frees its parameters and state at once. Calls in flight on the model finish
// (the engine keeps its own reference while a native call runs) or fail NOT_FOUND; jobs still queued fail
// NOT_FOUND. With a state dir its checkpoints are removed too, so that it does not come back on the next start.

import type { DeleteModelRequest__Output, DeleteModelResponse } from '../../proto';
import type { ServiceDeps } from '../config';
import type { UnaryImpl } from '../rpc';

export function deleteModelHandler(deps: ServiceDeps): UnaryImpl<DeleteModelRequest__Output, DeleteModelResponse> {
  return async (req, ctx) => {
    ctx.set({ model: req.name });
    const model = deps.registry.get(req.name);
    const freedBytes = deps.registry.delete(req.name);
    await deps.checkpointer?.forget(model);
    deps.metrics.forgetModel(req.name);
    ctx.set({ freedBytes });
    return { name: req.name, freedBytes };
  };
}
