// Shared helpers for the service tests: a real server on 127.0.0.1:0 with silent logs, a real client, fresh
// random tensors, raw Step streams for malformed input, and a fingerprint of everything a model holds.

import { createHash } from 'node:crypto';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { connect } from '../../client';
import type { ConnectOptions, QstepClient, Snapshot } from '../../client';
import type { StepRequest, StepResponse__Output } from '../../proto';
import { startServer } from '../../server/main';
import type { RunningServer } from '../../server/main';
import type { ServerConfig } from '../../server/config';

export interface Harness {
  server: RunningServer;
  client: QstepClient;
  close(): Promise<void>;
}

const open = new Set<Harness>();

export async function startHarness(
  config: Partial<ServerConfig> = {},
  clientOptions: ConnectOptions = {},
): Promise<Harness> {
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    metricsPort: -1,
    logLevel: process.env.QSTEP_TEST_LOG ?? 'silent',
    threads: 2,
    // QSTEP_BACKEND=cuda runs the service suite on the GPU (scripts/gpu-check.sh does).
    backend: (process.env.QSTEP_BACKEND ?? 'cpu') as 'cpu' | 'cuda' | 'auto',
    ...config,
  });
  const client = connect(server.address, clientOptions);
  const h: Harness = {
    server,
    client,
    async close() {
      open.delete(h);
      client.close();
      await server.shutdown(2000);
    },
  };
  open.add(h);
  return h;
}

// A root-level hook (this module is loaded once): servers a failed test left open are stopped, so a listening
// socket never keeps the mocha process alive.
after(async () => {
  for (const h of [...open]) await h.close();
});

/** Uniform values in [-scale, scale): fresh every run (house style 20: never zeros). */
export function randomF32(n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (Math.random() * 2 - 1) * scale;
  return a;
}

/** bf16 bit patterns of fresh random values (round to nearest even). */
export function randomBf16(n: number, scale = 1): Uint16Array {
  const f = randomF32(n, scale);
  const u = new Uint32Array(f.buffer);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16;
  return out;
}

export function bytesOf(a: Float32Array | Uint16Array | Buffer): Buffer {
  return Buffer.isBuffer(a) ? a : Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * A digest of everything the model holds: weights, raw optimizer state, per-parameter steps and the model step.
 * Equal fingerprints before and after a failed call prove that the call changed nothing.
 */
export async function fingerprint(client: QstepClient, model: string): Promise<string> {
  return snapshotDigest(await client.snapshot(model, { weights: true, state: 'raw' }));
}

/** What fingerprint() hashes, of a snapshot already taken (weights and raw state). */
export function snapshotDigest(snap: Snapshot): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ step: snap.header.modelStep, params: snap.header.params.map((p) => [p.name, p.step]) }));
  for (const [name, t] of snap.tensors) {
    h.update(name);
    h.update(t.data);
  }
  return h.digest('hex');
}

export interface RawOutcome {
  code: grpc.status;
  details: string;
  responses: StepResponse__Output[];
}

/** Sends `messages` on a raw Step stream, half-closes, and reports the final status and what came back. */
export function rawStep(
  client: QstepClient,
  messages: StepRequest[],
  opts: { end?: boolean } = {},
): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const call = client.grpc.Step();
    const responses: StepResponse__Output[] = [];
    call.on('data', (m: StepResponse__Output) => responses.push(m));
    call.on('error', () => undefined);
    call.on('status', (s: grpc.StatusObject) => {
      // 'status' can precede the last 'data' events; let them drain first.
      setImmediate(() => resolve({ code: s.code, details: s.details, responses }));
    });
    for (const m of messages) call.write(m);
    if (opts.end !== false) call.end();
  });
}

/** Polls `cond` until it holds or `ms` pass. */
export async function eventually(cond: () => Promise<boolean> | boolean, ms = 5000, what = 'condition'): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The service names a server's reflection (v1) lists. */
export async function reflectionServices(address: string, metadata: Record<string, string> = {}): Promise<string[]> {
  const dir = join(require.resolve('@grpc/reflection'), '..', '..', 'proto');
  const def = protoLoader.loadSync('grpc/reflection/v1/reflection.proto', {
    includeDirs: [dir],
    keepCase: true,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    grpc: {
      reflection: {
        v1: {
          ServerReflection: new (
            a: string,
            c: grpc.ChannelCredentials,
          ) => grpc.Client & {
            ServerReflectionInfo(
              md?: grpc.Metadata,
            ): grpc.ClientDuplexStream<object, { list_services_response?: { service: { name: string }[] } }>;
          };
        };
      };
    };
  };
  const client = new pkg.grpc.reflection.v1.ServerReflection(address, grpc.credentials.createInsecure());
  try {
    return await new Promise<string[]>((resolve, reject) => {
      const md = new grpc.Metadata();
      for (const [k, v] of Object.entries(metadata)) md.set(k, v);
      const call = client.ServerReflectionInfo(md);
      call.on('data', (m) => {
        resolve((m.list_services_response?.service ?? []).map((s: { name: string }) => s.name));
        call.end();
      });
      call.on('error', reject);
      call.write({ list_services: '' });
    });
  } finally {
    client.close();
  }
}
