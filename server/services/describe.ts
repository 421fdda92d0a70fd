// Describe: memory by kind, state modes and step counters per model and parameter, totals for the backend.

import type { DescribeRequest__Output, DescribeResponse } from '../../proto';
import type { ServiceDeps } from '../config';
import type { UnaryImpl } from '../rpc';
import { addBytes, describeModel, emptyBytes, modelBytes } from '../views';
import { ReplyBudget, offsetOf, pageOf, pageSizeOf } from '../domain/param-pages';
import { fail } from '../errors';
import { seesEverything, visibleModels } from '../security/authorize';

export function describeHandler(deps: ServiceDeps): UnaryImpl<DescribeRequest__Output, DescribeResponse> {
  return async (req, ctx) => {
    if (req.model) ctx.set({ model: req.model });
    if (req.pageToken && !req.model) throw fail.invalid('page_token needs the model it was given for');
    // A token with a namespace sees its own models only, in the list and in the totals (server/security).
    const visible = visibleModels(ctx.principal, deps.registry.list());
    const everything = seesEverything(ctx.principal);
    const models = req.model ? [deps.registry.get(req.model)] : visible;
    const pageSize = pageSizeOf(req.pageSize);
    const budget = new ReplyBudget();
    // Totals cover every model the caller may see (and, for callers that see all, every stream in flight),
    // whatever the request selected.
    const memory = emptyBytes();
    for (const m of visible) addBytes(memory, modelBytes(m));
    const streams = everything ? deps.budget.inUse - memory.staging : 0;
    memory.staging += streams;
    memory.total += streams;
    const device = deps.engine.deviceInfo();
    return {
      models: models.map((m) => describeModel(m, pageOf(m, offsetOf(m, req.pageToken), pageSize, budget))),
      totals: {
        backend: deps.engine.backend,
        models: visible.length,
        memory,
        stagingBudgetBytes: deps.budget.total,
        device:
          device && everything
            ? { name: device.name, totalBytes: device.totalBytes, freeBytes: device.freeBytes }
            : undefined,
      },
    };
  };
}
