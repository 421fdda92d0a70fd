// ListModels: one summary line per model.

import type { ListModelsRequest__Output, ListModelsResponse } from '../../proto';
import type { ServiceDeps } from '../config';
import type { UnaryImpl } from '../rpc';
import { summarizeModel } from '../views';
import { visibleModels } from '../security/authorize';

export function listModelsHandler(deps: ServiceDeps): UnaryImpl<ListModelsRequest__Output, ListModelsResponse> {
  return async (_req, ctx) => {
    const models = visibleModels(ctx.principal, deps.registry.list()).map(summarizeModel);
    ctx.set({ models: models.length });
    return { models };
  };
}
