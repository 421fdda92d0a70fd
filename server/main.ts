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
import { Engine, setHeapTrimThreshold } from '../native/lib';
import { SERVICE_NAME, qstepService } from '../proto';
import { reflectionPackageDefinition } from '../proto/reflection';
import { serverDefinition, stepResponsePieces } from '../proto/fast-codec';
import { FRAME_HEADER_BYTES } from '../proto/direct-frames';
import type { QstepHandlers } from '../proto';
import { HTTP2_DEFAULT_WINDOW_BYTES, MAX_WINDOW_BYTES } from '../proto/transport';
import { DEFAULT_CONFIG } from './config';
import type { ServerConfig, ServiceDeps } from './config';
import { BufferPool } from './domain/buffer-pool';
import { MemoryReclaimer, fullCollection } from './domain/reclaim';
import { Checkpointer } from './checkpoint/checkpointer';
import { recoverModels } from './checkpoint/load';
import { fail } from './errors';
import { ModelRegistry } from './domain/registry';
import { StagingBudget } from './domain/staging-budget';
import { bounded } from './domain/bounded';
import {
  DEFAULT_DEVICE_SHARE,
  DEFAULT_HOST_SHARE,
  MemoryAdmission,
  hostMemoryBytes,
  parseMemoryLimit,
} from './domain/memory-admission';
import { ServerMetrics, serveMetrics } from './metrics';
import { setupSecurity } from './security/setup';
import { serveHealthPort } from './security/health-port';
import type { HealthPort } from './security/health-port';
import { bidi, clientStream, serverStream, unary } from './rpc';
import { serveDirect } from './direct';
import type { DirectMethod, DirectServer } from './direct';
import type { RpcDeps } from './rpc';
import { createModelHandler } from './services/create-model';
import { createModelStreamHandler } from './services/create-model-stream';
import { deleteModelHandler } from './services/delete-model';
import { describeHandler } from './services/describe';
import { listModelsHandler } from './services/list-models';
import { restoreHandler } from './services/restore';
import { serverInfoHandler } from './services/server-info';
import { snapshotHandler } from './services/snapshot';
import { checkpointHandler } from './services/checkpoint';
import { stepHandler } from './services/step';
import { uploadParametersHandler } from './services/upload-parameters';

/** Freed heap memory the server keeps for reuse (glibc's M_TRIM_THRESHOLD). */
const HEAP_TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024;

export interface RunningServer {
  /** host:port the gRPC server listens on. */
  address: string;
  port: number;
  /** The Prometheus port, or -1 when metrics are off. */
  metricsPort: number;
  /** The direct transport's port (server/direct.ts), or -1 when it is off. */
  directPort: number;
  /** Open direct-transport connections (0 when it is off). */
  directConnections(): number;
  /** The plaintext health-only port, or -1 when there is none. */
  healthPort: number;
  config: ServerConfig;
  deps: ServiceDeps;
  health: HealthImplementation;
  /** Graceful stop: NOT_SERVING, drain for graceMs, then cancel what is left; frees every model. */
  shutdown(graceMs?: number): Promise<void>;
  /** Re-reads TLS certificates and the token file (SIGHUP); calls in flight keep going. */
  reloadSecurity(): Promise<{ tls?: string; tokens?: number; errors: string[] }>;
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
    if (!Number.isSafeInteger(v) || v < lo || v > hi)
      throw new Error(`${name}: expected an integer in [${lo}, ${hi}], got ${v}`);
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
  int('stagingPerConnectionBytes', 0);
  int('streamGraceMs', 0);
  int('streamMinBytesPerSecond', 0);
  int('streamIdleMs', 0);
  int('idempotencyWindow', 0);
  int('shutdownGraceMs', 0);
  int('healthPort', -1, 65535);
  int('checkpointEverySteps', 0);
  int('checkpointEverySeconds', 0);
  int('keepCheckpoints', 1);
  int('windowBytes', HTTP2_DEFAULT_WINDOW_BYTES, MAX_WINDOW_BYTES);
  int('directPort', -1, 65535);
  if (!['cpu', 'cuda', 'auto'].includes(c.backend))
    throw new Error(`backend: expected cpu, cuda or auto, got ${c.backend}`);
  if (c.maxChunkBytes % 4 !== 0) throw new Error(`maxChunkBytes: expected a multiple of 4, got ${c.maxChunkBytes}`);
}

