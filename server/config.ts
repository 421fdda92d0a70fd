// Server configuration: every knob with its default, and what handlers receive as dependencies.

import type { Engine } from '../native/lib';
import { DEFAULT_WINDOW_BYTES } from '../proto/transport';
import type { Logger } from 'pino';
import type { Checkpointer } from './checkpoint/checkpointer';
import type { BufferPool } from './domain/buffer-pool';
import type { ModelRegistry } from './domain/registry';
import type { StagingBudget } from './domain/staging-budget';
import type { MemoryAdmission } from './domain/memory-admission';
import type { ServerMetrics } from './metrics';

export interface ServerConfig {
  host: string;
  /** 0 = an ephemeral port. */
  port: number;
  backend: 'cpu' | 'cuda' | 'auto';
  /** CPU worker threads; 0 = one per core. */
  threads: number;
  /** CUDA device ordinal. */
  device: number;
  /** Directory for paged state files (CPU backend); '' = the OS temp dir. */
  pagedDir: string;
  /**
   * Directory where models are kept as checkpoints (server/checkpoint/): taken on the schedule below, on request
   * and on a graceful stop, and loaded on start; '' = models live only as long as the process.
   */
  stateDir: string;
  /** With a state dir: a checkpoint every this many model steps (0 = not by steps). */
  checkpointEverySteps: number;
  /** With a state dir: a checkpoint every this many seconds if the model changed (0 = not by time). */
  checkpointEverySeconds: number;
  /** Checkpoints kept per model (the newest). */
  keepCheckpoints: number;
  maxModels: number;
  maxParamsPerModel: number;
  /** Largest tensor payload in one message (at most 1 MiB, the contract's bound). */
  maxChunkBytes: number;
  /** Largest message accepted; default maxChunkBytes + 64 KiB for the framing fields and headers. */
  maxMessageBytes: number;
  /**
   * Memory the server may hold (models, and staging on the CPU backend): bytes, a size such as '16GiB', or a
   * percentage of host RAM (CPU) / device memory (CUDA); '' = 75% of host RAM or 90% of device memory.
   */
  memoryLimit: string;
  /** Bound on memory held by streams in flight; 0 = half the memory limit (CPU) or of 75% of host RAM (CUDA). */
  stagingBudgetBytes: number;
  /** Idle staging buffers kept for reuse (bytes). */
  stagingPoolBytes: number;
  /** How long a stream waits for staging memory before RESOURCE_EXHAUSTED. */
  stagingWaitMs: number;
  /** Staging one client connection may hold at once; 0 = half the staging budget. */
  stagingPerConnectionBytes: number;
  /** A Step/Restore stream's first data must follow its header within this (ms); also slack on the rate rule. */
  streamGraceMs: number;
  /** Slowest accepted delivery of staged bytes (bytes/s); 0 = no rate rule (server/domain/stream-progress.ts). */
  streamMinBytesPerSecond: number;
  /** A stream that sends nothing for this long fails DEADLINE_EXCEEDED; 0 = never. */
  streamIdleMs: number;
  /** Recorded (worker_id, step_id) outcomes per model. */
  idempotencyWindow: number;
  logLevel: string;
  /** Prometheus port; 0 = ephemeral, -1 = no metrics endpoint. */
  metricsPort: number;
  metricsHost: string;
  /** SIGTERM: how long in-flight calls get before they are cancelled. */
  shutdownGraceMs: number;
  // Security (server/security/, docs/service.md "Security").
  /** PEM certificate (chain) and private key for TLS on the gRPC port; '' = plaintext. Re-read on SIGHUP. */
  tlsCert: string;
  tlsKey: string;
  /** PEM CA bundle that client certificates must chain to (mutual TLS); '' = no client certificate asked. */
  tlsClientCa: string;
  /** Poll the TLS and token files this often and reload when one changed (ms); 0 = reload on SIGHUP only. */
  watchMs: number;
  /** Token file (server/security/tokens.ts); '' = no authentication. Re-read on SIGHUP. */
  authTokens: string;
  /** /metrics asks for a bearer token of role admin or metrics. */
  metricsToken: boolean;
  /** Server reflection: 'token' (any valid token, when --auth-tokens is given), 'open' or 'off'. */
  reflection: 'token' | 'open' | 'off';
  /** Start even where the exposure rule (server/security/exposure.ts) says the server would be open. */
  insecure: boolean;
  /** A plaintext port on `host` that answers grpc.health.v1 only (for probes that cannot speak TLS); -1 = none. */
  healthPort: number;
  /**
   * HTTP/2 receive window (bytes) the server grants each connection and each stream: how much a client may send
   * before the server's acknowledgement (docs/service.md, Transport). 65535 = Node's default.
   */
  windowBytes: number;
  /**
   * Port of the direct transport for Step (server/direct, docs/service.md, Direct transport): 0 = ephemeral (the
   * port is announced in ServerInfo.direct_port), -1 = not offered. Same host, TLS and tokens as the gRPC port.
   */
  directPort: number;
}

export const MIB = 1024 * 1024;
/** The contract's bound on tensor data per message (issue 5: "at most 1 MiB per message"). */
export const CONTRACT_MAX_CHUNK_BYTES = MIB;

export const DEFAULT_CONFIG: ServerConfig = {
  host: '127.0.0.1',
  port: 50051,
  backend: 'cpu',
  threads: 0,
  device: 0,
  pagedDir: '',
  stateDir: '',
  checkpointEverySteps: 0,
  checkpointEverySeconds: 300,
  keepCheckpoints: 3,
  maxModels: 64,
  maxParamsPerModel: 131_072,
  maxChunkBytes: CONTRACT_MAX_CHUNK_BYTES,
  maxMessageBytes: CONTRACT_MAX_CHUNK_BYTES + 64 * 1024,
  memoryLimit: '',
  stagingBudgetBytes: 0,
  stagingPoolBytes: 256 * MIB,
  stagingWaitMs: 30_000,
  stagingPerConnectionBytes: 0,
  streamGraceMs: 10_000,
  streamMinBytesPerSecond: MIB,
  streamIdleMs: 300_000,
  idempotencyWindow: 1024,
  logLevel: 'info',
  metricsPort: 9464,
  metricsHost: '127.0.0.1',
  shutdownGraceMs: 10_000,
  tlsCert: '',
  tlsKey: '',
  tlsClientCa: '',
  watchMs: 0,
  authTokens: '',
  metricsToken: false,
  reflection: 'token',
  insecure: false,
  healthPort: -1,
  windowBytes: DEFAULT_WINDOW_BYTES,
  directPort: 0,
};

export interface ServiceDeps {
  config: ServerConfig;
  engine: Engine;
  registry: ModelRegistry;
  budget: StagingBudget;
  memory: MemoryAdmission;
  pool: BufferPool;
  metrics: ServerMetrics;
  log: Logger;
  version: string;
  /** Null without a state dir. */
  checkpointer: Checkpointer | null;
  /** The direct transport's port once it listens (ServerInfo.direct_port); 0 = not offered. */
  directPort: number;
  /** The RPCs it serves (ServerInfo.direct_methods). */
  directMethods: string[];
}
