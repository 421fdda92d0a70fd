// ServerInfo: version, backend, devices, capabilities (optimizers x state modes x dtypes) and limits.

import { CONFIG_KEYS, OPTIMIZER_TABLE, applicableDefaults, constants, layoutDefaults } from '../../native/lib';
import type { ServerInfoRequest__Output, ServerInfoResponse } from '../../proto';
import {
  dtypes,
  hyperToWire,
  layoutToWire,
  optimizers,
  protoFieldName,
  stateFormats,
  stateModes,
} from '../../proto/convert';
import type { ServiceDeps } from '../config';
import type { UnaryImpl } from '../rpc';
import { seesEverything } from '../security/authorize';

export function serverInfoHandler(deps: ServiceDeps): UnaryImpl<ServerInfoRequest__Output, ServerInfoResponse> {
  return async (_req, ctx) => {
    const { engine, config } = deps;
    const device = engine.deviceInfo();
    // Free device memory tells how much other tenants hold: only callers that see every model get it (0 = not told).
    const freeBytes = (b: number) => (seesEverything(ctx.principal) ? b : 0);
    ctx.set({ backend: engine.backend });
    return {
      version: deps.version,
      backend: engine.backend,
      threads: engine.threads,
      devices: device
        ? [{ name: device.name, totalBytes: device.totalBytes, freeBytes: freeBytes(device.freeBytes) }]
        : [],
      capabilities: {
        // Every optimizer runs in every state mode for every dtype on both backends (docs/math.md D2, D7, D12).
        // Betas and applicable fields come from the optimizer table, as validation reads them.
        optimizers: OPTIMIZER_TABLE.map((row) => ({
          optimizer: optimizers.encode(row.name),
          stateModes: stateModes.names.map((m) => stateModes.encode(m)),
          dtypes: dtypes.names.map((d) => dtypes.encode(d)),
          defaults: hyperToWire(applicableDefaults(row.name)),
          layoutDefaults: layoutToWire(layoutDefaults(row.name)),
          betas: [...row.betas],
          fields: CONFIG_KEYS.filter((k) => !(k in row.refuses)).map(protoFieldName),
        })),
        gradDtypes: dtypes.names.map((d) => dtypes.encode(d)),
        blockSizes: [...constants.optimizerBlockSizes],
        snapshotStateFormats: stateFormats.names.map((f) => stateFormats.encode(f)),
      },
      directPort: deps.directPort,
      directMethods: deps.directPort ? deps.directMethods : [],
      limits: {
        maxMessageBytes: config.maxMessageBytes,
        maxChunkBytes: config.maxChunkBytes,
        maxModels: Math.min(config.maxModels, ctx.principal?.maxModels ?? Infinity),
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
