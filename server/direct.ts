// The direct transport (docs/service.md, "Direct transport"): Step's and UploadParameters' messages on a plain TCP
// or TLS connection,
// framed by proto/direct-frames.ts, without HTTP/2. It exists for speed: HTTP/2 in grpc-js costs about three
// times the CPU per byte of a plain socket, and a Step is mostly bytes. Each call is handed to the very handler
// gRPC runs (server/rpc.ts: authentication, roles, namespaces, metrics, the log line; then the Step service), as
// an object with the surface of a grpc-js server stream, so the step's rules (validation, staging, the atomic
// transaction, lanes, replay) are one code path for both transports.
//
// Bounds: a connection must open its first call within handshakeMs (--stream-grace-ms) and may idle between calls for idleMs; a
// message is at most the server's maxMessageBytes, a control frame 64 KiB; at most MAX_CONNECTIONS at once. A
// protocol violation is answered with a STATUS naming it (bounded) and the connection is closed; the call it
// interrupted is cancelled, which changes nothing.

import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import {
  DIRECT_MAGIC,
  FrameError,
  FrameReader,
  FRAME_HEADER_BYTES,
  FrameType,
  MAX_CONTROL_BYTES,
  controlBody,
  controlFrame,
  writeFrameHeader,
} from '../proto/direct-frames';
import { quote } from './domain/bounded';
import { lend } from './domain/lent-memory';
import { Status } from './errors';

/** A method the direct transport serves: its grpc-js handler and the codecs gRPC runs it with. */
export interface DirectMethod {
  /** Client streaming: the handler answers through a callback (one response, then the status). */
  kind: 'bidi' | 'client_stream';
  handler: (
    call: grpc.ServerDuplexStream<unknown, unknown>,
    callback?: (err: { code?: number; details?: string } | null, value?: unknown) => void,
  ) => void;
  /**
   * Whether the handler is done with a message's data once it reads the next message: its messages may then be
   * gathered into memory reused for later ones (marked lent, server/domain/lent-memory.ts).
   */
  lends: boolean;
  deserialize: (b: Buffer) => unknown;
  /**
   * A response as pieces written in order, the first with FRAME_HEADER_BYTES free at its front for the frame
   * header (fast-codec stepResponsePieces: a tensor chunk's data is written from where it lies, not copied).
   */
  serialize: (m: unknown) => Buffer[];
}

export interface DirectOptions {
  host: string;
  /** 0 = ephemeral. */
  port: number;
  /** TLS (the gRPC port's certificate, key and client CA); null = plaintext. */
  tls: tls.TlsOptions | null;
  /** By name in the service ('Step'). */
  methods: Record<string, DirectMethod>;
  maxMessageBytes: number;
  /** A connection without a call for this long is closed (ms; 0 = never). */
  idleMs: number;
  /** A new connection must open its first call within this (ms). */
  handshakeMs: number;
  log: Logger;
}

export interface DirectServer {
  readonly port: number;
  /** Connections open now (idle or in a call). */
  readonly connections: number;
  /** New TLS credentials for connections accepted from now on (a reload). */
  setSecureContext(o: tls.TlsOptions): void;
  /** Stops accepting and closes idle connections; calls in flight get graceMs to finish, then are cancelled. */
  close(graceMs: number): Promise<void>;
}

/** A peer that does not close its side after the server ended a connection is cut this much later. */
const LINGER_MS = 10_000;
const MAX_CONNECTIONS = 1024;
const MAX_METADATA_ENTRIES = 64;
/** Decoded messages waiting for the handler before the socket stops being read (back-pressure on the client). */
const QUEUE_HIGH = 4;
const DETAILS_MAX = 2000;
/** Gather buffers kept for reuse per connection (about QUEUE_HIGH + 1 are in use at a time). */
const SPARE_MAX = 4;

/** One call, shaped as the grpc-js server stream server/rpc.ts and its readers and writers use. */
class DirectCall extends EventEmitter {
  readonly metadata: grpc.Metadata;
  /** Decoded messages not yet read, each with the gather buffer its data lies in (null: memory of its own). */
  private readonly queue: { msg: unknown; buf: Buffer | null }[] = [];
  /** The gather buffer of the message read last: the handler is done with it when it reads the next. */
  private held: Buffer | null = null;
  /** The client half-closed. */
  ended = false;
  /** STATUS was sent or the call was lost: later writes are dropped, as grpc-js drops them. */
  done = false;
  private deadline: NodeJS.Timeout | null = null;
  private readonly deadlineAt: number;

