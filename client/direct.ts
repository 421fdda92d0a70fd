// The client end of the direct transport (docs/service.md, "Direct transport"; framing in
// proto/direct-frames.ts): Step's messages over a plain TCP or TLS connection to the port the server announces in
// ServerInfo.direct_port. DirectCall has the surface of a grpc-js client stream that client/step-call.ts uses, so a
// step runs the same code over either transport. Connections are kept for later calls (one call at a time each).

import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import {
  DIRECT_MAGIC,
  FRAME_HEADER_BYTES,
  FrameReader,
  FrameType,
  MAX_CONTROL_BYTES,
  controlBody,
  controlFrame,
  frameHeader,
  scratchGather,
  writeFrameHeader,
} from '../proto/direct-frames';
import { Status } from './errors';
import type { TlsOptions } from './types';

/** Where a server's direct transport listens, and how to reach it. */
export interface DirectTarget {
  host: string;
  port: number;
  /** TLS as the gRPC channel uses it; null = plaintext. */
  tls: TlsOptions | null;
  /** The RPCs it serves (ServerInfo.direct_methods). */
  methods: string[];
}

/** A direct port that does not answer within this is taken as unreachable (the step then goes over gRPC). */
const CONNECT_MS = 5_000;
/** The read buffer of a plaintext direct connection (onread): what one read can take. */
const READ_BUFFER_BYTES = 256 * 1024;
/** Where each connection's received bytes go: the current call's frame reader (bytes valid during the call only). */
const sinks = new WeakMap<net.Socket, { sink: ((chunk: Buffer) => void) | null }>();
const MAX_IDLE = 64;
/** The largest message accepted from the server (a weights chunk is about 1 MiB). */
const MAX_MESSAGE_BYTES = 1 << 30;

/** The host of a grpc-js target 'host:port' or '[v6]:port'; null for other forms (dns:, unix:, ...). */
export function targetHost(address: string): string | null {
  const v6 = /^\[([0-9a-fA-F:.]+)\]:\d+$/.exec(address);
  if (v6) return v6[1];
  const m = /^([A-Za-z0-9.-]+):\d+$/.exec(address);
  return m ? m[1] : null;
}

/** Idle connections to one target, and new ones on demand. */
export class DirectConnections {
  private readonly idle: net.Socket[] = [];
  private closed = false;

  constructor(readonly target: DirectTarget) {}

  /** An idle connection or a new one; rejects (with the socket error's code) if it cannot connect. */
  take(): Promise<net.Socket> {
    for (let s = this.idle.pop(); s; s = this.idle.pop()) {
      if (!s.destroyed && s.readable && s.writable) {
        s.ref();
        return Promise.resolve(s);
      }
    }
    return this.connect();
  }

  /** Keeps `s` for a later call (or closes it when enough are kept). */
  give(s: net.Socket): void {
    if (this.closed || this.idle.length >= MAX_IDLE || s.destroyed) {
      s.destroy();
      return;
    }
    s.unref();
    this.idle.push(s);
  }

  close(): void {
    this.closed = true;
    for (const s of this.idle.splice(0)) s.destroy();
  }

  private connect(): Promise<net.Socket> {
    const { host, port } = this.target;
    const t = this.target.tls;
    return new Promise<net.Socket>((resolve, reject) => {
      // Plaintext sockets read into one buffer of their own (onread) instead of new memory per read: with the
      // message memory reused too (DirectCall), a step allocates nothing per MiB here, which spares the page
      // faults of memory the C library keeps giving back to the OS and taking again.
      const reads = { sink: null as ((chunk: Buffer) => void) | null };
      const s: net.Socket = t
        ? tls.connect({
            host,
            port,
            ca: t.ca,
            cert: t.cert,
            key: t.key,
            ...(net.isIP(t.serverName ?? host) ? {} : { servername: t.serverName ?? host }),
            // As the gRPC channel does: the certificate names the server (or tls.serverName).
            checkServerIdentity: (_h, cert) => tls.checkServerIdentity(t.serverName ?? host, cert),
          })
        : net.connect({
            host,
            port,
            onread: {
              buffer: Buffer.allocUnsafeSlow(READ_BUFFER_BYTES),
              callback: (n: number, buf: Uint8Array) => {
                reads.sink?.((buf as Buffer).subarray(0, n));
                return true;
              },
            },
          });
      if (t) s.on('data', (chunk: Buffer) => reads.sink?.(chunk));
      sinks.set(s, reads);
      const timer = setTimeout(
        () => s.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })),
        CONNECT_MS,
      );
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      s.once('error', fail);
      s.once(t ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        s.off('error', fail);
        s.setNoDelay(true);
        s.setKeepAlive(true, 60_000);
        s.on('error', () => undefined); // each call watches 'close'
        s.on('close', () => {
          const i = this.idle.indexOf(s);
          if (i >= 0) this.idle.splice(i, 1);
        });
        s.write(DIRECT_MAGIC);
        resolve(s);
      });
    });
  }
}

function statusError(code: number, details: string): grpc.ServiceError {
  return Object.assign(new Error(`${code} ${Status[code] ?? ''}: ${details}`), {
    code,
    details,
    metadata: new grpc.Metadata(),
  });
}

