// Adapters from plain async handler functions to grpc-js handlers, one per call type. Each adapter gives the
// handler a CallContext (an AbortSignal that fires when the client cancels or its deadline passes, and log
// fields), maps whatever the handler throws through the one status table, counts the call in the grpc_server_*
// metrics, and writes exactly one log line per RPC outcome (no tensor data).
//
// Streams are read through MessageReader (bounded: grpc-js reads the next message only when its buffer drains,
// so a slow handler pushes back on the client) and written through MessageWriter (waits for 'drain' when write()
// returns false).

import type { Readable, Writable } from 'node:stream';
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Status, codeName, fail, toStatus } from './errors';
import { boundedFields } from './domain/bounded';
import type { ServerMetrics } from './metrics';
import { checkNamespace, checkRole, modelOf } from './security/authorize';
import type { AccessControl, Principal } from './security/authorize';
import { audit } from './security/audit';

export interface RpcDeps {
  log: Logger;
  metrics: ServerMetrics;
  /** A stream that sends nothing for this long fails DEADLINE_EXCEEDED (0 = never). */
  streamIdleMs: number;
  /** Token checks (server/security); absent when the server runs without --auth-tokens. */
  access?: AccessControl;
}

type CallType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

/** Per-call state handed to handlers. */
export class CallContext {
  readonly method: string;
  private readonly controller = new AbortController();
  /** Extra fields for the outcome log line (model, worker, step id, byte counts). Never tensor data. */
  readonly fields: Record<string, unknown> = {};
  private readonly labels: Record<string, string>;
  private readonly metrics: ServerMetrics;
  /** The caller's token (name, role, namespace, quotas); null when the server runs without --auth-tokens. */
  principal: Principal | null = null;

  /** The client connection's address (one per HTTP/2 connection): the owner of what the call holds. */
  readonly peer: string;

  /**
   * The client's deadline (ms since the epoch; Infinity = none). grpc-js cancels the call on a timer when it passes,
   * but a short stream can be read and queued before that timer runs: `cancelled` checks the deadline itself.
   */
  private readonly deadlineMs: number;

  constructor(
    method: string,
    labels: Record<string, string>,
    metrics: ServerMetrics,
    peer = '',
    deadlineMs = Infinity,
  ) {
    this.method = method;
    this.deadlineMs = deadlineMs;
    this.peer = peer;
    this.labels = labels;
    this.metrics = metrics;
  }

  /** Aborts when the client cancels, its deadline passes or the server force-closes the call. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get cancelled(): boolean {
    return this.controller.signal.aborted || Date.now() >= this.deadlineMs;
  }

  /** @internal */
  abort(): void {
    this.controller.abort();
  }

  set(fields: Record<string, unknown>): void {
    Object.assign(this.fields, fields);
  }

  /** @internal */
  countReceived(): void {
    this.metrics.received.inc(this.labels);
  }

  /** @internal */
  countSent(): void {
    this.metrics.sent.inc(this.labels);
  }
}

/** Reads a grpc-js server stream one message at a time without destroying it at the end. */
export class MessageReader<T> {
  private wake: (() => void) | null = null;
  private ended = false;
  private closed = false;
  private failure: Error | null = null;

  constructor(
    private readonly stream: Readable,
    private readonly ctx: CallContext,
    private readonly idleMs: number,
    /** Checked against the first message (the one naming the model), before the handler sees it. */
    private first?: (msg: T) => void,
  ) {
    const poke = () => {
      const w = this.wake;
      this.wake = null;
      w?.();
    };
    stream.on('readable', poke);
    stream.on('end', () => {
      this.ended = true;
      poke();
    });
    stream.on('close', () => {
      this.closed = true;
      poke();
    });
    stream.on('error', (err: Error) => {
      this.failure ??= err;
      poke();
    });
    ctx.signal.addEventListener('abort', poke);
  }

  /** The next message, or null when the client half-closed. Throws CANCELLED, DEADLINE_EXCEEDED (idle). */
  async next(): Promise<T | null> {
    for (;;) {
      if (this.ctx.cancelled) throw fail.cancelled();
      const v = this.stream.read() as T | null;
      if (v !== null) {
        this.ctx.countReceived();
        const check = this.first;
        this.first = undefined;
        check?.(v);
        return v;
      }
      if (this.ended) return null;
      if (this.failure) throw this.failure;
      if (this.closed) throw fail.cancelled();
      await this.waitForData();
    }
  }

