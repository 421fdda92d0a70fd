// The qstep client library: a thin typed layer over the generated grpc-js client. It chunks tensors (at most
// maxChunkBytes per message, views of the caller's memory), honours write back-pressure, applies deadlines and
// AbortSignals, and turns every failure into a QstepError with the gRPC code.

import * as grpc from '@grpc/grpc-js';
import type { ClientDuplexStream, ClientReadableStream, ClientWritableStream } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import type { DType } from '../native/lib/types';
import { QstepGrpcClient, qstepService } from '../proto';
import { encodeStepGradient, passThroughSerializer, tensorChunkPieces } from '../proto/fast-codec';
import { FRAME_HEADER_BYTES } from '../proto/direct-frames';
import { stepIdToWire } from '../proto/step-id';
import { DEFAULT_WINDOW_BYTES, HTTP2_DEFAULT_WINDOW_BYTES, MAX_WINDOW_BYTES } from '../proto/transport';
import type {
  DescribeResponse__Output,
  ListModelsResponse__Output,
  ModelDescription__Output,
  ModelSummary__Output,
  QstepClient as GrpcQstepClient,
  RestoreRequest,
  RestoreResponse__Output,
  ServerInfoResponse__Output,
  SnapshotHeader,
  SnapshotHeader__Output,
  SnapshotResponse__Output,
  StepRequest,
  StepResponse__Output,
  TensorDescriptor__Output,
  UploadRequest,
  UploadResponse__Output,
} from '../proto';
import { configToWire, dtypes, hyperToWire, overrideToWire, policies, stateFormats } from '../proto/convert';
import type { CheckpointResponse__Output, CreateModelRequest, ParamOverride as ParamOverrideMsg } from '../proto';
import { createModelParts, restoreHeaderParts, snapshotHeaderJoiner, stepHeaderParts } from './message-parts';
import { resync } from './resync';
import type { Resynced } from './resync';
import { QstepError, Status } from './errors';
import { channelCredentials, checkToken, tlsChannelOptions } from './security';
import { SerializePool } from './serialize-pool';
import { runStep, waitWritable } from './step-call';
import type { GradientMessage } from './step-call';
import { DirectCall, DirectConnections, targetHost } from './direct';
import { DEFAULT_LANES, LANE_MIN_BYTES, MAX_LANES, planLanes, stepOverLanes } from './lanes';
import type { LanePlan } from './lanes';
import { DEFAULT_UPLOAD_LANES, uploadOverLanes } from './upload-lanes';
import { WIDTH, bytesOf, chunksOf, normalizeTensors } from './tensors';
import type { NormalizedTensor, TensorMap } from './tensors';
import type {
  CallOptions,
  ConnectOptions,
  HealthStatus,
  ModelSpec,
  Snapshot,
  SnapshotEvent,
  SnapshotOptions,
  SnapshotSource,
  StepOptions,
  StepReply,
  UploadOptions,
} from './types';

/** grpc-js's per-call retry buffer (see the constructor). */
const RETRY_BUFFER_BYTES = 16 * 1024;
/** How long steps stay on gRPC after the direct transport could not be reached. */
const DIRECT_RETRY_MS = 60_000;

type Unary<Req, Res> = (
  req: Req,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: grpc.requestCallback<Res>,
) => grpc.ClientUnaryCall;

export class QstepClient {
  /** The generated grpc-js client, for callers that need the raw contract. */
  readonly grpc: GrpcQstepClient;
  readonly address: string;
  readonly maxChunkBytes: number;
  private readonly unaryDeadlineMs: number;
  private readonly metadata: Record<string, string>;
  private readonly healthClient: grpc.Client & Record<string, unknown>;
  private readonly pool: SerializePool;
  private readonly stepSerialize: (m: StepRequest | Buffer) => Buffer;
  private readonly stepDeserialize: (b: Buffer) => StepResponse__Output;
  private readonly stepPath: string;
  /** Lanes per step (client/lanes.ts) and the gradient bytes below which a step uses one stream. */
  readonly lanes: number;
  /** Calls one UploadParameters is carried over (client/upload-lanes.ts). */
  readonly uploadLanes: number;
  private readonly laneMinBytes: number;
  private readonly laneClients: grpc.Client[] = [];
  /** Whether Step may use the server's direct transport (ConnectOptions.direct). */
  readonly direct: boolean;
  private readonly tls: ConnectOptions['tls'];
  /** The direct transport once ServerInfo announced one (null: the server offers none). */
  private directConnections: Promise<DirectConnections | null> | null = null;
  /** No direct connection is tried before this time (ms since the epoch) after one failed. */
  private directRetryAt = 0;
  /** close() was called: calls still in flight finish, new ones fail UNAVAILABLE. */
  private closed = false;
  private readonly credentials: grpc.ChannelCredentials;
  private readonly channelOptions: grpc.ChannelOptions;

