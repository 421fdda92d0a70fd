// The direct transport (server/direct.ts, client/direct.ts): Step over a plain socket gives bit-identical results to
// Step over gRPC; the client finds it through ServerInfo, reuses its connections and falls back to gRPC when the
// server offers none; cancelling and deadlines change nothing; every malformed frame sequence on the port is
// answered with a clear status, closes its connection and changes nothing (fingerprints); tokens, TLS and mutual
// TLS apply as on the gRPC port.

import { expect } from 'chai';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { QstepError, connect } from '../../client';
import type { QstepClient, StepReply } from '../../client';
import { qstepService } from '../../proto';
import type { StepRequest } from '../../proto';
import {
  DIRECT_MAGIC,
  FrameReader,
  FrameType,
  controlBody,
  controlFrame,
  frameHeader,
} from '../../proto/direct-frames';
import { formatTokenLine, hashToken, newToken } from '../../server/security/tokens';
import { makeTestPki } from './certs';
import { bytesOf, eventually, fingerprint, randomBf16, randomF32, sleep, startHarness } from './helpers';
import type { Harness } from './helpers';

const N = 300_000; // over one 1 MiB chunk, so a step spans several messages
// A whole gradient in one message that spans several socket reads: the server gathers it into memory it reuses for
// later messages, so the stage must copy it rather than keep the view (server/domain/lent-memory.ts).
const C = 100_000;
/**
 * One stream per step and upload whatever QSTEP_LANES says (CI runs the suite with 4): these tests count streams
 * and connections. Lanes over the direct transport are covered by lanes.test.ts and upload-lanes.test.ts.
 */
const ONE = { lanes: 1, uploadLanes: 1 } as const;

