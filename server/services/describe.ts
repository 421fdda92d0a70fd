// Describe: memory by kind, state modes and step counters per model and parameter, totals for the backend.

import type { DescribeRequest__Output, DescribeResponse } from '../../proto';
import type { ServiceDeps } from '../config';
import type { UnaryImpl } from '../rpc';
import { addBytes, describeModel, emptyBytes, modelBytes } from '../views';
import { ReplyBudget, offsetOf, pageOf, pageSizeOf } from '../domain/param-pages';
import { fail } from '../errors';

export function describeHandler(deps: ServiceDeps): UnaryImpl<DescribeRequest__Output, DescribeResponse> {
  return async (req, ctx) => {
    if (req.model) ctx.set({ model: req.model });
    if (req.pageToken && !req.model) throw fail.invalid('page_token needs the model it was given for');
    const models = req.model ? [deps.registry.get(req.model)] : deps.registry.list();
    const pageSize = pageSizeOf(req.pageSize);
    const budget = new ReplyBudget();
    // Totals cover every model and every stream in flight, whatever the request selected.
    const memory = emptyBytes();
    for (const m of deps.registry.list()) addBytes(memory, modelBytes(m));
    const streams = deps.budget.inUse - memory.staging;
    memory.staging += streams;
    memory.total += streams;
    const device = deps.engine.deviceInfo();
    return {
      models: models.map((m) => describeModel(m, pageOf(m, offsetOf(m, req.pageToken), pageSize, budget))),
      totals: {
        backend: deps.engine.backend,
        models: deps.registry.size,
        memory,
        stagingBudgetBytes: deps.budget.total,
        device: device ? { name: device.name, totalBytes: device.totalBytes, freeBytes: device.freeBytes } : null,
      },
    };
  };
}
