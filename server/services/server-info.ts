// ServerInfo: version, backend, devices, capabilities (optimizers x state modes x dtypes) and limits.

import { OPTIMIZERS, constants, hyperDefaults, layoutDefaults } from '../../native/lib';
import type { ServerInfoRequest__Output, ServerInfoResponse } from '../../proto';
import { dtypes, hyperToWire, layoutToWire, optimizers, stateFormats, stateModes } from '../../proto/convert';
import type { ServiceDeps } from '../config';
import type { UnaryImpl } from '../rpc';

export function serverInfoHandler(deps: ServiceDeps): UnaryImpl<ServerInfoRequest__Output, ServerInfoResponse> {
  return async (_req, ctx) => {
    const { engine, config } = deps;
    const device = engine.deviceInfo();
    ctx.set({ backend: engine.backend });
    return {
      version: deps.version,
      backend: engine.backend,
      threads: engine.threads,
      devices: device ? [{ name: device.name, totalBytes: device.totalBytes, freeBytes: device.freeBytes }] : [],
      capabilities: {
        // Every optimizer runs in every state mode for every dtype on both backends (optimizer spec D2, D7, D12).
        optimizers: OPTIMIZERS.map((name) => ({
          optimizer: optimizers.encode(name),
          stateModes: stateModes.names.map((m) => stateModes.encode(m)),
          dtypes: dtypes.names.map((d) => dtypes.encode(d)),
          defaults: hyperToWire(hyperDefaults(name)),
          layoutDefaults: layoutToWire(layoutDefaults(name)),
        })),
        gradDtypes: dtypes.names.map((d) => dtypes.encode(d)),
        blockSizes: [...constants.optimizerBlockSizes],
        snapshotStateFormats: stateFormats.names.map((f) => stateFormats.encode(f)),
      },
      limits: {
        maxMessageBytes: config.maxMessageBytes,
        maxChunkBytes: config.maxChunkBytes,
        maxModels: config.maxModels,
        maxParamsPerModel: config.maxParamsPerModel,
        maxElements: constants.maxElements,
        maxDims: constants.maxDims,
        stagingBudgetBytes: deps.budget.total,
        stagingWaitMs: config.stagingWaitMs,
        idempotencyWindow: config.idempotencyWindow,
        memoryLimitBytes: deps.memory.limit,
        memoryHeldBytes: deps.memory.held,
        stagingPerConnectionBytes: deps.budget.perOwner,
        streamGraceMs: config.streamGraceMs,
        streamMinBytesPerSecond: config.streamMinBytesPerSecond,
      },
    };
  };
}