  constructor(
    private readonly conn: Connection,
    readonly method: DirectMethod,
    metadata: grpc.Metadata,
    timeoutMs: number | undefined,
  ) {
    super();
    this.metadata = metadata;
    this.on('error', () => undefined); // the status is sent by emit() below; listeners are optional
    this.deadlineAt = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    if (timeoutMs !== undefined) {
      this.deadline = setTimeout(() => {
        conn.fail(new FrameError('Deadline exceeded', Status.DEADLINE_EXCEEDED));
      }, timeoutMs);
    }
  }

  getPeer(): string {
    return this.conn.peer;
  }

  /** As grpc-js's server calls: the deadline OPEN carried (ms since the epoch), or Infinity. */
  getDeadline(): number {
    return this.deadlineAt;
  }

  read(): unknown {
    if (this.held) this.conn.recycle(this.held);
    const e = this.queue.shift();
    this.held = e?.buf ?? null;
    if (this.queue.length < QUEUE_HIGH) this.conn.resume();
    return e === undefined ? null : e.msg;
  }

  write(msg: unknown, cb?: (err?: Error | null) => void): boolean {
    if (this.done) {
      if (cb) process.nextTick(cb);
      return true;
    }
    return this.conn.sendMessage(this.method.serialize(msg), cb);
  }

  /** The handler succeeded: STATUS OK after every message written before. */
  end(): void {
    this.finish(Status.OK, 'OK');
  }

  // server/rpc.ts ends a failed call with emit('error', status), as grpc-js expects of its streams.
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'error' && !this.done) {
      const st = args[0] as { code?: number; details?: string };
      this.finish(typeof st?.code === 'number' ? st.code : Status.UNKNOWN, String(st?.details ?? 'unknown error'));
    }
    return super.emit(event, ...args);
  }

  /** @internal a decoded message from the client, and the gather buffer its data lies in */
  deliver(msg: unknown, buf: Buffer | null): void {
    this.queue.push({ msg, buf });
    if (this.queue.length >= QUEUE_HIGH) this.conn.pause();
    super.emit('readable');
  }

  /** @internal the client's HALF_CLOSE */
  halfClose(): void {
    this.ended = true;
    super.emit('end');
  }

  /** @internal the connection ended the call (lost, protocol error, deadline): the handler sees a cancellation. */
  lose(): void {
    if (this.done) return;
    this.settle();
    super.emit('cancelled');
    super.emit('close');
  }

  private finish(code: number, details: string): void {
    if (this.done) return;
    this.settle();
    this.conn.sendStatus(code, details, this);
  }

  private settle(): void {
    this.done = true;
    this.held = null; // the handler may still hold the last message: its buffer is not reused
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = null;
  }
}

class Connection {
  readonly peer: string;
  call: DirectCall | null = null;
  /** STATUS with keep = false was sent: the rest of the input is ignored until the socket closes. */
  private closing = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly reader: FrameReader;
  private paused = false;
  /**
   * Gather buffers free for the current call's next messages. Fresh memory for every 1 MiB message costs page faults
   * and garbage collections (a third of a Step's CPU here); a message's buffer is reused once the handler has read
   * the next message (lent memory, server/domain/lent-memory.ts). Dropped when a call ends.
   */
  private spare: Buffer[] = [];
  /** The gather buffer of the frame being delivered (null when its payload lay within one socket read). */
  private gathered: Buffer | null = null;

  constructor(
    readonly socket: net.Socket,
    private readonly o: DirectOptions,
    private readonly onIdle: (c: Connection) => void,
  ) {
    this.peer = `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`;
    this.reader = new FrameReader(
      (t) =>
        t === FrameType.Open
          ? MAX_CONTROL_BYTES
          : t === FrameType.Message
            ? o.maxMessageBytes
            : t === FrameType.HalfClose
              ? 0
              : -1,
      (t, p) => this.frame(t, p),
      DIRECT_MAGIC,
      (len) => this.gather(len),
    );
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    socket.on('data', (chunk: Buffer) => {
      if (this.closing) return;
      try {
        this.reader.push(chunk);
      } catch (err) {
        this.fail(err);
      }
    });
    socket.on('drain', () => this.call?.emit('drain'));
    socket.on('error', () => undefined); // 'close' follows
    socket.on('close', () => {
      this.clearTimer();
      this.call?.lose();
      this.call = null;
    });
    this.arm(o.handshakeMs, 'no call was opened');
  }