  private waitForData(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      if (this.idleMs > 0) {
        timer = setTimeout(() => {
          this.wake = null;
          reject(fail.deadline(`the stream sent nothing for ${this.idleMs} ms`));
        }, this.idleMs);
      }
      this.wake = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** Writes to a grpc-js server stream, honouring back-pressure. */
export class MessageWriter<T> {
  constructor(
    private readonly stream: Writable,
    private readonly ctx: CallContext,
  ) {}

  /**
   * Resolves once the stream accepts more (the message may still wait in the stream's buffer). `written`, if given,
   * is called once the stream has processed the message (serialized and handed on, or dropped by a destroyed
   * stream): only then may buffers the message refers to be reused.
   */
  async write(msg: T, written?: () => void): Promise<void> {
    if (this.ctx.cancelled) throw fail.cancelled();
    this.ctx.countSent();
    if (this.stream.write(msg, written && (() => written()))) return;
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        this.stream.off('drain', done);
        this.ctx.signal.removeEventListener('abort', done);
        if (this.ctx.cancelled) reject(fail.cancelled());
        else resolve();
      };
      this.stream.on('drain', done);
      this.ctx.signal.addEventListener('abort', done);
    });
  }
}

interface Tracker {
  ctx: CallContext;
  /** Logs and counts the outcome; returns the status to send. */
  finish(err?: unknown): { code: Status; details: string };
}

/**
 * The auth hook: resolves the caller's token (UNAUTHENTICATED, PERMISSION_DENIED for the role) and, given the
 * message that names the model, checks the namespace (server/security/authorize.ts). No-op without --auth-tokens.
 */
function admit(deps: RpcDeps, ctx: CallContext, call: { metadata: grpc.Metadata }, msg?: unknown): void {
  if (!deps.access) return;
  const model = msg === undefined ? undefined : modelOf(ctx.method, msg);
  if (model !== undefined) ctx.set({ model }); // for the log and audit lines, also of a refusal
  ctx.principal = deps.access.authenticate(call.metadata);
  ctx.set({ token: ctx.principal.name });
  checkRole(ctx.principal, ctx.method);
  if (msg !== undefined) checkMessage(ctx, msg);
}

function checkMessage(ctx: CallContext, msg: unknown): void {
  const model = modelOf(ctx.method, msg);
  if (model !== undefined && ctx.fields.model === undefined) ctx.set({ model });
  checkNamespace(ctx.principal, ctx.method, model);
}

function track(
  deps: RpcDeps,
  method: string,
  type: CallType,
  call: { getPeer(): string; getDeadline?(): grpc.Deadline } & NodeJS.EventEmitter,
): Tracker {
  const labels = { grpc_service: 'qstep.v1.Qstep', grpc_method: method, grpc_type: type };
  deps.metrics.started.inc(labels);
  const stopTimer = deps.metrics.handling.startTimer(labels);
  const d = call.getDeadline?.();
  const deadlineMs = d instanceof Date ? d.getTime() : typeof d === 'number' ? d : Infinity;
  const ctx = new CallContext(method, labels, deps.metrics, call.getPeer(), deadlineMs);
  const t0 = process.hrtime.bigint();
  call.once('cancelled', () => ctx.abort());
  let done = false;
  return {
    ctx,
    finish(err?: unknown) {
      let st: { code: Status; details: string } = { code: Status.OK, details: 'OK' };
      if (err !== undefined) st = toStatus(err, deps.log.child({ rpc: method }));
      // A client that went away gets nothing; its outcome is CANCELLED whatever the handler saw.
      if (ctx.cancelled) st = { code: Status.CANCELLED, details: 'cancelled by the client' };
      if (!done) {
        done = true;
        stopTimer();
        deps.metrics.handled.inc({ ...labels, grpc_code: codeName(st.code) });
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        // Fields may quote the request (a model name): each is cut, so one line stays a few hundred bytes.
        const line = {
          rpc: method,
          code: codeName(st.code),
          ms: Math.round(ms * 1000) / 1000,
          peer: call.getPeer(),
          ...boundedFields(ctx.fields),
        };
        if (st.code === Status.OK || st.code === Status.CANCELLED) deps.log.info(line, 'rpc');
        else if (st.code === Status.INTERNAL || st.code === Status.UNKNOWN)
          deps.log.error({ ...line, details: st.details }, 'rpc');
        else deps.log.warn({ ...line, details: st.details }, 'rpc');
        audit(deps.log, {
          method,
          principal: ctx.principal,
          model: ctx.fields.model,
          outcome: codeName(st.code),
          details: st.details,
          peer: line.peer,
        });
      }
      return st;
    },
  };
}