  constructor(address: string, options: ConnectOptions = {}) {
    this.address = address;
    this.maxChunkBytes = options.maxChunkBytes ?? 1024 * 1024;
    if (!Number.isInteger(this.maxChunkBytes) || this.maxChunkBytes < 4)
      throw new TypeError('maxChunkBytes must be an integer >= 4');
    this.unaryDeadlineMs = options.unaryDeadlineMs ?? 30_000;
    this.metadata = { ...options.metadata };
    if (options.token !== undefined) {
      checkToken(options.token);
      // As metadata rather than call credentials: grpc-js refuses call credentials on plaintext channels.
      this.metadata.authorization = `Bearer ${options.token}`;
    }
    const creds =
      options.credentials ?? (options.tls ? channelCredentials(options.tls) : grpc.credentials.createInsecure());
    const windowBytes = options.windowBytes ?? DEFAULT_WINDOW_BYTES;
    if (
      !Number.isSafeInteger(windowBytes) ||
      windowBytes < HTTP2_DEFAULT_WINDOW_BYTES ||
      windowBytes > MAX_WINDOW_BYTES
    ) {
      throw new TypeError(
        `windowBytes must be an integer in [${HTTP2_DEFAULT_WINDOW_BYTES}, ${MAX_WINDOW_BYTES}], got ${String(windowBytes).slice(0, 40)}`,
      );
    }
    const channelOptions: grpc.ChannelOptions = {
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
      'grpc-node.flow_control_window': windowBytes,
      // grpc-js keeps each call's unsent messages in a retry buffer and re-slices it after every write: with the
      // default 256 KiB, a stream of many small messages (one per tensor of a 100,000-parameter model) costs time
      // quadratic in their number. A small buffer keeps few messages pending (docs/service.md, "Many-parameter
      // models"); messages larger than it are sent one at a time, as they already were.
      'grpc.per_rpc_retry_buffer_size': RETRY_BUFFER_BYTES,
      ...tlsChannelOptions(options.tls),
      ...options.channelOptions,
    };
    this.grpc = new QstepGrpcClient(address, creds, channelOptions);
    this.credentials = creds;
    this.channelOptions = channelOptions;
    // QSTEP_LANES / QSTEP_LANE_MIN_BYTES: defaults for clients that do not say (tests run the suite with lanes).
    const envInt = (name: string) => (process.env[name] === undefined ? undefined : Number(process.env[name]));
    this.lanes = options.lanes ?? envInt('QSTEP_LANES') ?? DEFAULT_LANES;
    if (!Number.isSafeInteger(this.lanes) || this.lanes < 1 || this.lanes > MAX_LANES) {
      throw new TypeError(`lanes must be an integer in [1, ${MAX_LANES}], got ${String(this.lanes).slice(0, 40)}`);
    }
    this.uploadLanes =
      options.uploadLanes ?? envInt('QSTEP_UPLOAD_LANES') ?? envInt('QSTEP_LANES') ?? DEFAULT_UPLOAD_LANES;
    if (!Number.isSafeInteger(this.uploadLanes) || this.uploadLanes < 1 || this.uploadLanes > MAX_LANES) {
      throw new TypeError(
        `uploadLanes must be an integer in [1, ${MAX_LANES}], got ${String(this.uploadLanes).slice(0, 40)}`,
      );
    }
    this.laneMinBytes = options.laneMinBytes ?? envInt('QSTEP_LANE_MIN_BYTES') ?? LANE_MIN_BYTES;
    if (!Number.isSafeInteger(this.laneMinBytes) || this.laneMinBytes < 0) {
      throw new TypeError(`laneMinBytes must be an integer >= 0, got ${String(this.laneMinBytes).slice(0, 40)}`);
    }
    // QSTEP_DIRECT=0: Step over gRPC only, for clients that do not say (CI runs the service suite both ways).
    // A client given raw `credentials` cannot derive the direct connection's TLS from them: gRPC only.
    this.direct = options.credentials === undefined && (options.direct ?? process.env.QSTEP_DIRECT !== '0');
    this.tls = options.tls;
    this.pool = new SerializePool(options.serializePoolBytes ?? 256 * 1024 * 1024);
    const stepDef = qstepService.Step;
    this.stepSerialize = passThroughSerializer(stepDef.requestSerialize);
    this.stepDeserialize = stepDef.responseDeserialize;
    this.stepPath = stepDef.path;
    const Health = grpc.makeClientConstructor(healthService as unknown as grpc.ServiceDefinition, 'Health');
    this.healthClient = new Health(address, creds, channelOptions) as grpc.Client & Record<string, unknown>;
  }

