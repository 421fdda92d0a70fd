// Describe: memory by kind, state modes and step counters per model and parameter, totals for the backend.

import type { DescribeRequest__Output, DescribeResponse } from '../../proto';
import type { ServiceDeps } from '../config';
import type { UnaryImpl } from '../rpc';
import { addBytes, describeModel, emptyBytes, modelBytes } from '../views';

export function describeHandler(deps: ServiceDeps): UnaryImpl<DescribeRequest__Output, DescribeResponse> {
  return async (req, ctx) => {
    const models = req.model ? [deps.registry.get(req.model)] : deps.registry.list();
    if (req.model) ctx.set({ model: req.model });
    // Totals cover every model and every stream in flight, whatever the request selected.
    const memory = emptyBytes();
    for (const m of deps.registry.list()) addBytes(memory, modelBytes(m));
    const streams = deps.budget.inUse - memory.staging;
    memory.staging += streams;
    memory.total += streams;
    const device = deps.engine.deviceInfo();
    return {
      models: models.map(describeModel),
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