  /** @internal a gather buffer the handler is done with */
  recycle(b: Buffer): void {
    if (this.call && this.spare.length < SPARE_MAX) this.spare.push(b);
  }

  private gather(len: number): Buffer {
    if (!this.call?.method.lends) {
      this.gathered = null; // memory of its own: never handed out again
      return Buffer.allocUnsafeSlow(len);
    }
    let b = this.spare.pop();
    if (!b || b.length < len) {
      b = Buffer.allocUnsafeSlow(Math.max(len, b?.length ?? 0));
      lend(b);
    }
    this.gathered = b;
    return b.subarray(0, len);
  }

  get idle(): boolean {
    return this.call === null;
  }

  pause(): void {
    if (!this.paused) this.socket.pause();
    this.paused = true;
  }

  resume(): void {
    if (this.paused) this.socket.resume();
    this.paused = false;
  }

  /** Writes one message's pieces (see DirectMethod.serialize) as one frame, gathered into one socket write. */
  sendMessage(pieces: Buffer[], cb?: (err?: Error | null) => void): boolean {
    if (this.socket.destroyed) {
      if (cb) process.nextTick(cb);
      return true;
    }
    let length = -FRAME_HEADER_BYTES;
    for (const p of pieces) length += p.length;
    writeFrameHeader(pieces[0], FrameType.Message, length);
    this.socket.cork();
    let ok = true;
    for (let i = 0; i < pieces.length; i++) {
      const last = i === pieces.length - 1;
      ok = this.socket.write(pieces[i], last && cb ? (err) => cb(err) : undefined);
    }
    this.socket.uncork();
    return ok;
  }

  /** Ends `call` with a status; the connection stays for the next call only if the client had half-closed. */
  sendStatus(code: number, details: string, call: DirectCall): void {
    const keep = call.ended && !this.closing && code !== Status.DEADLINE_EXCEEDED;
    if (this.call === call) this.call = null;
    this.spare = [];
    if (!this.socket.destroyed) {
      this.socket.write(controlFrame(FrameType.Status, { code, details: details.slice(0, DETAILS_MAX), keep }));
    }
    if (keep) {
      this.arm(this.o.idleMs, 'idle');
      this.resume();
      this.onIdle(this);
    } else {
      this.shut();
    }
  }

  /** A protocol violation or a deadline: the call (if any) ends with the error's status; the connection closes. */
  fail(err: unknown): void {
    const fe = err instanceof FrameError ? err : null;
    const code = fe ? fe.code : Status.INTERNAL;
    const details = fe ? `direct transport: ${fe.message}` : 'direct transport: internal error';
    if (!fe) this.o.log.error({ peer: this.peer, err }, 'direct: failed');
    else if (fe.code !== Status.DEADLINE_EXCEEDED) this.o.log.warn({ peer: this.peer, details }, 'direct: refused');
    const call = this.call;
    this.call = null;
    this.spare = [];
    if (!this.socket.destroyed && !this.closing) {
      this.socket.write(controlFrame(FrameType.Status, { code, details: details.slice(0, DETAILS_MAX), keep: false }));
    }
    call?.lose();
    this.shut();
  }

