// `qstep serve` flags. Each flag has an environment variable (QSTEP_<NAME>) used when the flag is absent;
// flags win over env, env over defaults (server/config.ts).

import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_CONFIG, MIB } from './config';
import type { ServerConfig } from './config';

function int(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${name} must be an integer, got ${v}`);
    return n;
  };
}

export function parseServeFlags(argv: string[]): Partial<ServerConfig> {
  const d = DEFAULT_CONFIG;
  const program = new Command('qstep serve')
    .description('Start a qstep optimizer-step server (gRPC qstep.v1.Qstep, grpc.health.v1, reflection).')
    .addOption(
      new Option('--host <host>', 'interface to listen on (0.0.0.0 for all)').env('QSTEP_HOST').default(d.host),
    )
    .addOption(
      new Option('--port <port>', 'gRPC port (0 = ephemeral)').env('QSTEP_PORT').default(d.port).argParser(int('port')),
    )
    .addOption(
      new Option('--backend <backend>', 'engine backend')
        .choices(['cpu', 'cuda', 'auto'])
        .env('QSTEP_BACKEND')
        .default(d.backend),
    )
    .addOption(
      new Option('--threads <n>', 'CPU worker threads (0 = one per core)')
        .env('QSTEP_THREADS')
        .default(d.threads)
        .argParser(int('threads')),
    )
    .addOption(
      new Option('--device <n>', 'CUDA device ordinal').env('QSTEP_DEVICE').default(d.device).argParser(int('device')),
    )
    .addOption(new Option('--paged-dir <dir>', 'directory for paged state files (CPU backend)').env('QSTEP_PAGED_DIR'))
    .addOption(
      new Option('--state-dir <dir>', 'keep models across restarts: checkpointed here, loaded on start').env(
        'QSTEP_STATE_DIR',
      ),
    )
    .addOption(
      new Option(
        '--checkpoint-every-steps <n>',
        'with --state-dir: a checkpoint every n model steps (0 = not by steps)',
      )
        .env('QSTEP_CHECKPOINT_EVERY_STEPS')
        .default(d.checkpointEverySteps)
        .argParser(int('checkpoint-every-steps')),
    )
    .addOption(
      new Option(
        '--checkpoint-every-seconds <n>',
        'with --state-dir: a checkpoint every n seconds if the model changed (0 = not by time)',
      )
        .env('QSTEP_CHECKPOINT_EVERY_SECONDS')
        .default(d.checkpointEverySeconds)
        .argParser(int('checkpoint-every-seconds')),
    )
    .addOption(
      new Option('--keep-checkpoints <n>', 'checkpoints kept per model (the newest)')
        .env('QSTEP_KEEP_CHECKPOINTS')
        .default(d.keepCheckpoints)
        .argParser(int('keep-checkpoints')),
    )
    .addOption(
      new Option('--max-models <n>', 'models held at most')
        .env('QSTEP_MAX_MODELS')
        .default(d.maxModels)
        .argParser(int('max-models')),
    )
    .addOption(
      new Option('--max-params-per-model <n>', 'parameters per model at most')
        .env('QSTEP_MAX_PARAMS_PER_MODEL')
        .default(d.maxParamsPerModel)
        .argParser(int('max-params-per-model')),
    )
    .addOption(
      new Option('--max-chunk-bytes <n>', 'tensor bytes per message at most (<= 1 MiB)')
        .env('QSTEP_MAX_CHUNK_BYTES')
        .default(d.maxChunkBytes)
        .argParser(int('max-chunk-bytes')),
    )
    .addOption(
      new Option('--max-message-bytes <n>', 'largest message accepted (default: max chunk + 64 KiB)')
        .env('QSTEP_MAX_MESSAGE_BYTES')
        .argParser(int('max-message-bytes')),
    )
    .addOption(
      new Option(
        '--memory-limit <size>',
        'memory the server may hold: bytes, e.g. 16GiB, or e.g. 80% (default: 75% of RAM on CPU, 90% of device memory on CUDA)',
      ).env('QSTEP_MEMORY_LIMIT'),
    )
    .addOption(
      new Option('--staging-budget-mib <n>', 'memory for streams in flight, MiB (0 = half the memory limit)')
        .env('QSTEP_STAGING_BUDGET_MIB')
        .default(d.stagingBudgetBytes / MIB)
        .argParser(int('staging-budget-mib')),
    )
    .addOption(
      new Option('--staging-pool-mib <n>', 'idle staging buffers kept for reuse, MiB')
        .env('QSTEP_STAGING_POOL_MIB')
        .default(d.stagingPoolBytes / MIB)
        .argParser(int('staging-pool-mib')),
    )
    .addOption(
      new Option('--staging-wait-ms <n>', 'wait for staging memory before RESOURCE_EXHAUSTED')
        .env('QSTEP_STAGING_WAIT_MS')
        .default(d.stagingWaitMs)
        .argParser(int('staging-wait-ms')),
    )
    .addOption(
      new Option(
        '--staging-per-connection-mib <n>',
        'staging one client connection may hold, MiB (0 = half the budget)',
      )
        .env('QSTEP_STAGING_PER_CONNECTION_MIB')
        .default(d.stagingPerConnectionBytes / MIB)
        .argParser(int('staging-per-connection-mib')),
    )
    .addOption(
      new Option('--stream-grace-ms <n>', 'first data due this long after a stream header; slack on the rate rule')
        .env('QSTEP_STREAM_GRACE_MS')
        .default(d.streamGraceMs)
        .argParser(int('stream-grace-ms')),
    )
    .addOption(
      new Option('--stream-min-bytes-per-s <n>', 'slowest accepted delivery of staged bytes (0 = no rule)')
        .env('QSTEP_STREAM_MIN_BYTES_PER_S')
        .default(d.streamMinBytesPerSecond)
        .argParser(int('stream-min-bytes-per-s')),
    )
    .addOption(
      new Option('--stream-idle-ms <n>', 'fail a stream silent this long (0 = never)')
        .env('QSTEP_STREAM_IDLE_MS')
        .default(d.streamIdleMs)
        .argParser(int('stream-idle-ms')),
    )
    .addOption(
      new Option('--idempotency-window <n>', 'recorded step ids per model')
        .env('QSTEP_IDEMPOTENCY_WINDOW')
        .default(d.idempotencyWindow)
        .argParser(int('idempotency-window')),
    )
    .addOption(
      new Option('--log-level <level>', 'pino level')
        .choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
        .env('QSTEP_LOG_LEVEL')
        .default(d.logLevel),
    )
    .addOption(
      new Option('--metrics-port <port>', 'Prometheus /metrics port (0 = ephemeral, -1 = off)')
        .env('QSTEP_METRICS_PORT')
        .default(d.metricsPort)
        .argParser(int('metrics-port')),
    )
    .addOption(
      new Option('--metrics-host <host>', 'interface for /metrics').env('QSTEP_METRICS_HOST').default(d.metricsHost),
    )
    .addOption(
      new Option('--shutdown-grace-ms <n>', 'on SIGTERM, time in-flight calls get before they are cancelled')
        .env('QSTEP_SHUTDOWN_GRACE_MS')
        .default(d.shutdownGraceMs)
        .argParser(int('shutdown-grace-ms')),
    )
    .addOption(
      new Option('--tls-cert <file>', 'PEM certificate (chain) for TLS; re-read on SIGHUP').env('QSTEP_TLS_CERT'),
    )
    .addOption(new Option('--tls-key <file>', 'PEM private key of --tls-cert').env('QSTEP_TLS_KEY'))
    .addOption(
      new Option('--tls-client-ca <file>', 'require client certificates signed by this CA (mutual TLS)').env(
        'QSTEP_TLS_CLIENT_CA',
      ),
    )
    .addOption(
      new Option('--watch-ms <n>', 'also reload TLS and token files when they change, polled this often (0 = off)')
        .env('QSTEP_WATCH_MS')
        .default(d.watchMs)
        .argParser(int('watch-ms')),
    )
    .addOption(
      new Option('--auth-tokens <file>', 'token file (`qstep token create`); every call needs a token').env(
        'QSTEP_AUTH_TOKENS',
      ),
    )
    .addOption(
      new Option('--metrics-token', '/metrics asks for a bearer token of role admin or metrics').env(
        'QSTEP_METRICS_TOKEN',
      ),
    )
    .addOption(
      new Option('--reflection <mode>', 'server reflection: token (any valid token), open or off')
        .choices(['token', 'open', 'off'])
        .env('QSTEP_REFLECTION')
        .default(d.reflection),
    )
    .addOption(
      new Option('--health-port <port>', 'plaintext port answering grpc.health.v1 only (-1 = none)')
        .env('QSTEP_HEALTH_PORT')
        .default(d.healthPort)
        .argParser(int('health-port')),
    )
    .addOption(
      new Option('--insecure', 'start even on a non-loopback host without TLS and tokens').env('QSTEP_INSECURE'),
    )
    .addOption(
      new Option('--window-bytes <n>', 'HTTP/2 receive window per connection and stream, bytes')
        .env('QSTEP_WINDOW_BYTES')
        .default(d.windowBytes)
        .argParser(int('window-bytes')),
    )
    .addOption(
      new Option('--direct-port <port>', 'port of the direct transport for Step (0 = ephemeral, -1 = off)')
        .env('QSTEP_DIRECT_PORT')
        .default(d.directPort)
        .argParser(int('direct-port')),
    )
    .exitOverride((err) => process.exit(err.exitCode));
  program.parse(argv, { from: 'user' });
  const o = program.opts<{
    memoryLimit?: string;
    host: string;
    port: number;
    backend: ServerConfig['backend'];
    threads: number;
    device: number;
    pagedDir?: string;
    stateDir?: string;
    maxModels: number;
    maxParamsPerModel: number;
    maxChunkBytes: number;
    maxMessageBytes?: number;
    stagingBudgetMib: number;
    stagingPoolMib: number;
    stagingWaitMs: number;
    stagingPerConnectionMib: number;
    streamGraceMs: number;
    streamMinBytesPerS: number;
    streamIdleMs: number;
    idempotencyWindow: number;
    logLevel: string;
    metricsPort: number;
    metricsHost: string;
    shutdownGraceMs: number;
    windowBytes: number;
    directPort: number;
    tlsCert?: string;
    tlsKey?: string;
    tlsClientCa?: string;
    watchMs: number;
    authTokens?: string;
    metricsToken?: boolean;
    reflection: ServerConfig['reflection'];
    insecure?: boolean;
    healthPort: number;
    checkpointEverySteps: number;
    checkpointEverySeconds: number;
    keepCheckpoints: number;
  }>();
  // Env values arrive as strings when commander takes them from the environment without a parser call.
  const num = (v: unknown) => (typeof v === 'string' ? Number(v) : (v as number));
  return {
    host: o.host,
    port: num(o.port),
    backend: o.backend,
    threads: num(o.threads),
    device: num(o.device),
    pagedDir: o.pagedDir ?? '',
    stateDir: o.stateDir ?? '',
    maxModels: num(o.maxModels),
    maxParamsPerModel: num(o.maxParamsPerModel),
    maxChunkBytes: num(o.maxChunkBytes),
    maxMessageBytes: o.maxMessageBytes === undefined ? num(o.maxChunkBytes) + 64 * 1024 : num(o.maxMessageBytes),
    memoryLimit: o.memoryLimit ?? '',
    stagingBudgetBytes: num(o.stagingBudgetMib) * MIB,
    stagingPoolBytes: num(o.stagingPoolMib) * MIB,
    stagingWaitMs: num(o.stagingWaitMs),
    stagingPerConnectionBytes: num(o.stagingPerConnectionMib) * MIB,
    streamGraceMs: num(o.streamGraceMs),
    streamMinBytesPerSecond: num(o.streamMinBytesPerS),
    streamIdleMs: num(o.streamIdleMs),
    idempotencyWindow: num(o.idempotencyWindow),
    logLevel: o.logLevel,
    metricsPort: num(o.metricsPort),
    metricsHost: o.metricsHost,
    shutdownGraceMs: num(o.shutdownGraceMs),
    tlsCert: o.tlsCert ?? '',
    tlsKey: o.tlsKey ?? '',
    tlsClientCa: o.tlsClientCa ?? '',
    watchMs: num(o.watchMs),
    authTokens: o.authTokens ?? '',
    metricsToken: o.metricsToken === true,
    reflection: o.reflection,
    insecure: o.insecure === true,
    healthPort: num(o.healthPort),
    checkpointEverySteps: num(o.checkpointEverySteps),
    checkpointEverySeconds: num(o.checkpointEverySeconds),
    keepCheckpoints: num(o.keepCheckpoints),
    windowBytes: num(o.windowBytes),
    directPort: num(o.directPort),
  };
}