export type UnaryImpl<Req, Res> = (req: Req, ctx: CallContext) => Promise<Res>;
export type ClientStreamImpl<Req, Res> = (input: MessageReader<Req>, ctx: CallContext) => Promise<Res>;
export type ServerStreamImpl<Req, Res> = (req: Req, output: MessageWriter<Res>, ctx: CallContext) => Promise<void>;
export type BidiImpl<Req, Res> = (
  input: MessageReader<Req>,
  output: MessageWriter<Res>,
  ctx: CallContext,
) => Promise<void>;

/** Settles a call with one response (unary and client-streaming): the response, or the status of the failure. */
function answer<Res>(t: Tracker, result: Promise<Res>, callback: grpc.sendUnaryData<Res>): void {
  result.then(
    (res) => {
      const st = t.finish();
      if (st.code === Status.OK) callback(null, res);
    },
    (err: unknown) => {
      const st = t.finish(err);
      if (!t.ctx.cancelled) callback(st);
    },
  );
}

export function unary<Req, Res>(
  deps: RpcDeps,
  method: string,
  impl: UnaryImpl<Req, Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const t = track(deps, method, 'unary', call);
    answer(
      t,
      (async () => {
        admit(deps, t.ctx, call, call.request);
        return impl(call.request, t.ctx);
      })(),
      callback,
    );
  };
}

export function clientStream<Req, Res>(
  deps: RpcDeps,
  method: string,
  impl: ClientStreamImpl<Req, Res>,
): grpc.handleClientStreamingCall<Req, Res> {
  return (call, callback) => {
    const t = track(deps, method, 'client_stream', call);
    answer(
      t,
      (async () => {
        admit(deps, t.ctx, call);
        const first = deps.access ? (m: Req) => checkMessage(t.ctx, m) : undefined;
        return impl(new MessageReader<Req>(call, t.ctx, deps.streamIdleMs, first), t.ctx);
      })(),
      callback,
    );
  };
}

function endStream(
  call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>,
  ctx: CallContext,
  st: { code: Status; details: string },
): void {
  if (ctx.cancelled) return;
  if (st.code === Status.OK) call.end();
  else call.emit('error', st); // grpc-js turns an 'error' event into the call's status
}

export function serverStream<Req, Res>(
  deps: RpcDeps,
  method: string,
  impl: ServerStreamImpl<Req, Res>,
): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    const t = track(deps, method, 'server_stream', call);
    (async () => {
      admit(deps, t.ctx, call, call.request);
      return impl(call.request, new MessageWriter<Res>(call, t.ctx), t.ctx);
    })().then(
      () => endStream(call, t.ctx, t.finish()),
      (err: unknown) => endStream(call, t.ctx, t.finish(err)),
    );
  };
}

export function bidi<Req, Res>(
  deps: RpcDeps,
  method: string,
  impl: BidiImpl<Req, Res>,
): grpc.handleBidiStreamingCall<Req, Res> {
  return (call) => {
    const t = track(deps, method, 'bidi_stream', call);
    (async () => {
      admit(deps, t.ctx, call);
      const first = deps.access ? (m: Req) => checkMessage(t.ctx, m) : undefined;
      return impl(
        new MessageReader<Req>(call, t.ctx, deps.streamIdleMs, first),
        new MessageWriter<Res>(call, t.ctx),
        t.ctx,
      );
    })().then(
      () => endStream(call, t.ctx, t.finish()),
      (err: unknown) => endStream(call, t.ctx, t.finish(err)),
    );
  };
}