  /** Closes after what was written; a peer that does not close its side within LINGER_MS is cut. */
  shut(): void {
    if (this.closing) return;
    this.closing = true;
    this.clearTimer();
    this.resume();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  private frame(type: number, payload: Buffer): void {
    const gathered = this.gathered;
    this.gathered = null;
    const call = this.call;
    if (!call) {
      if (type !== FrameType.Open) throw new FrameError(`expected OPEN, got a frame of type ${type}`);
      this.open(payload);
      return;
    }
    if (type === FrameType.Message) {
      if (call.ended) throw new FrameError('a message after HALF_CLOSE');
      let msg: unknown;
      try {
        msg = call.method.deserialize(payload);
      } catch (err) {
        throw new FrameError(`could not decode a message: ${quote(err instanceof Error ? err.message : String(err))}`);
      }
      call.deliver(msg, gathered);
    } else if (type === FrameType.HalfClose) {
      if (call.ended) throw new FrameError('HALF_CLOSE twice');
      call.halfClose();
    } else {
      throw new FrameError(`a frame of type ${type} during a call`);
    }
  }

  private open(payload: Buffer): void {
    const body = controlBody(payload);
    const name = body.method;
    if (typeof name !== 'string') throw new FrameError('OPEN without a method');
    const method = Object.prototype.hasOwnProperty.call(this.o.methods, name) ? this.o.methods[name] : undefined;
    if (!method) throw new FrameError(`method ${quote(name)} is not served here`, Status.UNIMPLEMENTED);
    const md = new grpc.Metadata();
    const given = body.metadata ?? {};
    if (typeof given !== 'object' || given === null || Array.isArray(given))
      throw new FrameError('OPEN metadata must be an object of strings');
    const entries = Object.entries(given as Record<string, unknown>);
    if (entries.length > MAX_METADATA_ENTRIES)
      throw new FrameError(`OPEN carries ${entries.length} metadata entries; at most ${MAX_METADATA_ENTRIES}`);
    for (const [k, v] of entries) {
      if (typeof v !== 'string' || !/^[0-9a-z_.-]{1,256}$/.test(k) || k.endsWith('-bin'))
        throw new FrameError(`OPEN metadata entry ${quote(k)} is not a lower-case key with a string value`);
      md.set(k, v);
    }
    const t = body.timeoutMs;
    if (t !== undefined && (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 1 || t > 2 ** 31 - 1))
      throw new FrameError(`OPEN timeoutMs must be an integer in [1, 2^31-1], got ${quote(String(t))}`);
    this.clearTimer();
    const call = new DirectCall(this, method, md, t as number | undefined);
    this.call = call;
    const stream = call as unknown as grpc.ServerDuplexStream<unknown, unknown>;
    if (method.kind === 'bidi') method.handler(stream);
    else {
      // server/rpc.ts answers a client stream with callback(null, response) or callback(status).
      method.handler(stream, (err, value) => {
        if (err) call.emit('error', err);
        else {
          call.write(value);
          call.end();
        }
      });
    }
  }

  private arm(ms: number, why: string): void {
    this.clearTimer();
    if (ms <= 0) return;
    this.timer = setTimeout(() => {
      if (this.call === null) {
        this.o.log.debug({ peer: this.peer, why }, 'direct: closing an idle connection');
        this.shut();
      }
    }, ms);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** Listens on host:port and serves the given methods until close(). */
export async function serveDirect(o: DirectOptions): Promise<DirectServer> {
  const conns = new Set<Connection>();
  let stopping = false;
  const accept = (socket: net.Socket) => {
    if (stopping) {
      socket.destroy();
      return;
    }
    const c = new Connection(socket, o, (idle) => {
      if (stopping) idle.shut();
    });
    conns.add(c);
    socket.on('close', () => conns.delete(c));
  };
  let server: net.Server;
  if (o.tls) {
    const t = tls.createServer({ ...o.tls, handshakeTimeout: o.handshakeMs }, accept);
    t.on('tlsClientError', (err, socket) => {
      o.log.debug({ peer: `${socket.remoteAddress}:${socket.remotePort}`, err: err.message }, 'direct: tls refused');
    });
    server = t;
  } else {
    server = net.createServer(accept);
  }
  server.maxConnections = MAX_CONNECTIONS;
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
  server.on('error', (err) => o.log.error({ err }, 'direct: listener failed'));
  return {
    port,
    get connections() {
      return conns.size;
    },
    setSecureContext(opts) {
      if (server instanceof tls.Server) server.setSecureContext(opts);
    },
    async close(graceMs) {
      stopping = true;
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const c of conns) if (c.idle) c.shut();
      const deadline = Date.now() + graceMs;
      while ([...conns].some((c) => !c.idle) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const c of conns) c.socket.destroy();
      await closed;
    },
  };
}