/**
 * One call on a direct connection, shaped as the grpc-js duplex stream client/step-call.ts drives: write() with
 * back-pressure ('drain'), end(), cancel(), and 'data', 'end' (status OK), 'error' (any other status), 'status'.
 * A message emitted with 'data' (and the views its decoding made) is valid only while the listeners run.
 * A message may be written as pieces whose first leaves FRAME_HEADER_BYTES free at its front (fast-codec
 * tensorChunkPieces): its data goes to the socket from where it lies.
 */
export class DirectCall<Req, Res> extends EventEmitter {
  private readonly reader: FrameReader;
  private finished = false;
  private halfClosed = false;
  private readonly timer: NodeJS.Timeout | null;
  private readonly onData = (chunk: Buffer) => {
    try {
      this.reader.push(chunk);
    } catch (err) {
      this.fail(Status.INTERNAL, `direct transport: ${(err as Error).message}`);
    }
  };
  private readonly onDrain = () => this.emit('drain');
  private readonly onClose = () => this.fail(Status.UNAVAILABLE, 'direct transport: the connection closed');

  constructor(
    private readonly socket: net.Socket,
    private readonly connections: DirectConnections,
    method: string,
    metadata: Record<string, string>,
    deadline: number | undefined,
    private readonly serialize: (m: Req) => Buffer,
    private readonly deserialize: (b: Buffer) => Res,
  ) {
    super();
    // Every 'data' listener of a Step call is done with the message when it returns (client/step-call.ts copies the
    // weights, and onWeights' data is valid during the call only), so one buffer serves every message.
    this.reader = new FrameReader(
      (t) => (t === FrameType.Message ? MAX_MESSAGE_BYTES : t === FrameType.Status ? MAX_CONTROL_BYTES : -1),
      (t, p) => this.frame(t, p),
      null,
      scratchGather(),
    );
    const reads = sinks.get(socket);
    if (reads) reads.sink = this.onData;
    socket.on('drain', this.onDrain);
    socket.on('close', this.onClose);
    const timeoutMs = deadline === undefined ? undefined : Math.max(1, Math.ceil(deadline - Date.now()));
    socket.write(controlFrame(FrameType.Open, { method, metadata, ...(timeoutMs ? { timeoutMs } : {}) }));
    this.timer = timeoutMs
      ? setTimeout(() => this.fail(Status.DEADLINE_EXCEEDED, 'Deadline exceeded'), timeoutMs)
      : null;
  }

  /** Writes a message (an object, an encoded Buffer, or pieces as above); false = wait for 'drain'. */
  write(msg: Req | Buffer | Buffer[]): boolean {
    if (this.finished || this.halfClosed) return true;
    let pieces: Buffer[];
    if (Array.isArray(msg)) pieces = msg;
    else pieces = [Buffer.allocUnsafe(FRAME_HEADER_BYTES), Buffer.isBuffer(msg) ? msg : this.serialize(msg as Req)];
    let length = -FRAME_HEADER_BYTES;
    for (const p of pieces) length += p.length;
    writeFrameHeader(pieces[0], FrameType.Message, length);
    this.socket.cork();
    let ok = true;
    for (const p of pieces) ok = this.socket.write(p);
    this.socket.uncork();
    return ok;
  }

  /** Half-closes: no more messages from this side. */
  end(): void {
    if (this.finished || this.halfClosed) return;
    this.halfClosed = true;
    this.socket.write(frameHeader(FrameType.HalfClose, 0));
  }

  /** Cancels the call: the connection is closed, so the server discards the step. */
  cancel(): void {
    this.fail(Status.CANCELLED, 'Cancelled on client');
  }

  private frame(type: number, payload: Buffer): void {
    if (this.finished) return;
    if (type === FrameType.Message) {
      let msg: Res;
      try {
        msg = this.deserialize(payload);
      } catch (err) {
        this.fail(Status.INTERNAL, `could not decode a response: ${String((err as Error).message).slice(0, 200)}`);
        return;
      }
      this.emit('data', msg);
      return;
    }
    const body = controlBody(payload);
    const code = typeof body.code === 'number' && Status[body.code] !== undefined ? body.code : Status.UNKNOWN;
    const details = typeof body.details === 'string' ? body.details : '';
    // The connection serves another call only if the server keeps it and this side had half-closed.
    this.settle(body.keep === true && this.halfClosed && this.reader.atBoundary);
    if (code === Status.OK) this.emit('end');
    else this.emit('error', statusError(code, details));
    this.emit('status', { code, details, metadata: new grpc.Metadata() });
  }

  private fail(code: number, details: string): void {
    if (this.finished) return;
    this.settle(false);
    this.emit('error', statusError(code, details));
    this.emit('status', { code, details, metadata: new grpc.Metadata() });
  }

  private settle(keep: boolean): void {
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    const reads = sinks.get(this.socket);
    if (reads && reads.sink === this.onData) reads.sink = null;
    this.socket.off('drain', this.onDrain);
    this.socket.off('close', this.onClose);
    if (keep) this.connections.give(this.socket);
    else this.socket.destroy();
  }
}