/** Counts the gRPC Step streams clients open while `fn` runs (0 when every step went direct). */
async function grpcStepStreams<T>(fn: () => Promise<T>): Promise<{ value: T; streams: number }> {
  const original = grpc.Client.prototype.makeBidiStreamRequest;
  let streams = 0;
  grpc.Client.prototype.makeBidiStreamRequest = function (this: grpc.Client, ...args: unknown[]) {
    if (String(args[0]).endsWith('/Step')) streams++;
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof original;
  try {
    return { value: await fn(), streams };
  } finally {
    grpc.Client.prototype.makeBidiStreamRequest = original;
  }
}

async function sgdModel(client: QstepClient, name: string, init: Float32Array): Promise<void> {
  await client.createModel({
    name,
    parameters: [
      { name: 'w', shape: [N], dtype: 'fp32' },
      { name: 'b', shape: [3], dtype: 'fp32' },
      { name: 'c', shape: [C], dtype: 'fp32' },
    ],
    optimizer: { name: 'adam', lr: 1e-2, weightDecay: 0.01 },
  });
  await client.uploadParameters(name, { w: init, b: new Float32Array([1, 2, 3]), c: init.subarray(0, C) });
}

interface RawResult {
  status: { code: number; details: string; keep: boolean } | null;
  messages: number;
  closed: boolean;
}

/**
 * Writes `parts` to the direct port and reads what comes back until the server closes the connection (or `ms`
 * pass): the STATUS frame, how many messages came before it, whether the connection was closed.
 */
function rawDirect(port: number, parts: Buffer[], ms = 5000, linger = 15_000): Promise<RawResult> {
  return new Promise((resolve) => {
    const out: RawResult = { status: null, messages: 0, closed: false };
    const s = net.connect(port, '127.0.0.1');
    const reader = new FrameReader(
      () => 1 << 30,
      (type, payload) => {
        if (type === FrameType.Message) out.messages++;
        else if (type === FrameType.Status) {
          out.status = controlBody(payload) as RawResult['status'];
          // A connection the server keeps stays open: give it `linger` ms to close, then report it open.
          setTimeout(() => {
            s.destroy();
            resolve(out);
          }, linger).unref();
        }
      },
    );
    s.on('data', (c: Buffer) => reader.push(c));
    s.on('error', () => undefined);
    const timer = setTimeout(() => {
      s.destroy();
      resolve(out);
    }, ms);
    s.on('close', () => {
      clearTimeout(timer);
      out.closed = true;
      resolve(out);
    });
    s.on('connect', () => {
      for (const p of parts) s.write(p);
    });
  });
}

const open = (body: object) => controlFrame(FrameType.Open, body);
const message = (m: StepRequest | Buffer) => {
  const b = Buffer.isBuffer(m) ? m : qstepService.Step.requestSerialize(m);
  return Buffer.concat([frameHeader(FrameType.Message, b.length), b]);
};
const halfClose = () => frameHeader(FrameType.HalfClose, 0);

describe('service: direct transport', function () {
  this.timeout(120_000);
  let h: Harness;

  before(async () => {
    h = await startHarness({}, { ...ONE, direct: true });
  });
  after(async () => {
    await h.close();
  });

  it('ServerInfo announces the port; --direct-port -1 offers none and Step goes over gRPC', async () => {
    const info = await h.client.serverInfo();
    expect(info.directPort).to.equal(h.server.directPort);
    expect(info.directPort).to.be.greaterThan(0);
    const off = await startHarness({ directPort: -1 }, ONE);
    try {
      expect((await off.client.serverInfo()).directPort).to.equal(0);
      await sgdModel(off.client, 'm', randomF32(N));
      const { value, streams } = await grpcStepStreams(() =>
        off.client.step('m', { w: randomF32(N, 0.1), b: randomF32(3) }, { returnWeights: true }),
      );
      expect(streams).to.equal(1);
      expect(value.modelStep).to.equal(1);
      expect(off.server.directConnections()).to.equal(0);
    } finally {
      await off.close();
    }
  });

  it('a step on a client closed while it looked for the port fails UNAVAILABLE (a QstepError), as over gRPC', async () => {
    for (const direct of [true, false]) {
      const c = connect(h.server.address, { ...ONE, direct });
      const pending = c.step('nothing-here', { w: randomF32(10) });
      c.close();
      const err = await pending.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, `direct ${direct}`).to.be.instanceOf(QstepError);
      expect((err as QstepError).codeName, `direct ${direct}`).to.be.oneOf(['UNAVAILABLE', 'CANCELLED']);
    }
  });

  it('a direct port that refuses (a restart on another port): the step goes over gRPC and applies once', async () => {
    const a = await startHarness({}, { ...ONE, direct: true });
    const port = a.server.port;
    const client = connect(a.server.address, { ...ONE, direct: true });
    let b: Harness | null = null;
    try {
      await sgdModel(client, 'm', randomF32(N));
      const first = await grpcStepStreams(() => client.step('m', { w: randomF32(N, 0.1), b: randomF32(3) }));
      expect(first.streams).to.equal(0);
      await a.close();
      // The same gRPC port, a new direct port: the client's connection and port are stale.
      b = await startHarness({ port }, { ...ONE, direct: true });
      expect(b.server.directPort).to.not.equal(a.server.directPort);
      await sgdModel(b.client, 'm', randomF32(N));
      const before = await fingerprint(b.client, 'm');
      const second = await grpcStepStreams(() =>
        client.step('m', { w: randomF32(N, 0.1), b: randomF32(3) }, { workerId: 'w', stepId: 1 }),
      );
      expect(second.streams, 'fell back to gRPC').to.equal(1);
      expect(second.value.modelStep).to.equal(1);
      expect(await fingerprint(b.client, 'm')).to.not.equal(before);
    } finally {
      client.close();
      await a.close().catch(() => undefined);
      await b?.close();
    }
  });

  it('steps over the direct transport equal steps over gRPC bit for bit, on one reused connection', async () => {
    const init = randomF32(N);
    const viaGrpc = connect(h.server.address, { ...ONE, direct: false });
    const viaDirect = connect(h.server.address, { ...ONE, direct: true }); // whatever QSTEP_DIRECT says
    try {
      await sgdModel(viaGrpc, 'g', init);
      await sgdModel(viaGrpc, 'd', init);
      for (let s = 1; s <= 4; s++) {
        // c first: the buffer its one message was gathered into is reused for w's messages after it.
        const grads = { c: randomF32(C, 0.1), w: randomF32(N, 0.1), b: randomF32(3, 0.1) };
        const o = { workerId: 'w', stepId: s, hyper: { lr: 1e-2 / s }, returnWeights: true };
        const g = await grpcStepStreams(() => viaGrpc.step('g', grads, o));
        expect(g.streams).to.equal(1);
        const d = await grpcStepStreams(() => viaDirect.step('d', grads, o));
        expect(d.streams, 'gRPC Step streams of the direct client').to.equal(0);
        for (const r of [g.value, d.value]) {
          expect(r.modelStep).to.equal(s);
          expect(r.replayed).to.equal(false);
        }
        expect(d.value.params).to.deep.equal(g.value.params);
        for (const [name, t] of g.value.weights) {
          expect(
            Buffer.compare(bytesOf(d.value.weights.get(name)!.data as Buffer), bytesOf(t.data as Buffer)),
            name,
          ).to.equal(0);
        }
      }
      expect(await fingerprint(viaGrpc, 'd')).to.equal(await fingerprint(viaGrpc, 'g'));
      // Four sequential steps, one connection (the harness client has not stepped).
      expect(h.server.directConnections()).to.equal(1);
      // A retry of an applied step replays over the direct transport as over gRPC.
      const again = await viaDirect.step(
        'd',
        { w: randomF32(N, 0.1), b: randomF32(3) },
        { workerId: 'w', stepId: 4, returnWeights: true },
      );
      expect(again.replayed).to.equal(true);
      expect(again.modelStep).to.equal(4);
    } finally {
      viaGrpc.close();
      viaDirect.close();
    }
  });

  it('UploadParameters goes direct too: exact values (one call and 3 lanes); a refused upload changes nothing', async () => {
    expect((await h.client.serverInfo()).directMethods).to.deep.equal(['Step', 'UploadParameters']);
    const clients = [
      connect(h.server.address, { ...ONE, direct: true }),
      connect(h.server.address, { ...ONE, direct: true, uploadLanes: 3, laneMinBytes: 0 }),
    ];
    const grpcUploads = async <T>(fn: () => Promise<T>) => {
      const original = grpc.Client.prototype.makeClientStreamRequest;
      let calls = 0;
      grpc.Client.prototype.makeClientStreamRequest = function (this: grpc.Client, ...args: unknown[]) {
        calls++;
        return (original as (...a: unknown[]) => unknown).apply(this, args);
      } as typeof original;
      try {
        await fn();
        return calls;
      } finally {
        grpc.Client.prototype.makeClientStreamRequest = original;
      }
    };
    try {
      for (const [i, c] of clients.entries()) {
        const name = `up${i}`;
        await c.createModel({
          name,
          parameters: [
            { name: 'w', shape: [N], dtype: 'fp32' },
            { name: 'h', shape: [5000], dtype: 'bf16' },
          ],
          optimizer: { name: 'sgd', lr: 0.1 },
        });
        const w = randomF32(N);
        const hv = randomBf16(5000);
        expect(await grpcUploads(() => c.uploadParameters(name, { w, h: hv })), 'gRPC upload calls').to.equal(0);
        const snap = await c.snapshot(name, { weights: true });
        expect(Buffer.compare(bytesOf(snap.tensors.get('w')!.data as Buffer), bytesOf(w))).to.equal(0);
        expect(Buffer.compare(bytesOf(snap.tensors.get('h')!.data as Buffer), bytesOf(hv))).to.equal(0);
        expect((await c.describe(name)).models[0].ready).to.equal(true);
        // Values again for a model that has all its values: refused, and the model is as it was.
        const before = await fingerprint(c, name);
        const bad = await c.uploadParameters(name, { w: randomF32(N) }).then(
          () => 'OK',
          (e: { codeName: string }) => e.codeName,
        );
        expect(bad).to.equal('FAILED_PRECONDITION');
        expect(await fingerprint(c, name)).to.equal(before);
      }
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('a step cancelled mid-stream or past its deadline changes nothing; the same step id then applies once', async () => {
    const big = 8 * 1024 * 1024; // 32 MiB of gradient in 16 KiB messages: the call is still sending when cancelled
    const small = connect(h.server.address, { ...ONE, maxChunkBytes: 16 * 1024, direct: true });
    try {
      await h.client.createModel({
        name: 'c',
        parameters: [{ name: 'w', shape: [big], dtype: 'fp32' }],
        optimizer: { name: 'sgd', lr: 0.1 },
      });
      await h.client.uploadParameters('c', { w: randomF32(big) });
      const start = await fingerprint(h.client, 'c');
      const grad = randomF32(big, 0.1);
      const ac = new AbortController();
      const poll = setInterval(() => {
        if (h.server.deps.budget.inUse > 0) ac.abort(); // the server holds staging: gradients are arriving
      }, 1);
      const cancelled = await small
        .step('c', { w: grad }, { workerId: 'x', stepId: 7, signal: ac.signal })
        .then(
          () => 'OK',
          (e: { codeName: string }) => e.codeName,
        )
        .finally(() => clearInterval(poll));
      expect(cancelled).to.equal('CANCELLED');
      await eventually(() => h.server.deps.budget.inUse === 0, 5000, 'the staging to come back');
      expect(await fingerprint(h.client, 'c')).to.equal(start);
      const late = await small.step('c', { w: grad }, { workerId: 'x', stepId: 7, deadlineMs: 5 }).then(
        () => 'OK',
        (e: { codeName: string }) => e.codeName,
      );
      expect(late).to.equal('DEADLINE_EXCEEDED');
      await eventually(() => h.server.deps.budget.inUse === 0, 5000, 'the staging to come back');
      expect(await fingerprint(h.client, 'c')).to.equal(start);
      const r = await small.step('c', { w: grad }, { workerId: 'x', stepId: 7 });
      expect(r.modelStep).to.equal(1);
      expect(r.replayed).to.equal(false);
    } finally {
      small.close();
      await h.client.deleteModel('c');
    }
  });

  it('malformed frames get a clear status, close their connection and change nothing', async () => {
    await sgdModel(h.client, 'bad', randomF32(N));
    const before = await fingerprint(h.client, 'bad');
    const port = h.server.directPort;
    const step = { method: 'Step', metadata: {} };
    const header: StepRequest = { header: { model: 'bad', workerId: 'w', stepId: '1', gradients: [{ param: 'w' }] } };
    const grad = (from: number, count: number): StepRequest => ({
      gradient: { param: 'w', offset: from, dtype: 'DTYPE_FP32', data: bytesOf(randomF32(count, 0.1)) },
    });
    const huge = Buffer.alloc(5);
    huge[0] = FrameType.Message;
    huge.writeUInt32BE(h.server.config.maxMessageBytes + 1, 1);
    const cases: [string, Buffer[], string, string][] = [
      ['wrong magic', [Buffer.from('GET / HTTP/1.1\r\n\r\n')], 'INVALID_ARGUMENT', 'wrong magic'],
      ['a message before OPEN', [DIRECT_MAGIC, message(header)], 'INVALID_ARGUMENT', 'expected OPEN'],
      [
        'OPEN that is not JSON',
        [DIRECT_MAGIC, Buffer.concat([frameHeader(FrameType.Open, 3), Buffer.from('{{{')])],
        'INVALID_ARGUMENT',
        'not JSON',
      ],
      ['OPEN of a JSON array', [DIRECT_MAGIC, open([1, 2])], 'INVALID_ARGUMENT', 'not an object'],
      ['OPEN without a method', [DIRECT_MAGIC, open({ metadata: {} })], 'INVALID_ARGUMENT', 'without a method'],
      ['a method not served', [DIRECT_MAGIC, open({ method: 'Snapshot' })], 'UNIMPLEMENTED', 'Snapshot'],
      ['an inherited name as method', [DIRECT_MAGIC, open({ method: 'toString' })], 'UNIMPLEMENTED', 'toString'],
      [
        'metadata of a number',
        [DIRECT_MAGIC, open({ method: 'Step', metadata: { a: 1 } })],
        'INVALID_ARGUMENT',
        'metadata entry',
      ],
      [
        'metadata with an upper-case key',
        [DIRECT_MAGIC, open({ method: 'Step', metadata: { Authorization: 'x' } })],
        'INVALID_ARGUMENT',
        'metadata entry',
      ],
      [
        'too many metadata entries',
        [
          DIRECT_MAGIC,
          open({ method: 'Step', metadata: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }),
        ],
        'INVALID_ARGUMENT',
        '65 metadata entries',
      ],
      ['a timeout of -1', [DIRECT_MAGIC, open({ ...step, timeoutMs: -1 })], 'INVALID_ARGUMENT', 'timeoutMs'],
      ['a timeout of 1.5', [DIRECT_MAGIC, open({ ...step, timeoutMs: 1.5 })], 'INVALID_ARGUMENT', 'timeoutMs'],
      [
        'an OPEN of 70 KiB',
        [DIRECT_MAGIC, Buffer.concat([frameHeader(FrameType.Open, 70 * 1024), Buffer.alloc(70 * 1024, 32)])],
        'RESOURCE_EXHAUSTED',
        'over the limit',
      ],
      [
        'a message over the size limit',
        [DIRECT_MAGIC, open(step), message(header), huge],
        'RESOURCE_EXHAUSTED',
        'over the limit',
      ],
      [
        'an unknown frame type',
        [DIRECT_MAGIC, open(step), Buffer.from([9, 0, 0, 0, 0])],
        'INVALID_ARGUMENT',
        'unknown frame type 9',
      ],
      [
        'a HALF_CLOSE with a payload',
        [DIRECT_MAGIC, open(step), Buffer.from([FrameType.HalfClose, 0, 0, 0, 1, 0])],
        'RESOURCE_EXHAUSTED',
        'over the limit of 0',
      ],
      [
        'an undecodable message',
        [DIRECT_MAGIC, open(step), message(Buffer.from([0x12, 0xff, 0xff, 0xff, 0xff, 0x0f]))],
        'INVALID_ARGUMENT',
        'could not decode',
      ],
      [
        'a second OPEN during a call',
        [DIRECT_MAGIC, open(step), message(header), open(step)],
        'INVALID_ARGUMENT',
        'during a call',
      ],
      [
        'a STATUS from the client',
        [DIRECT_MAGIC, open(step), controlFrame(FrameType.Status, { code: 0 })],
        'INVALID_ARGUMENT',
        'unknown frame type 4',
      ],
      [
        'a message after HALF_CLOSE',
        [DIRECT_MAGIC, open(step), message(header), halfClose(), message(grad(0, 10))],
        'INVALID_ARGUMENT',
        '',
      ],
    ];
    for (const [what, parts, code, text] of cases) {
      const r = await rawDirect(port, parts);
      expect(r.status, what).to.not.equal(null);
      expect(grpc.status[r.status!.code], `${what}: ${r.status!.details}`).to.equal(code);
      expect(r.status!.details.toLowerCase(), what).to.contain(text.toLowerCase());
      expect(r.status!.details.length, what).to.be.below(2100);
      expect(r.closed, `${what}: connection closed`).to.equal(true);
    }
    // Well-framed calls the Step service refuses: the status is the service's, and a connection that had
    // half-closed is kept for the next call, as an HTTP/2 connection outlives a failed stream.
    const refused: [string, Buffer[], string][] = [
      [
        'a gradient out of range',
        [DIRECT_MAGIC, open(step), message(header), message(grad(N - 5, 10)), message({ commit: {} }), halfClose()],
        'outside',
      ],
      [
        'a commit before every gradient',
        [DIRECT_MAGIC, open(step), message(header), message(grad(0, 10)), message({ commit: {} }), halfClose()],
        '',
      ],
    ];
    for (const [what, parts, text] of refused) {
      const r = await rawDirect(port, parts, 5000, 300);
      expect(r.status, what).to.not.equal(null);
      expect(grpc.status[r.status!.code], `${what}: ${r.status!.details}`).to.equal('INVALID_ARGUMENT');
      expect(r.status!.details.toLowerCase(), what).to.contain(text);
      expect(r.status!.keep, what).to.equal(true);
      expect(r.closed, `${what}: connection kept`).to.equal(false);
    }
    // A connection that stops mid-frame, mid-step, and one that closes without a STATUS read: nothing changes.
    const full = message(grad(0, 200_000));
    const cut = await rawDirect(
      port,
      [DIRECT_MAGIC, open(step), message(header), full.subarray(0, full.length >> 1)],
      300,
    );
    expect(cut.status, JSON.stringify(cut.status)).to.equal(null);
    await eventually(() => h.server.deps.budget.inUse === 0, 5000, 'the staging to come back');
    expect(await fingerprint(h.client, 'bad')).to.equal(before);
    await eventually(() => h.server.directConnections() <= 1, 15_000, 'the refused connections to close');
    // The server still serves: a good step over the same port applies.
    const ok: StepReply = await h.client.step(
      'bad',
      { w: randomF32(N, 0.1), b: randomF32(3) },
      { workerId: 'w', stepId: 1 },
    );
    expect(ok.modelStep).to.equal(1);
  });

  it('a connection that opens no call is closed after --stream-grace-ms; one that half-closed is kept for the next', async () => {
    const g = await startHarness({ streamGraceMs: 300 }, ONE);
    try {
      const silent = await rawDirect(g.server.directPort, [DIRECT_MAGIC], 10_000);
      expect(silent.closed).to.equal(true);
      expect(silent.status).to.equal(null);
      // A full call with HALF_CLOSE before the answer: STATUS says keep, and the connection stays open.
      await sgdModel(g.client, 'k', randomF32(N));
      const s = net.connect(g.server.directPort, '127.0.0.1');
      const statuses: { code: number; keep: boolean }[] = [];
      const reader = new FrameReader(
        () => 1 << 30,
        (t, p) => {
          if (t === FrameType.Status) statuses.push(controlBody(p) as { code: number; keep: boolean });
        },
      );
      s.on('data', (c: Buffer) => reader.push(c));
      await new Promise((r) => s.once('connect', r));
      const header: StepRequest = { header: { model: 'k', workerId: 'w', stepId: '1', gradients: [{ param: 'b' }] } };
      const grad: StepRequest = {
        gradient: { param: 'b', offset: 0, dtype: 'DTYPE_FP32', data: bytesOf(randomF32(3)) },
      };
      const call = [
        open({ method: 'Step', metadata: {} }),
        message(header),
        message(grad),
        message({ commit: {} }),
        halfClose(),
      ];
      s.write(Buffer.concat([DIRECT_MAGIC, ...call]));
      await eventually(() => statuses.length === 1, 5000, 'the first status');
      expect(statuses[0]).to.deep.include({ code: 0, keep: true });
      await sleep(500); // past the grace: an open call is not a silent connection, and an idle one waits --stream-idle-ms
      expect(s.destroyed).to.equal(false);
      const header2: StepRequest = { header: { model: 'k', workerId: 'w', stepId: '2', gradients: [{ param: 'b' }] } };
      s.write(
        Buffer.concat([
          open({ method: 'Step', metadata: {} }),
          message(header2),
          message(grad),
          message({ commit: {} }),
          halfClose(),
        ]),
      );
      await eventually(() => statuses.length === 2, 5000, 'the second status');
      expect(statuses[1]).to.deep.include({ code: 0, keep: true });
      s.destroy();
      expect((await g.client.describe('k')).models[0].modelStep).to.equal(2);
    } finally {
      await g.close();
    }
  });

  it('tokens: a step without one is UNAUTHENTICATED, with a reader token PERMISSION_DENIED; nothing changes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qstep-direct-'));
    const trainer = newToken();
    const reader = newToken();
    const file = join(dir, 'tokens');
    writeFileSync(
      file,
      [
        formatTokenLine({
          name: 't',
          role: 'trainer',
          namespace: '',
          hash: hashToken(trainer),
          maxModels: Infinity,
          maxBytes: Infinity,
        }),
        formatTokenLine({
          name: 'r',
          role: 'reader',
          namespace: '',
          hash: hashToken(reader),
          maxModels: Infinity,
          maxBytes: Infinity,
        }),
      ].join('\n') + '\n',
    );
    const hs = await startHarness({ authTokens: file }, ONE);
    const s = hs.server;
    const t = connect(s.address, { ...ONE, token: trainer, direct: true });
    const r = connect(s.address, { ...ONE, token: reader, direct: true });
    const none = connect(s.address, { ...ONE, metadata: {} });
    try {
      await sgdModel(t, 'm', randomF32(N));
      const before = await fingerprint(t, 'm');
      const grads = () => ({ w: randomF32(N, 0.1), b: randomF32(3) });
      // No token: ServerInfo (how the client finds the port) is refused too, so go to the port by hand.
      const raw = await rawDirect(s.directPort, [
        DIRECT_MAGIC,
        open({ method: 'Step', metadata: {} }),
        message({ header: { model: 'm', workerId: 'w', stepId: '1' } }),
        message({ gradient: { param: 'b', offset: 0, dtype: 'DTYPE_FP32', data: bytesOf(randomF32(3)) } }),
      ]);
      expect(grpc.status[raw.status!.code]).to.equal('UNAUTHENTICATED');
      const wrong = await rawDirect(s.directPort, [
        DIRECT_MAGIC,
        open({ method: 'Step', metadata: { authorization: 'Bearer not-a-token' } }),
        message({ header: { model: 'm', workerId: 'w', stepId: '1' } }),
      ]);
      expect(grpc.status[wrong.status!.code]).to.equal('UNAUTHENTICATED');
      const denied = await grpcStepStreams(() =>
        r.step('m', grads()).then(
          () => 'OK',
          (e: { codeName: string }) => e.codeName,
        ),
      );
      expect(denied.value).to.equal('PERMISSION_DENIED');
      expect(denied.streams, 'the reader went direct').to.equal(0);
      expect(await fingerprint(t, 'm')).to.equal(before);
      const ok = await grpcStepStreams(() => t.step('m', grads()));
      expect(ok.streams).to.equal(0);
      expect(ok.value.modelStep).to.equal(1);
      expect(
        await none.listModels().then(
          () => 'OK',
          (e: { codeName: string }) => e.codeName,
        ),
      ).to.equal('UNAUTHENTICATED');
    } finally {
      for (const c of [t, r, none]) c.close();
      await hs.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('TLS and mutual TLS: the direct port speaks TLS with the same certificates; plaintext is refused', async () => {
    const pki = makeTestPki();
    const harnesses: Harness[] = [];
    const clients: QstepClient[] = [];
    try {
      const ca = pki.read(pki.caA.cert);
      for (const mutual of [false, true]) {
        const tlsFiles = { tlsCert: pki.serverA.cert, tlsKey: pki.serverA.key };
        // The harness's own client speaks plaintext and is not used here.
        const hs = await startHarness(mutual ? { ...tlsFiles, tlsClientCa: pki.caA.cert } : tlsFiles, ONE);
        harnesses.push(hs);
        const s = hs.server;
        const tls = mutual ? { ca, cert: pki.read(pki.clientA.cert), key: pki.read(pki.clientA.key) } : { ca };
        const c = connect(s.address, { ...ONE, tls, direct: true });
        clients.push(c);
        await sgdModel(c, 'm', randomF32(N));
        const before = await fingerprint(c, 'm');
        const { value, streams } = await grpcStepStreams(() =>
          c.step('m', { w: randomF32(N, 0.1), b: randomF32(3) }, { returnWeights: true }),
        );
        expect(streams, `mutual ${mutual}: went direct`).to.equal(0);
        expect(value.modelStep).to.equal(1);
        expect(value.weights.get('w')!.data.length).to.equal(4 * N);
        expect(s.directConnections()).to.equal(1);
        // Plaintext on the TLS port: no status (the bytes are not a TLS handshake), the connection is closed.
        const plain = await rawDirect(s.directPort, [DIRECT_MAGIC, open({ method: 'Step', metadata: {} })]);
        expect(plain.status).to.equal(null);
        expect(plain.closed).to.equal(true);
        if (mutual) {
          // A client certificate from another CA cannot connect: the step falls back to gRPC, which refuses too.
          const other = connect(s.address, {
            tls: { ca, cert: pki.read(pki.clientB.cert), key: pki.read(pki.clientB.key) },
          });
          clients.push(other);
          const code = await other.step('m', { w: randomF32(N, 0.1), b: randomF32(3) }).then(
            () => 'OK',
            (e: { codeName: string }) => e.codeName,
          );
          expect(code).to.equal('UNAVAILABLE');
        }
        const after = await fingerprint(c, 'm');
        expect(after).to.not.equal(before); // the one good step applied, and only it
        expect((await c.describe('m')).models[0].modelStep).to.equal(1);
      }
    } finally {
      for (const c of clients) c.close();
      for (const hs of harnesses) await hs.close();
      pki.remove();
    }
  });
});