export async function startServer(options: Partial<ServerConfig> = {}, logger?: Logger): Promise<RunningServer> {
  const config: ServerConfig = { ...DEFAULT_CONFIG, ...options };
  checkConfig(config);
  const log = logger ?? pino({ level: config.logLevel, base: { service: 'qstep' } });
  const security = setupSecurity(config, log);
  // Freed heap stays for reuse rather than going back to the OS at every free (docs/service.md, Direct transport:
  // Copies and memory); a model's deletion still returns it (server/domain/reclaim.ts).
  setHeapTrimThreshold(HEAP_TRIM_THRESHOLD_BYTES);

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
  // Memory admission: the limit, and the staging budget that follows it unless set (docs/service.md, "Limits").
  const onCuda = engine.backend === 'cuda';
  const device = onCuda ? engine.deviceInfo() : null;
  const hostBytes = hostMemoryBytes();
  const memoryLimit = parseMemoryLimit(
    config.memoryLimit,
    device ? device.totalBytes : hostBytes,
    device ? DEFAULT_DEVICE_SHARE : DEFAULT_HOST_SHARE,
  );
  const stagingBytes =
    config.stagingBudgetBytes || Math.floor((device ? hostBytes * DEFAULT_HOST_SHARE : memoryLimit) / 2);
  const budget = new StagingBudget(
    stagingBytes,
    config.stagingWaitMs,
    config.stagingPerConnectionBytes || Math.ceil(stagingBytes / 2),
  );
  const memory = new MemoryAdmission(
    memoryLimit,
    () => registry.heldBytes(),
    () => budget.inUse,
    !device,
  );
  registry.admitWith((name, bytes) => memory.admitModel(name, bytes, false));
  budget.capBy(() => memory.stagingRoom());
  const metrics = new ServerMetrics(registry, budget);
  const pool = new BufferPool(config.stagingPoolBytes, () => fullCollection()?.());
  registry.reclaimWith(new MemoryReclaimer(engine, [pool]));
  const checkpointer = config.stateDir
    ? new Checkpointer(
        config.stateDir,
        {
          everySteps: config.checkpointEverySteps,
          everySeconds: config.checkpointEverySeconds,
          keep: config.keepCheckpoints,
        },
        log,
      )
    : null;
  const deps: ServiceDeps = {
    config,
    engine,
    registry,
    budget,
    memory,
    pool,
    metrics,
    log,
    version: packageVersion(),
    checkpointer,
    directPort: 0,
    directMethods: [],
  };
  const rpc: RpcDeps = { log, metrics, streamIdleMs: config.streamIdleMs, access: security.access };

  // Until the checkpoints are loaded, health says NOT_SERVING and every model RPC fails UNAVAILABLE.
  let loading = true;
  const gate =
    <A extends unknown[], R>(impl: (...a: A) => Promise<R>) =>
    (...a: A): Promise<R> =>
      loading
        ? Promise.reject(fail.unavailable('the server is loading its checkpoints; retry once health says SERVING'))
        : impl(...a);
  const handlers: QstepHandlers = {
    ServerInfo: unary(rpc, 'ServerInfo', serverInfoHandler(deps)),
    CreateModel: unary(rpc, 'CreateModel', gate(createModelHandler(deps))),
    CreateModelStream: clientStream(rpc, 'CreateModelStream', gate(createModelStreamHandler(deps))),
    UploadParameters: clientStream(rpc, 'UploadParameters', gate(uploadParametersHandler(deps))),
    Step: bidi(rpc, 'Step', gate(stepHandler(deps))),
    Snapshot: serverStream(rpc, 'Snapshot', gate(snapshotHandler(deps))),
    Restore: clientStream(rpc, 'Restore', gate(restoreHandler(deps))),
    Describe: unary(rpc, 'Describe', gate(describeHandler(deps))),
    ListModels: unary(rpc, 'ListModels', gate(listModelsHandler(deps))),
    DeleteModel: unary(rpc, 'DeleteModel', gate(deleteModelHandler(deps))),
    Checkpoint: unary(rpc, 'Checkpoint', gate(checkpointHandler(deps))),
  };

  const server = new grpc.Server({
    'grpc.max_receive_message_length': config.maxMessageBytes,
    'grpc.max_send_message_length': config.maxMessageBytes,
    interceptors: security.interceptors,
    // Honoured on the server through patches/@grpc+grpc-js (docs/service.md, Transport).
    'grpc-node.flow_control_window': config.windowBytes,
  });
  server.addService(serverDefinition(qstepService), handlers as unknown as grpc.UntypedServiceImplementation);
  health.addToServer(server);
  const healthPackage = protoLoader.loadSync(healthProtoPath, {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  if (security.reflection)
    new ReflectionService({ ...reflectionPackageDefinition(), ...healthPackage }).addToServer(server);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${config.host}:${config.port}`, security.credentials, (err, p) =>
      err ? reject(err) : resolve(p),
    );
  });
  let metricsServer: HttpServer | null = null;
  let metricsPort = -1;
  let healthPort: HealthPort | null = null;
  let direct: DirectServer | null = null;
  try {
    if (config.directPort >= 0) {
      // Step over a plain socket (server/direct.ts): the same handler, codecs, TLS and tokens as the gRPC port.
      const step = qstepService.Step;
      const upload = qstepService.UploadParameters;
      const certs = security.certificates;
      direct = await serveDirect({
        host: config.host,
        port: config.directPort,
        tls: certs ? certs.tlsOptions() : null,
        methods: {
          Step: {
            kind: 'bidi',
            handler: handlers.Step as unknown as DirectMethod['handler'],
            deserialize: step.requestDeserialize,
            serialize: stepResponsePieces(step.responseSerialize, FRAME_HEADER_BYTES) as DirectMethod['serialize'],
            // The Step service copies each gradient chunk before it reads the next (GradientStage).
            lends: true,
          },
          UploadParameters: {
            kind: 'client_stream',
            handler: handlers.UploadParameters as unknown as DirectMethod['handler'],
            deserialize: upload.requestDeserialize,
            serialize: (m) => [Buffer.alloc(FRAME_HEADER_BYTES), upload.responseSerialize(m as never)],
            // UploadParameters writes a chunk while it reads the next: its messages need memory of their own.
            lends: false,
          },
        },
        maxMessageBytes: config.maxMessageBytes,
        idleMs: config.streamIdleMs,
        // As a Step's first data is due after its header, a connection's first call is due after it opens.
        handshakeMs: config.streamGraceMs > 0 ? config.streamGraceMs : 10_000,
        log,
      });
      const d = direct;
      if (certs) certs.addIdentityCertificateListener(() => d.setSecureContext(certs.tlsOptions()));
      deps.directPort = direct.port;
      deps.directMethods = ['Step', 'UploadParameters'];
    }
    if (config.metricsPort >= 0) {
      const m = await serveMetrics(metrics.registry, config.metricsHost, config.metricsPort, security.metricsAuth);
      metricsServer = m.server;
      metricsPort = m.port;
    }
    // The plaintext health port answers NOT_SERVING while the checkpoints load, as the main port does.
    if (config.healthPort >= 0) healthPort = await serveHealthPort(health, config.host, config.healthPort);
    if (checkpointer) {
      const t0 = performance.now();
      log.info({ stateDir: config.stateDir }, 'state-dir: loading checkpoints');
      const r = await recoverModels(registry, config.stateDir, log);
      for (const l of r.loaded) checkpointer.attach(l.model, l.spec.checkpoint ?? {}, l.spec.modelStep);
      log.info(
        {
          stateDir: config.stateDir,
          models: r.loaded.map((l) => l.model.name),
          skipped: r.skipped.length,
          removed: r.removed.length,
          ms: Math.round(performance.now() - t0),
        },
        'state-dir: models loaded',
      );
    }
  } catch (err) {
    checkpointer?.close();
    server.forceShutdown();
    await direct?.close(0);
    await new Promise<void>((r) => (metricsServer ? metricsServer.close(() => r()) : r()));
    await healthPort?.close();
    registry.clear();
    throw err;
  }
  loading = false;
  health.setStatus('', 'SERVING');
  health.setStatus(SERVICE_NAME, 'SERVING');
  const address = `${config.host}:${port}`;
  log.info(
    {
      address,
      backend: engine.backend,
      threads: engine.threads,
      metricsPort,
      directPort: deps.directPort || -1,
      version: deps.version,
      tls: config.tlsCert ? (config.tlsClientCa ? 'mutual' : 'server') : 'off',
      auth: Boolean(security.access),
      memoryLimit,
      stagingBudget: stagingBytes,
    },
    'serving',
  );

  let stopping: Promise<void> | null = null;
  const shutdown = (graceMs = config.shutdownGraceMs): Promise<void> => {
    stopping ??= (async () => {
      health.setStatus('', 'NOT_SERVING');
      health.setStatus(SERVICE_NAME, 'NOT_SERVING');
      log.info({ graceMs }, 'draining');
      const directClosed = direct?.close(graceMs);
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
      await directClosed;
      if (metricsServer) await new Promise<void>((r) => metricsServer?.close(() => r()));
      await healthPort?.close();
      if (checkpointer) {
        const { saved, failed } = await checkpointer.saveAll();
        log.info({ stateDir: config.stateDir, saved, failed }, 'state-dir: models saved');
      }
      // Jobs still queued on a model see it deleted and fail; a running engine call keeps its own reference.
      registry.clear();
      security.close();
      log.info('stopped');
    })();
    return stopping;
  };

  const reloadSecurity = async () => {
    const r = await security.reload();
    for (const e of r.errors) log.error({ error: e }, 'reload failed; the previous files stay in use');
    log.info({ tls: r.tls, tokens: r.tokens }, 'security reloaded');
    return r;
  };

  return {
    address,
    port,
    metricsPort,
    healthPort: healthPort?.port ?? -1,
    directPort: direct?.port ?? -1,
    directConnections: () => direct?.connections ?? 0,
    config,
    deps,
    health,
    shutdown,
    reloadSecurity,
  };
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
  // A promise that rejects with nobody waiting on it is a bug, but not one that corrupts a model: ending the process
  // would lose every model the server holds. Log it (bounded) and keep serving.
  process.on('unhandledRejection', (reason: unknown) => {
    const r = reason as { code?: unknown; details?: unknown; message?: unknown; stack?: unknown } | null;
    log.error(
      {
        reason: bounded(String(r?.stack ?? r?.message ?? JSON.stringify(reason)), 2000),
        code: r?.code,
        details: bounded(String(r?.details ?? ''), 500),
      },
      'unhandled rejection',
    );
  });
  // Logs are written asynchronously: flush them before the process ends, but do not wait forever for a reader
  // of stdout that stopped reading (the models are saved by then).
  const exit = (code: number) => {
    setTimeout(() => process.exit(code), 3000);
    log.flush(() => process.exit(code));
  };
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
  // A second signal while the models are being saved is logged, not obeyed: killing the save would lose the
  // steps since the last checkpoint (SIGKILL still stops the process; the checkpoints on disk stay valid).
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'signal received while stopping: ignored, the models are being saved');
      return;
    }
    stopping = true;
    stop(signal);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  // `npx qstep serve` runs us under `npm exec` -> `sh -c`: npm forwards SIGTERM to the shell, which dies without
  // passing it on. A parent that goes away is therefore taken as a stop signal (we are re-parented), so a
  // container's or systemd's stop still saves the models instead of leaving an orphan serving.
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(watch);
      onSignal('parent-exit');
    }
  }, 250);
  watch.unref();
  // SIGHUP: new certificates and tokens, without a restart; streams in flight keep their connections.
  process.on('SIGHUP', () => {
    log.info({ signal: 'SIGHUP' }, 'signal received');
    running.reloadSecurity().catch((err: unknown) => log.error({ err }, 'reload failed'));
  });
}