  close(): void {
    this.closed = true;
    const direct = this.directConnections;
    this.directConnections = Promise.resolve(null);
    void direct?.then(
      (d) => d?.close(),
      () => undefined,
    );
    for (const c of this.laneClients) c.close();
    this.grpc.close();
    this.healthClient.close();
  }

  /** Resolves once the channel is connected (or rejects after deadlineMs). */
  waitForReady(deadlineMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      this.grpc.waitForReady(Date.now() + deadlineMs, (err) => (err ? reject(QstepError.from(err)) : resolve()));
    });
  }

  private md(): grpc.Metadata {
    const m = new grpc.Metadata();
    for (const [k, v] of Object.entries(this.metadata)) m.set(k, v);
    return m;
  }

  private callOpts(o: CallOptions | undefined, unary: boolean): grpc.CallOptions {
    const ms = o?.deadlineMs ?? (unary ? this.unaryDeadlineMs : undefined);
    return ms === undefined ? {} : { deadline: Date.now() + ms };
  }

  private unary<Req, Res>(method: Unary<Req, Res>, req: Req, o?: CallOptions): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      if (o?.signal?.aborted) return reject(new QstepError(Status.CANCELLED, 'aborted before the call started'));
      const call = method.call(this.grpc, req, this.md(), this.callOpts(o, true), (err, res) =>
        err || !res ? reject(QstepError.from(err ?? new Error('empty response'))) : resolve(res),
      );
      o?.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    });
  }

  serverInfo(o?: CallOptions): Promise<ServerInfoResponse__Output> {
    return this.unary(this.grpc.ServerInfo as Unary<object, ServerInfoResponse__Output>, {}, o);
  }

  /**
   * Allocates a model. A specification larger than one message (many parameters) goes over CreateModelStream in
   * parts (client/message-parts.ts); the server creates the model only once every part has arrived.
   */
  async createModel(spec: ModelSpec, o?: CallOptions): Promise<ModelDescription__Output> {
    const overrides: Record<string, ParamOverrideMsg> = {};
    for (const [k, v] of Object.entries(spec.overrides ?? {})) overrides[k] = overrideToWire(v);
    const req: CreateModelRequest = {
      name: spec.name,
      parameters: spec.parameters.map((p) => ({
        name: p.name,
        shape: p.shape,
        dtype: dtypes.encode(p.dtype, `${p.name}.dtype`),
      })),
      optimizer: configToWire(spec.optimizer, spec.nonFinite),
      overrides,
      ...(spec.checkpoint ? { checkpoint: spec.checkpoint } : {}),
    };
    const parts = createModelParts(req);
    type Res = { model: ModelDescription__Output | null };
    const res =
      parts.length === 1
        ? await this.unary(this.grpc.CreateModel as Unary<object, Res>, req, o)
        : await this.clientStream<CreateModelRequest, Res>(
            (md, opts, cb) =>
              // Takes time in proportion to the parameter count: no default deadline, as for other streams.
              this.grpc.CreateModelStream(md, opts, cb as grpc.requestCallback<unknown>),
            async (write) => {
              for (const p of parts) await write(p);
            },
            o,
          );
    return res.model as ModelDescription__Output;
  }

  /** Takes a checkpoint of `model` on the server now; resolves once it is complete on disk. */
  checkpoint(model: string, o?: CallOptions): Promise<CheckpointResponse__Output> {
    return this.unary(this.grpc.Checkpoint as Unary<object, CheckpointResponse__Output>, { model }, o);
  }

  /** The model's weights and the model step they belong to (after a server went back; client/resync.ts). */
  resync(model: string): Promise<Resynced> {
    return resync(this, model);
  }

  /**
   * Memory, modes and counters; per-parameter detail comes one page per model (pageSize parameters at most, 0 =
   * the server's default), continued with `pageToken` (ModelDescription.nextPageToken).
   */
  describe(model = '', o?: CallOptions & { pageSize?: number; pageToken?: string }): Promise<DescribeResponse__Output> {
    return this.unary(
      this.grpc.Describe as Unary<object, DescribeResponse__Output>,
      { model, pageSize: o?.pageSize ?? 0, pageToken: o?.pageToken ?? '' },
      o,
    );
  }

  /** Describe of one model with every page of its parameters gathered (one call per page). */
  async describeAll(model: string, o?: CallOptions & { pageSize?: number }): Promise<DescribeResponse__Output> {
    const first = await this.describe(model, o);
    const m = first.models[0];
    let token = m.nextPageToken;
    while (token) {
      const next = (await this.describe(model, { ...o, pageToken: token })).models[0];
      m.params.push(...next.params);
      Object.assign(m.overrides, next.overrides);
      token = next.nextPageToken;
    }
    m.nextPageToken = '';
    return first;
  }

  async listModels(o?: CallOptions): Promise<ModelSummary__Output[]> {
    const res = await this.unary(this.grpc.ListModels as Unary<object, ListModelsResponse__Output>, {}, o);
    return res.models;
  }

  async deleteModel(name: string, o?: CallOptions): Promise<{ name: string; freedBytes: number }> {
    return this.unary(this.grpc.DeleteModel as Unary<object, { name: string; freedBytes: number }>, { name }, o);
  }

  /** grpc.health.v1 Check; '' = the whole server. */
  health(service = '', o?: CallOptions): Promise<HealthStatus> {
    return new Promise((resolve, reject) => {
      const check = this.healthClient.Check as (
        req: object,
        md: grpc.Metadata,
        opts: grpc.CallOptions,
        cb: (err: grpc.ServiceError | null, res?: { status: HealthStatus }) => void,
      ) => grpc.ClientUnaryCall;
      check.call(this.healthClient, { service }, this.md(), this.callOpts(o, true), (err, res) =>
        err ? reject(QstepError.from(err)) : resolve(res?.status ?? 'UNKNOWN'),
      );
    });
  }

  /**
   * Initial values, chunked; resolves when the server has written them all. With uploadLanes > 1 and at least
   * laneMinBytes of values, the values are cut into shares (as a step's gradients) and sent over that many calls,
   * each on its own connection; a failed lane cancels the others, and what was written stays (uploads are not
   * atomic; send the same values again to complete them).
   */
  async uploadParameters(model: string, tensors: TensorMap, o: UploadOptions = {}): Promise<UploadResponse__Output> {
    const list = this.normalize(tensors, o.dtype);
    const total = list.reduce((n, t) => n + t.bytes.length, 0);
    if (this.uploadLanes > 1 && total >= this.laneMinBytes) {
      const plans = planLanes(list, this.uploadLanes);
      if (plans.length > 1) {
        // Whether the model already had all its values tells a refused lane from one that found the model
        // completed during this upload (client/upload-lanes.ts); one page of one parameter keeps the answer small.
        const readyBefore = (await this.describe(model, { ...o, pageSize: 1 })).models[0]?.ready ?? false;
        return uploadOverLanes(model, plans, o.signal, readyBefore, (lane: LanePlan, signal) =>
          this.uploadCall(this.laneClient(lane.index), model, lane.tensors, { ...o, signal }),
        );
      }
    }
    return this.uploadCall(this.grpc, model, list, o);
  }

  /**
   * One UploadParameters call: on a direct connection when the server offers one for it (client/direct.ts; the data
   * goes to the socket from the caller's memory), else on `client`'s gRPC connection. A lane's tensors carry their
   * element offsets.
   */
  private async uploadCall(
    client: grpc.Client,
    model: string,
    list: NormalizedTensor[],
    o: CallOptions,
  ): Promise<UploadResponse__Output> {
    const def = qstepService.UploadParameters;
    const direct = await this.directCall<UploadRequest, UploadResponse__Output>(
      'UploadParameters',
      def.requestSerialize,
      def.responseDeserialize,
      o,
    );
    const open = direct
      ? (_md: grpc.Metadata, _opts: grpc.CallOptions, cb: grpc.requestCallback<UploadResponse__Output>) => {
          // A client stream's one response, then its status, as grpc-js reports them through the callback.
          let response: UploadResponse__Output | undefined;
          direct.on('data', (m: UploadResponse__Output) => (response = m));
          direct.on('end', () => cb(null, response));
          direct.on('error', (err: grpc.ServiceError) => cb(err));
          return direct as unknown as ClientWritableStream<UploadRequest | Buffer[]>;
        }
      : (md: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<UploadResponse__Output>) => {
          this.checkOpen();
          // Only objects are written on this path (pieces go to direct connections).
          const call = client.makeClientStreamRequest(
            def.path,
            def.requestSerialize,
            def.responseDeserialize,
            md,
            opts,
            cb,
          );
          return call as unknown as ClientWritableStream<UploadRequest | Buffer[]>;
        };
    return this.clientStream<UploadRequest | Buffer[], UploadResponse__Output>(
      open,
      async (write) => {
        await write({ header: { model } });
        for (const t of list) {
          const dtype = t.dtype === undefined ? 'DTYPE_UNSPECIFIED' : dtypes.encode(t.dtype);
          for (const c of chunksOf(t.bytes, this.maxChunkBytes)) {
            const offset = (t.elementOffset ?? 0) + c.byteOffset / t.width;
            // UploadRequest.chunk is field 2, as StepRequest.gradient: the same pieces, no copy of the data.
            await write(
              direct
                ? tensorChunkPieces(t.name, offset, dtype, c.data, FRAME_HEADER_BYTES)
                : { chunk: { param: t.name, offset, dtype, data: c.data } },
            );
          }
        }
      },
      o,
    );
  }

  private normalize(tensors: TensorMap, dtype: DType | undefined) {
    return invalidArgument(() => normalizeTensors(tensors, dtype));
  }

  /**
   * Runs a client stream: `produce` writes messages (each write waits for 'drain' when needed and stops early
   * when the call has already finished); resolves with the response.
   */
  private clientStream<Req, Res>(
    open: (md: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<Res>) => ClientWritableStream<Req>,
    produce: (write: (msg: Req) => Promise<void>) => Promise<void>,
    o: CallOptions | undefined,
  ): Promise<Res> {
    let call!: ClientWritableStream<Req>;
    const finished = new Promise<Res>((resolve, reject) => {
      call = open(this.md(), this.callOpts(o, false), (err, res) =>
        err || !res ? reject(QstepError.from(err ?? new Error('empty response'))) : resolve(res),
      );
    });
    finished.catch(() => undefined);
    let over = false;
    finished.then(
      () => (over = true),
      () => (over = true),
    );
    o?.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    const write = async (msg: Req) => {
      if (over) return;
      if (!call.write(msg)) await waitWritable(call, finished);
    };
    return produce(write).then(
      () => {
        if (!over) call.end();
        return finished;
      },
      (err: unknown) => {
        call.cancel();
        throw QstepError.from(err);
      },
    );
  }

  /**
   * One optimizer step: header, gradient chunks, commit; resolves with the result and, if asked, the weights.
   * A rejected step changed nothing on the server (unless it was an applied step whose reply was lost; retry it
   * with the same workerId/stepId to get the recorded result).
   */
  async step(model: string, grads: TensorMap, o: StepOptions = {}): Promise<StepReply> {
    const list = this.normalize(grads, o.gradDtype);
    const paramHyper: Record<string, ReturnType<typeof hyperToWire>> = {};
    for (const [k, v] of Object.entries(o.paramHyper ?? {})) paramHyper[k] = hyperToWire(v);
    const ret = o.returnWeights;
    const header: StepRequest = {
      header: {
        model,
        workerId: o.workerId ?? '',
        // StepHeader.step_id is [jstype = JS_STRING]: an exact decimal string, whatever the caller passed.
        stepId: invalidArgument(() => stepIdToWire(o.stepId)),
        ...(o.expectedModelStep === undefined ? {} : { expectedModelStep: o.expectedModelStep }),
        gradients: list.map((t) => ({
          param: t.name,
          dtype: t.dtype === undefined ? 'DTYPE_UNSPECIFIED' : dtypes.encode(t.dtype),
        })),
        hyper: hyperToWire(o.hyper),
        paramHyper,
        returnWeights: ret !== undefined && ret !== false,
        weightsDtype: typeof ret === 'string' ? dtypes.encode(ret) : 'DTYPE_UNSPECIFIED',
        nonFinite: o.nonFinite === undefined ? 'NON_FINITE_POLICY_UNSPECIFIED' : policies.encode(o.nonFinite),
      },
    };
    // weightsInto: each target must hold numel elements of the returned dtype (2 or 4 bytes when the parameter's
    // own dtype is returned); a target that still turns out too small is dropped and the weights arrive in a new
    // buffer (the step itself was applied and must not be reported as failed).
    const into = new Map<string, Buffer>();
    const entries = o.weightsInto instanceof Map ? [...o.weightsInto] : Object.entries(o.weightsInto ?? {});
    for (const [name, t] of entries) {
      const g = list.find((x) => x.name === name);
      if (!g) continue;
      const numel = g.bytes.length / g.width;
      const target = bytesOf(t instanceof Float32Array || t instanceof Uint16Array || Buffer.isBuffer(t) ? t : t.data);
      const fits =
        typeof ret === 'string'
          ? target.length === numel * WIDTH[ret]
          : [2, 4].some((w) => target.length === numel * w);
      if (!fits) {
        throw new QstepError(
          Status.INVALID_ARGUMENT,
          `weightsInto for ${name} has ${target.length} bytes; ${numel} elements of the returned dtype do not fit`,
        );
      }
      into.set(name, target);
    }
    const total = list.reduce((n, t) => n + t.bytes.length, 0);
    if (this.lanes > 1 && o.stepId !== undefined && o.stepId !== 0 && o.stepId !== 0n && total >= this.laneMinBytes) {
      const plans = planLanes(list, this.lanes);
      if (plans.length > 1) {
        return stepOverLanes(plans, list, into, o, (lane, w) =>
          this.stepCall(
            this.laneClient(lane.index),
            stepHeaderParts({
              header: { ...header.header, lane: { index: lane.index, count: plans.length, slices: lane.slices } },
            }),
            lane.tensors,
            w,
            o,
          ),
        );
      }
    }
    return this.stepCall(
      this.grpc,
      stepHeaderParts(header),
      list,
      { signal: o.signal, into, onWeights: o.onWeights },
      o,
    );
  }

  /**
   * One Step stream: on a direct connection when the server offers one (client/direct.ts), else on `client`'s gRPC
   * connection. A direct connection that cannot be made sends nothing, so the step then goes over gRPC.
   */
  private async stepCall(
    client: grpc.Client,
    header: StepRequest[],
    list: NormalizedTensor[],
    w: { signal?: AbortSignal; into: Map<string, Buffer>; onWeights?: StepOptions['onWeights'] },
    o: StepOptions,
  ): Promise<StepReply> {
    const direct = await this.directCall<StepRequest, StepResponse__Output>(
      'Step',
      this.stepSerialize,
      this.stepDeserialize,
      o,
    );
    if (direct) {
      const call = direct as unknown as ClientDuplexStream<StepRequest | GradientMessage, StepResponse__Output>;
      return runStep(call, header, list, {
        maxChunkBytes: this.maxChunkBytes,
        // The data goes to the socket from the caller's memory: no copy on this side.
        encodeGradient: (param, offset, dtype, data) =>
          tensorChunkPieces(param, offset, dtype, data, FRAME_HEADER_BYTES),
        ...w,
      });
    }
    this.checkOpen();
    // Gradient messages are encoded into pooled buffers (one copy of the data, no allocation once warm) and
    // passed through grpc-js's serializer; the buffers go back to the pool when the call has ended.
    const call: ClientDuplexStream<StepRequest | GradientMessage, StepResponse__Output> = client.makeBidiStreamRequest(
      this.stepPath,
      this.stepSerialize as (m: StepRequest | GradientMessage) => Buffer,
      this.stepDeserialize,
      this.md(),
      this.callOpts(o, false),
    );
    const used: Buffer[] = [];
    call.on('status', () => this.pool.give(used.splice(0)));
    const alloc = (n: number) => {
      const b = this.pool.take(n);
      used.push(b);
      return b;
    };
    return runStep(call, header, list, {
      maxChunkBytes: this.maxChunkBytes,
      encodeGradient: (param, offset, dtype, data) => encodeStepGradient(param, offset, dtype, data, alloc),
      ...w,
    });
  }

  /**
   * Throws UNAVAILABLE once close() was called: a call that waited (for the direct port) across a close() would
   * otherwise get grpc-js's bare Error from the closed channel.
   */
  private checkOpen(): void {
    if (this.closed) throw new QstepError(Status.UNAVAILABLE, 'the client was closed');
  }

  /** A call of `method` on a direct connection, or null when it goes over gRPC. */
  private async directCall<Req, Res>(
    method: 'Step' | 'UploadParameters',
    serialize: (m: Req) => Buffer,
    deserialize: (b: Buffer) => Res,
    o: CallOptions,
  ): Promise<DirectCall<Req, Res> | null> {
    // null: gRPC instead (the callers check that the client was not closed meanwhile, checkOpen).
    if (!this.direct || Date.now() < this.directRetryAt) return null;
    const found = this.directConnections ?? (this.directConnections = this.findDirect());
    // After a failure (ServerInfo refused, the port unreachable: a restart on another port, a firewall), calls go
    // over gRPC for DIRECT_RETRY_MS before the port is asked for again, so that no call waits on connects.
    const backOff = () => {
      if (this.directConnections !== found) return;
      this.directConnections = null;
      this.directRetryAt = Date.now() + DIRECT_RETRY_MS;
    };
    let connections: DirectConnections | null;
    try {
      connections = await found;
    } catch {
      backOff();
      return null;
    }
    // The server offers none, or not for this method (kept: it is not asked again).
    if (this.closed || !connections || !connections.target.methods.includes(method)) return null;
    let socket;
    try {
      socket = await connections.take();
    } catch {
      backOff();
      connections.close();
      return null;
    }
    const deadline = this.callOpts(o, false).deadline as number | undefined;
    return new DirectCall<Req, Res>(socket, connections, method, this.metadata, deadline, serialize, deserialize);
  }

  /** The server's direct transport, from ServerInfo; null when it offers none or the address is not host:port. */
  private async findDirect(): Promise<DirectConnections | null> {
    const host = targetHost(this.address);
    if (host === null) return null;
    const info = await this.serverInfo();
    if (!info.directPort) return null;
    return new DirectConnections({
      host,
      port: info.directPort,
      tls: this.tls ?? null,
      methods: info.directMethods,
    });
  }

  /** Lane i's grpc client: lane 0 is the main channel, the others each have a connection of their own. */
  private laneClient(i: number): grpc.Client {
    if (i === 0) return this.grpc;
    while (this.laneClients.length < i) {
      // A local subchannel pool: channels with the same target and options would otherwise share one connection.
      this.laneClients.push(
        new grpc.Client(this.address, this.credentials, {
          ...this.channelOptions,
          'grpc.use_local_subchannel_pool': 1,
        }),
      );
    }
    return this.laneClients[i - 1];
  }

  /** Snapshot as a stream of events: the header, then tensor data in header order. */
  async *snapshotStream(model: string, o: SnapshotOptions = {}): AsyncGenerator<SnapshotEvent> {
    const call: ClientReadableStream<SnapshotResponse__Output> = this.grpc.Snapshot(
      {
        model,
        params: o.params ?? [],
        weights: o.weights ?? true,
        weightsDtype: o.weightsDtype === undefined ? 'DTYPE_UNSPECIFIED' : dtypes.encode(o.weightsDtype),
        state: stateFormats.encode(o.state ?? 'raw'),
      },
      this.md(),
      this.callOpts(o, false),
    );
    const onAbort = () => call.cancel();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      // A header in parts (header_parts continuations) is joined before it is handed on.
      let joiner: ReturnType<typeof snapshotHeaderJoiner> | null = null;
      let announced = false;
      for await (const msg of call as AsyncIterable<SnapshotResponse__Output>) {
        if (msg.header) {
          if (joiner) throw new QstepError(Status.DATA_LOSS, 'the snapshot stream carried two headers');
          joiner = snapshotHeaderJoiner(msg.header);
        } else if (msg.headerMore) {
          if (!joiner) throw new QstepError(Status.DATA_LOSS, 'a snapshot header part before the header');
          joiner.add(msg.headerMore);
        } else if (msg.data) {
          joiner?.expectComplete('snapshot data');
          yield { kind: 'data', tensor: msg.data.tensor, byteOffset: msg.data.byteOffset, data: msg.data.data };
        }
        if (joiner && !announced && joiner.complete) {
          announced = true;
          joiner.head.headerParts = 0; // joined
          yield { kind: 'header', header: joiner.head };
        }
      }
      joiner?.expectComplete('the end of the stream');
    } catch (err) {
      throw QstepError.from(err);
    } finally {
      o.signal?.removeEventListener('abort', onAbort);
      call.cancel();
    }
  }

  /** Snapshot held in memory (for small models and tests; use snapshotStream for large ones). */
  async snapshot(model: string, o: SnapshotOptions = {}): Promise<Snapshot> {
    let header: SnapshotHeader__Output | null = null;
    const buffers: Buffer[] = [];
    const filled: number[] = [];
    for await (const ev of this.snapshotStream(model, o)) {
      if (ev.kind === 'header') {
        header = ev.header;
        for (const t of header.tensors) {
          buffers.push(Buffer.allocUnsafeSlow(t.byteLength));
          filled.push(0);
        }
      } else {
        const b = buffers[ev.tensor];
        if (!b || ev.byteOffset !== filled[ev.tensor] || ev.byteOffset + ev.data.length > b.length) {
          throw new QstepError(Status.DATA_LOSS, `snapshot data out of order for tensor ${ev.tensor}`);
        }
        ev.data.copy(b, ev.byteOffset);
        filled[ev.tensor] += ev.data.length;
      }
    }
    if (!header) throw new QstepError(Status.DATA_LOSS, 'the snapshot stream carried no header');
    const tensors = new Map<string, { desc: TensorDescriptor__Output; data: Buffer }>();
    header.tensors.forEach((desc, i) => {
      if (filled[i] !== desc.byteLength) throw new QstepError(Status.DATA_LOSS, `tensor ${desc.name} incomplete`);
      tensors.set(desc.name, { desc, data: buffers[i] });
    });
    return { header, tensors };
  }

  /** Loads a snapshot (held in memory, or streamed from a source) into `model`, all or nothing. */
  restore(model: string, snap: Snapshot | SnapshotSource, o: CallOptions = {}): Promise<RestoreResponse__Output> {
    const source: SnapshotSource =
      'tensors' in snap
        ? {
            header: snap.header as SnapshotHeader,
            data: (function* (max: number) {
              let i = 0;
              for (const desc of snap.header.tensors) {
                const t = snap.tensors.get(desc.name);
                if (!t) throw new QstepError(Status.INVALID_ARGUMENT, `snapshot lacks the bytes of ${desc.name}`);
                for (const c of chunksOf(t.data, max)) yield { tensor: i, byteOffset: c.byteOffset, data: c.data };
                i++;
              }
            })(this.maxChunkBytes),
          }
        : snap;
    return this.clientStream<RestoreRequest, RestoreResponse__Output>(
      (md, opts, cb) => this.grpc.Restore(md, opts, cb),
      async (write) => {
        for (const m of restoreHeaderParts(model, source.header)) await write(m);
        for await (const d of source.data) {
          for (const c of chunksOf(d.data, this.maxChunkBytes)) {
            await write({ data: { tensor: d.tensor, byteOffset: d.byteOffset + c.byteOffset, data: c.data } });
          }
        }
      },
      o,
    );
  }
}

/** A client for the qstep server at `address` ("host:port"). */
/** A caller's bad argument, refused before anything is sent. */
function invalidArgument<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw new QstepError(Status.INVALID_ARGUMENT, err instanceof Error ? err.message : String(err));
  }
}

export function connect(address: string, options: ConnectOptions = {}): QstepClient {
  return new QstepClient(address, options);
}
