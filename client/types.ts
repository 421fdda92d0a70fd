// The client library's options and results (the wire messages themselves are in proto/messages.ts).

import type * as grpc from '@grpc/grpc-js';
import type { DType, Hyperparameters, NonFinitePolicy, OptimizerConfig, ParamOverride } from '../native/lib/types';
import type { ParamResult__Output, SnapshotHeader, SnapshotHeader__Output, TensorDescriptor__Output } from '../proto';
import type { StateFormatName } from '../proto/convert';
import type { Tensor, TensorMap } from './tensors';

/** TLS to the server (client/security.ts). PEM contents, not paths (tlsFromFiles reads files). */
export interface TlsOptions {
  /** CA the server's certificate must chain to; default: the system roots. */
  ca?: Buffer;
  /** Client certificate and key, for servers that require mutual TLS. */
  cert?: Buffer;
  key?: Buffer;
  /** Name to verify the server's certificate against when it differs from the address's host. */
  serverName?: string;
}

export interface ConnectOptions {
  /** Default: insecure (plaintext), or TLS when `tls` is given. */
  credentials?: grpc.ChannelCredentials;
  /** Connect over TLS (ignored when `credentials` is given). */
  tls?: TlsOptions;
  /** Bearer token, sent as 'authorization: Bearer <token>' metadata with every call. */
  token?: string;
  /** Tensor bytes per message; the server refuses more than its Limits.max_chunk_bytes (1 MiB by default). */
  maxChunkBytes?: number;
  /** Deadline for unary calls when a call gives none (ms). Default 30 s. Streams have none unless given. */
  unaryDeadlineMs?: number;
  /** Extra grpc-js channel options. */
  channelOptions?: grpc.ChannelOptions;
  /** Sent with every call (e.g. an authorization token over a plaintext test channel). */
  metadata?: Record<string, string>;
  /** Encoded gradient messages kept for reuse by later steps (bytes; default 256 MiB, 0 = none). */
  serializePoolBytes?: number;
  /**
   * HTTP/2 receive window of the client's connections (bytes, 65535 to 4 MiB; default 1 MiB): how many bytes of
   * weights the server may send before the client acknowledges them (docs/service.md, Transport).
   */
  windowBytes?: number;
  /**
   * Connections one step is carried over (K, 1 to 64; default 1, or QSTEP_LANES): each lane streams a share of the
   * gradients and receives the same share of the weights; the server applies the step once every lane has
   * committed. Only steps with a stepId and at least laneMinBytes of gradients use lanes; 1 = one stream always.
   */
  lanes?: number;
  /**
   * Calls one uploadParameters is carried over, each on its own connection (1 to 64; default 1, or
   * QSTEP_UPLOAD_LANES, else QSTEP_LANES). Only uploads of at least laneMinBytes use lanes.
   */
  uploadLanes?: number;
  /**
   * Step over the server's direct transport (a plain TCP or TLS connection to ServerInfo.direct_port, without
   * HTTP/2; docs/service.md, Direct transport) when the server offers one. Default true, or false when QSTEP_DIRECT
   * is '0' or `credentials` is given (its TLS cannot be derived from them). Every other call stays on gRPC.
   */
  direct?: boolean;
  /** Gradient (or upload) bytes below which a step (or upload) goes over one stream (default 4 MiB, or QSTEP_LANE_MIN_BYTES). */
  laneMinBytes?: number;
}

export interface CallOptions {
  /** Milliseconds from now. */
  deadlineMs?: number;
  /** Aborting cancels the call (the server then changes nothing). */
  signal?: AbortSignal;
}

export interface ModelSpec {
  name: string;
  parameters: { name: string; shape: number[]; dtype: DType }[];
  optimizer: OptimizerConfig;
  /** Default 'skip'. */
  nonFinite?: NonFinitePolicy;
  overrides?: Record<string, ParamOverride>;
  /** The model's own checkpoint schedule (a server with --state-dir); fields left out use the server's flags. */
  checkpoint?: { everySteps?: number; everySeconds?: number; keep?: number };
}

export interface UploadOptions extends CallOptions {
  /** dtype of bare Uint16Array/Buffer tensors; default: each parameter's own dtype. */
  dtype?: DType;
}

export interface StepOptions extends CallOptions {
  /**
   * Idempotency key; stepId 0 (default) disables it. Step ids must increase per worker. Any uint64: ids from
   * 2^53 up as a bigint or a decimal string.
   */
  workerId?: string;
  stepId?: number | bigint | string;
  /**
   * Apply only if the model's step counter equals this (else FAILED_PRECONDITION naming the current counter,
   * nothing applied); a retry of a recorded step id still replays.
   */
  expectedModelStep?: number;
  /** Per-step hyperparameters (e.g. a scheduler's lr) for every parameter of the step. */
  hyper?: Partial<Hyperparameters>;
  /** Per-step hyperparameters per parameter name (laid over `hyper`). */
  paramHyper?: Record<string, Partial<Hyperparameters>>;
  /** Send back the updated weights: true = each parameter's own dtype, or a dtype. */
  returnWeights?: boolean | DType;
  /** Overrides the model's non-finite policy for this step. */
  nonFinite?: NonFinitePolicy;
  /** dtype of bare Uint16Array/Buffer gradients; default: each parameter's own dtype. */
  gradDtype?: DType;
  /**
   * Where to put returned weights, by parameter name (e.g. the worker's own parameter tensors): chunks are copied
   * straight in and the reply's Tensor is a view of it. Each must have exactly the returned byte length.
   */
  weightsInto?: TensorMap;
  /**
   * Receives returned weights chunk by chunk as they arrive (e.g. to copy them to a device), instead of the
   * reply's `weights` map. `data` is a view of the received message, valid only until onWeights returns: the
   * direct transport receives the next message into the same memory. Copy what you keep.
   */
  onWeights?: (param: string, dtype: DType, byteOffset: number, data: Buffer) => void;
}

export interface StepReply {
  model: string;
  modelStep: number;
  skipped: boolean;
  replayed: boolean;
  nonFinite: string[];
  params: ParamResult__Output[];
  /** Updated weights by parameter name (when asked for). */
  weights: Map<string, Tensor>;
}

export interface SnapshotOptions extends CallOptions {
  /** Default: every parameter. */
  params?: string[];
  /** Default true. */
  weights?: boolean;
  /** Default: each parameter's own dtype (bit-exact). */
  weightsDtype?: DType;
  /** Default 'raw'. */
  state?: StateFormatName;
}

export type SnapshotEvent =
  | { kind: 'header'; header: SnapshotHeader__Output }
  | { kind: 'data'; tensor: number; byteOffset: number; data: Buffer };

/** A snapshot held in memory: the header and each tensor's bytes, by tensor name. */
export interface Snapshot {
  header: SnapshotHeader__Output;
  tensors: Map<string, { desc: TensorDescriptor__Output; data: Buffer }>;
}

/** A snapshot to restore from a source that streams (a file, another server). */
export interface SnapshotSource {
  header: SnapshotHeader;
  /** Each tensor's bytes in header order, in order within a tensor, any chunk sizes. */
  data:
    | AsyncIterable<{ tensor: number; byteOffset: number; data: Buffer }>
    | Iterable<{ tensor: number; byteOffset: number; data: Buffer }>;
}

export type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
