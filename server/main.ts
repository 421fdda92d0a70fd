// Server wiring: engine, model registry, staging budget, metrics, logging, the qstep.v1 handlers, grpc.health.v1
// and server reflection on one grpc-js server; graceful shutdown. `cli()` is `qstep serve` (flags and env in
// flags.ts); `startServer()` is what tests and embedders call.

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import { readFileSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import { join } from 'node:path';
import pino from 'pino';
import type { Logger } from 'pino';
import { Engine } from '../native/lib';
import { SERVICE_NAME, packageDefinition, qstepService } from '../proto';
import { serverDefinition } from '../proto/fast-codec';
import type { QstepHandlers } from '../proto';
import { DEFAULT_CONFIG } from './config';
import type { ServerConfig, ServiceDeps } from './config';
import { BufferPool } from './domain/buffer-pool';
import { loadModels, saveModels } from './domain/persist';
import { ModelRegistry } from './domain/registry';
import { StagingBudget } from './domain/staging-budget';
import { ServerMetrics, serveMetrics } from './metrics';
import { bidi, clientStream, serverStream, unary } from './rpc';
import type { RpcDeps } from './rpc';
import { createModelHandler } from './services/create-model';
import { deleteModelHandler } from './services/delete-model';
import { describeHandler } from './services/describe';
import { listModelsHandler } from './services/list-models';
import { restoreHandler } from './services/restore';
import { serverInfoHandler } from './services/server-info';
import { snapshotHandler } from './services/snapshot';
import { stepHandler } from './services/step';
import { uploadParametersHandler } from './services/upload-parameters';

export interface RunningServer {
  /** host:port the gRPC server listens on. */
  address: string;
  port: number;
  /** The Prometheus port, or -1 when metrics are off. */
  metricsPort: number;
  config: ServerConfig;
  deps: ServiceDeps;
  health: HealthImplementation;
  /** Graceful stop: NOT_SERVING, drain for graceMs, then cancel what is left; frees every model. */
  shutdown(graceMs?: number): Promise<void>;
}

function packageVersion(): string {
  // From source (server/) or compiled (dist/server/), qstep's package.json is one or two levels up.
  for (const up of [['..'], ['..', '..']]) {
    try {
      const pkg = JSON.parse(readFileSync(join(__dirname, ...up, 'package.json'), 'utf8')) as Record<string, unknown>;
      if (pkg.name === 'qstep' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not there: try the next level
    }
  }
  return '0.0.0';
}

function checkConfig(c: ServerConfig): void {
  const int = (name: keyof ServerConfig, lo: number, hi = Number.MAX_SAFE_INTEGER) => {
    const v = c[name] as number;
    if (!Number.isSafeInteger(v) || v < lo || v > hi) throw new Error(`${name}: expected an integer in [${lo}, ${hi}], got ${v}`);
  };
  int('port', 0, 65535);
  int('metricsPort', -1, 65535);
  int('threads', 0, 1024);
  int('device', 0, 64);
  int('maxModels', 1);
  int('maxParamsPerModel', 1);
  int('maxChunkBytes', 1024, DEFAULT_CONFIG.maxChunkBytes);
  int('maxMessageBytes', c.maxChunkBytes + 1024, 2 ** 31 - 1);
  int('stagingBudgetBytes', 0);
  int('stagingPoolBytes', 0);
  int('stagingWaitMs', 0);
  int('streamIdleMs', 0);
  int('idempotencyWindow', 0);
  int('shutdownGraceMs', 0);
  if (!['cpu', 'cuda', 'auto'].includes(c.backend)) throw new Error(`backend: expected cpu, cuda or auto, got ${c.backend}`);
  if (c.maxChunkBytes % 4 !== 0) throw new Error(`maxChunkBytes: expected a multiple of 4, got ${c.maxChunkBytes}`);
}

export async function startServer(options: Partial<ServerConfig> = {}, logger?: Logger): Promise<RunningServer> {
  const config: ServerConfig = { ...DEFAULT_CONFIG, ...options };
  checkConfig(config);
  const log = logger ?? pino({ level: config.logLevel, base: { service: 'qstep' } });

  const health = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE_NAME]: 'NOT_SERVING' });
  const engine = Engine.open({
    backend: config.backend,
    threads: config.threads,
    device: config.device,
    pagedDir: config.pagedDir || undefined,
    onFallback: (reason) => log.warn({ reason }, 'backend fallback'),
  });
  const registry = new ModelRegistry(engine, {
    maxModels: config.maxModels,
    maxParamsPerModel: config.maxParamsPerModel,
    idempotencyWindow: config.idempotencyWindow,
  });
  const budget = new StagingBudget(config.stagingBudgetBytes, config.stagingWaitMs);
  const metrics = new ServerMetrics(registry, budget);
  const pool = new BufferPool(config.stagingPoolBytes);
  const deps: ServiceDeps = { config, engine, registry, budget, pool, metrics, log, version: packageVersion() };
  const rpc: RpcDeps = { log, metrics, streamIdleMs: config.streamIdleMs };
  if (config.stateDir) {
    const loaded = await loadModels(registry, config.stateDir, log);
    log.info({ stateDir: config.stateDir, models: loaded }, 'state-dir: models loaded');
  }

  const handlers: QstepHandlers = {
    ServerInfo: unary(rpc, 'ServerInfo', serverInfoHandler(deps)),
    CreateModel: unary(rpc, 'CreateModel', createModelHandler(deps)),
    UploadParameters: clientStream(rpc, 'UploadParameters', uploadParametersHandler(deps)),
    Step: bidi(rpc, 'Step', stepHandler(deps)),
    Snapshot: serverStream(rpc, 'Snapshot', snapshotHandler(deps)),
    Restore: clientStream(rpc, 'Restore', restoreHandler(deps)),
    Describe: unary(rpc, 'Describe', describeHandler(deps)),
    ListModels: unary(rpc, 'ListModels', listModelsHandler(deps)),
    DeleteModel: unary(rpc, 'DeleteModel', deleteModelHandler(deps)),
  };

  const server = new grpc.Server({
    'grpc.max_receive_message_length': config.maxMessageBytes,
    'grpc.max_send_message_length': config.maxMessageBytes,
  });
  server.addService(serverDefinition(qstepService), handlers as unknown as grpc.UntypedServiceImplementation);
  health.addToServer(server);
  const healthPackage = protoLoader.loadSync(healthProtoPath, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  new ReflectionService({ ...packageDefinition, ...healthPackage }).addToServer(server);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${config.host}:${config.port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p));
  });
  let metricsServer: HttpServer | null = null;
  let metricsPort = -1;
  if (config.metricsPort >= 0) {
    try {
      const m = await serveMetrics(metrics.registry, config.metricsHost, config.metricsPort);
      metricsServer = m.server;
      metricsPort = m.port;
    } catch (err) {
      server.forceShutdown();
      throw err;
    }
  }
  health.setStatus('', 'SERVING');
  health.setStatus(SERVICE_NAME, 'SERVING');
  const address = `${config.host}:${port}`;
  log.info({ address, backend: engine.backend, threads: engine.threads, metricsPort, version: deps.version }, 'serving');

  let stopping: Promise<void> | null = null;
  const shutdown = (graceMs = config.shutdownGraceMs): Promise<void> => {
    stopping ??= (async () => {
      health.setStatus('', 'NOT_SERVING');
      health.setStatus(SERVICE_NAME, 'NOT_SERVING');
      log.info({ graceMs }, 'draining');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          log.warn('grace period over; cancelling calls still running');
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      if (metricsServer) await new Promise<void>((r) => metricsServer?.close(() => r()));
      if (config.stateDir) {
        const { saved, failed } = await saveModels(registry, config.stateDir, log);
        log.info({ stateDir: config.stateDir, saved, failed }, 'state-dir: models saved');
      }
      // Jobs still queued on a model see it deleted and fail; a running engine call keeps its own reference.
      registry.clear();
      log.info('stopped');
    })();
    return stopping;
  };

  return { address, port, metricsPort, config, deps, health, shutdown };
}

/** `qstep serve`: parses flags and env, starts, and stops gracefully on SIGTERM or SIGINT. */
export async function cli(argv: string[]): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- only the CLI parses flags
  const { parseServeFlags } = require('./flags') as typeof import('./flags');
  const config = parseServeFlags(argv);
  let running: RunningServer;
  try {
    running = await startServer(config);
  } catch (err) {
    process.stderr.write(`qstep serve: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  const log = running.deps.log;
  // Logs are written asynchronously: flush them before the process ends.
  const exit = (code: number) => log.flush(() => process.exit(code));
  const stop = (signal: string) => {
    log.info({ signal }, 'signal received');
    running.shutdown().then(
      () => exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
