// Where the wire stands: one server process and one client process on loopback, moving the same bytes several ways
// in one run, round by round interleaved: raw Node TCP; a raw grpc-js bidi stream with grpc-js defaults and with
// the new windows; Step with today's settings (gRPC only: HTTP/2 windows of 64 KiB on both ends, one connection, no
// direct transport); Step with the new defaults (the direct transport, docs/service.md "Direct transport", over
// DEFAULT_LANES connections; windows of DEFAULT_WINDOW_BYTES for what stays on gRPC). Each moves all gradient bytes
// in, then all weight bytes back; MiB/s counts both. A model of 16M fp32 parameters in 8 tensors (Adam, fp32 state),
// then a larger one in 8-bit blockwise Adam (256M parameters by default; --large-params 0 leaves it out).
//
//   npm run bench:service [-- --steps 8 --params 16777216 --tensors 8 --chunk 1048576 --lanes K --window BYTES
//                             --upload-lanes 2,4 --upload-rounds 5
//                             --large-params 268435456 --large-tensors 16 --large-steps 3]
//
// --upload-lanes: the K values UploadParameters is timed with besides one call (bench/service-upload.ts); 0 skips.
//
// QSTEP_DIRECT=0 runs the new defaults' Step over gRPC with the new windows instead (the labels say so).
//
// Writes bench/results/service.json: raw_tcp_mib_s, raw_grpc_default_mib_s, step_default_mib_s (today's settings),
// step_mib_s (the new defaults: the direct transport), lanes, window_bytes, speedup_vs_default, ratio_to_tcp for the
// 16M model, the same under "large", and the fields it had before (raw_mib_s = the raw grpc-js stream, ratio = Step /
// raw grpc-js, step_into_mib_s and ratio_into for the copy into the worker's Float32Arrays); "upload" for
// UploadParameters over K lanes; CPU ms per round of both processes (cpu_ms_median, *_cpu_ms_per_gib).

import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { DEFAULT_LANES } from '../client/lanes';
import { cpuNow, median } from './measure';
import { uploadBench } from './service-upload';
import { DEFAULT_WINDOW_BYTES, HTTP2_DEFAULT_WINDOW_BYTES } from '../proto/transport';

const MIB = 1024 * 1024;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const identity = (b: Buffer) => b;
const RAW_SERVICE: grpc.ServiceDefinition = {
  Echo: {
    path: '/bench.Raw/Echo',
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

/** A raw TCP echo on one socket per client: an 8-byte length, that many bytes in, as many bytes back. */
function rawTcpServer(reply: Buffer): Promise<number> {
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    let expected = -1;
    let got = 0;
    let head = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      if (expected < 0) {
        head = Buffer.concat([head, d]);
        if (head.length < 8) return;
        expected = Number(head.readBigUInt64LE(0));
        got = head.length - 8;
      } else {
        got += d.length;
      }
      if (got < expected) return;
      const total = expected;
      expected = -1;
      head = Buffer.alloc(0);
      void (async () => {
        for (let sent = 0; sent < total; sent += reply.length) {
          const n = Math.min(reply.length, total - sent);
          if (!sock.write(n === reply.length ? reply : reply.subarray(0, n)))
            await new Promise((r) => sock.once('drain', r));
        }
      })();
    });
    sock.on('error', () => sock.destroy());
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );
}

/**
 * Server role: two qstep servers (today's settings: HTTP/2 windows of 64 KiB, no direct transport; the new defaults:
 * default windows and the direct transport), the raw grpc-js stream servers (grpc-js defaults, new windows) and the
 * raw TCP echo in this process; prints their addresses.
 */
async function serve(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the server role only
  const { startServer } = require('../server/main') as typeof import('../server/main');
  const common = {
    host: '127.0.0.1',
    port: 0,
    metricsPort: -1,
    logLevel: process.env.QSTEP_BENCH_LOG ?? 'warn',
    stagingBudgetBytes: 8192 * MIB,
  };
  const window = arg('window', DEFAULT_WINDOW_BYTES);
  const qstep = await startServer({ ...common, windowBytes: window });
  // Today's settings: 64 KiB windows and Step over gRPC only (no direct transport).
  const today = await startServer({ ...common, windowBytes: HTTP2_DEFAULT_WINDOW_BYTES, directPort: -1 });
  const raw = new grpc.Server({ 'grpc.max_receive_message_length': qstep.config.maxMessageBytes });
  // The same raw stream with the new windows (the grpc-js server honours them through patches/).
  const rawTuned = new grpc.Server({
    'grpc.max_receive_message_length': qstep.config.maxMessageBytes,
    'grpc-node.flow_control_window': window,
  });
  const reply = Buffer.alloc(arg('chunk', MIB));
  for (let i = 0; i < reply.length; i += 4) reply.writeFloatLE(Math.random() - 0.5, i);
  const echo = {
    Echo: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      const expected = Number(call.metadata.get('x-bytes')[0]);
      const chunk = Number(call.metadata.get('x-chunk')[0]);
      let got = 0;
      call.on('data', (b: Buffer) => {
        got += b.length;
        if (got < expected) return;
        // Everything arrived: send as many bytes back, in the same chunks, honouring back-pressure.
        void (async () => {
          for (let sent = 0; sent < expected; sent += chunk) {
            const n = Math.min(chunk, expected - sent);
            if (!call.write(n === reply.length ? reply : reply.subarray(0, n))) {
              await new Promise((r) => call.once('drain', r));
            }
          }
          call.end();
        })();
      });
    },
  };
  raw.addService(RAW_SERVICE, echo);
  rawTuned.addService(RAW_SERVICE, echo);
  const bind = (s: grpc.Server) =>
    new Promise<number>((resolve, reject) =>
      s.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
  const rawPort = await bind(raw);
  const rawTunedPort = await bind(rawTuned);
  const tcpPort = await rawTcpServer(reply);
  process.stdout.write(
    `${JSON.stringify({
      qstep: qstep.address,
      today: today.address,
      raw: `127.0.0.1:${rawPort}`,
      rawTuned: `127.0.0.1:${rawTunedPort}`,
      tcp: tcpPort,
      window,
    })}\n`,
  );
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

function randomTensor(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (Math.random() - 0.5) * 0.01;
  return a;
}

async function rawRound(
  client: grpc.Client,
  tensors: Float32Array[],
  chunk: number,
): Promise<{ out: number; back: number }> {
  const bytes = tensors.reduce((n, t) => n + t.byteLength, 0);
  const md = new grpc.Metadata();
  md.set('x-bytes', String(bytes));
  md.set('x-chunk', String(chunk));
  const call = client.makeBidiStreamRequest<Buffer, Buffer>('/bench.Raw/Echo', identity, identity, md);
  let back = 0;
  const done = new Promise<void>((resolve, reject) => {
    call.on('data', (b: Buffer) => {
      back += b.length;
    });
    call.on('end', resolve);
    call.on('error', reject);
  });
  for (const t of tensors) {
    const buf = Buffer.from(t.buffer, t.byteOffset, t.byteLength);
    for (let at = 0; at < buf.length; at += chunk) {
      if (!call.write(buf.subarray(at, Math.min(buf.length, at + chunk))))
        await new Promise((r) => call.once('drain', r));
    }
  }
  call.end();
  await done;
  return { out: bytes, back };
}

interface Addresses {
  qstep: string;
  today: string;
  raw: string;
  rawTuned: string;
  tcp: number;
  window: number;
  /** The server process (its CPU time is read from /proc). */
  serverPid?: number;
}

/** Where the raw TCP socket's reads go (it reads into one buffer of its own, as the direct transport's client does). */
const tcpReads: { sink: ((n: number) => void) | null } = { sink: null };

/** One round over the raw TCP echo: the same bytes in (1 MiB writes), as many back; resolves with bytes back. */
function tcpRound(sock: net.Socket, tensors: Float32Array[], chunk: number): Promise<number> {
  const bytes = tensors.reduce((n, t) => n + t.byteLength, 0);
  return new Promise<number>((resolve, reject) => {
    let back = 0;
    tcpReads.sink = (n: number) => {
      back += n;
      if (back >= bytes) {
        tcpReads.sink = null;
        sock.off('error', reject);
        resolve(back);
      }
    };
    sock.once('error', reject);
    void (async () => {
      const head = Buffer.alloc(8);
      head.writeBigUInt64LE(BigInt(bytes));
      sock.write(head);
      for (const t of tensors) {
        const buf = Buffer.from(t.buffer, t.byteOffset, t.byteLength);
        for (let at = 0; at < buf.length; at += chunk) {
          if (!sock.write(buf.subarray(at, Math.min(buf.length, at + chunk))))
            await new Promise((r) => sock.once('drain', r));
        }
      }
    })();
  });
}

type Path = 'tcp' | 'raw' | 'rawTuned' | 'today' | 'step' | 'into';

interface ModelRun {
  params: number;
  tensors: number;
  optimizer: string;
  times: Partial<Record<Path, number[]>>;
  /** CPU ms per round, client and server processes together. */
  cpu: Partial<Record<Path, number[]>>;
}

/**
 * Steps one model on both qstep servers, interleaved round by round with the raw paths so that load on the machine
 * hits them alike:
 *   tcp    raw Node TCP (one socket; the same bytes in, then as many back);
 *   raw    a raw grpc-js bidi stream with grpc-js defaults (bytes in, then bytes back);
 *   rawTuned  the same with the new windows on both ends;
 *   today  Step with today's settings: gRPC with HTTP/2 windows of 64 KiB on both ends, one connection;
 *   step   Step with the new defaults (the direct transport, lanes), weights handed to onWeights chunk by chunk;
 *   into   the same, weights copied into the worker's Float32Arrays (one more memcpy on the client).
 */
async function runModel(
  a: Addresses,
  o: {
    params: number;
    tensors: number;
    bits: 8 | 32;
    steps: number;
    warmup: number;
    chunk: number;
    lanes: number;
    into: boolean;
    tag: string;
  },
): Promise<ModelRun> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded in the role that needs it
  const { connect } = require('../client') as typeof import('../client');
  const per = Math.floor(o.params / o.tensors);
  const params = per * o.tensors;
  const names = Array.from({ length: o.tensors }, (_, i) => `layers.${i}.weight`);
  const step = connect(a.qstep, { maxChunkBytes: o.chunk, lanes: o.lanes, windowBytes: a.window });
  const today = connect(a.today, {
    maxChunkBytes: o.chunk,
    lanes: 1,
    windowBytes: HTTP2_DEFAULT_WINDOW_BYTES,
    direct: false,
  });
  const raw = new grpc.Client(a.raw, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
  const rawTuned = new grpc.Client(a.rawTuned, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': -1,
    'grpc-node.flow_control_window': a.window,
  });
  // Plain Node TCP at its best: reads into one buffer (onread) rather than new memory per read.
  const sock = net.connect({
    port: a.tcp,
    host: '127.0.0.1',
    onread: {
      buffer: Buffer.allocUnsafeSlow(256 * 1024),
      callback: (n: number) => {
        tcpReads.sink?.(n);
        return true;
      },
    },
  });
  sock.setNoDelay(true);
  await new Promise((r) => sock.once('connect', r));
  const model = `bench-${o.tag}`;
  const optimizer =
    o.bits === 8 ? { name: 'adam' as const, lr: 1e-3, optimBits: 8 as const } : { name: 'adam' as const, lr: 1e-3 };
  try {
    const init = new Map(names.map((n) => [n, randomTensor(per)]));
    for (const c of [step, today]) {
      await c.createModel({
        name: model,
        parameters: names.map((name) => ({ name, shape: [per], dtype: 'fp32' as const })),
        optimizer,
      });
      await c.uploadParameters(model, init);
    }
    init.clear();
    // Two sets of fresh random gradients, alternated (never zeros; generating the values every step would time
    // the client's Math.random instead of the service). One set for models over 64M parameters (memory).
    const gradSets = (params > 64 * MIB ? [0] : [0, 1]).map(() => names.map(() => randomTensor(per)));
    const weights = new Map(o.into ? names.map((n) => [n, new Float32Array(per)]) : []);
    const times: ModelRun['times'] = {
      tcp: [],
      raw: [],
      rawTuned: [],
      today: [],
      step: [],
      ...(o.into ? { into: [] } : {}),
    };
    let stepId = 0;
    const stepOnce = async (c: typeof step, grads: Float32Array[], into: boolean): Promise<number> => {
      let back = 0;
      const t0 = performance.now();
      const reply = await c.step(model, new Map(names.map((n, k) => [n, grads[k]])), {
        returnWeights: true,
        stepId: ++stepId,
        workerId: 'bench',
        ...(into
          ? { weightsInto: weights }
          : {
              onWeights: (_p: string, _d: string, _o: number, data: Buffer) => {
                back += data.length;
              },
            }),
      });
      const ms = performance.now() - t0;
      if (into) back = [...reply.weights.values()].reduce((n, w) => n + w.data.length, 0);
      if (back !== params * 4) throw new Error(`short weights: ${back}`);
      return ms;
    };
    const cpu: ModelRun['cpu'] = {};
    const round: Partial<Record<Path, number>> = {};
    const roundCpu: Partial<Record<Path, number>> = {};
    // Runs one path's round; records its wall time and the CPU time both processes spent on it.
    const measure = async (k: Path, f: () => Promise<unknown>): Promise<void> => {
      const c0 = cpuNow(a.serverPid);
      const t0 = performance.now();
      const ms = await f();
      round[k] = typeof ms === 'number' ? ms : performance.now() - t0;
      const c1 = cpuNow(a.serverPid);
      roundCpu[k] = c1.client - c0.client + (c1.server - c0.server);
    };
    for (let i = 0; i < o.warmup + o.steps; i++) {
      const grads = gradSets[i % gradSets.length];
      for (const k of Object.keys(round)) delete round[k as Path];
      await measure('tcp', async () => {
        if ((await tcpRound(sock, grads, o.chunk)) !== params * 4) throw new Error('short raw TCP transfer');
      });
      await measure('raw', async () => {
        if ((await rawRound(raw, grads, o.chunk)).back !== params * 4) throw new Error('short raw transfer');
      });
      await measure('rawTuned', async () => {
        if ((await rawRound(rawTuned, grads, o.chunk)).back !== params * 4) throw new Error('short raw transfer');
      });
      await measure('today', () => stepOnce(today, grads, false));
      await measure('step', () => stepOnce(step, grads, false));
      if (o.into) await measure('into', () => stepOnce(step, grads, true));
      if (i >= o.warmup) {
        for (const [k, v] of Object.entries(round)) times[k as Path]?.push(v);
        for (const [k, v] of Object.entries(roundCpu)) (cpu[k as Path] ??= []).push(v);
      }
      process.stderr.write(
        `${o.tag} round ${i + 1}/${o.warmup + o.steps}: ${Object.entries(round)
          .map(([k, v]) => `${k} ${v.toFixed(0)} ms (cpu ${roundCpu[k as Path]?.toFixed(0)})`)
          .join(', ')}\n`,
      );
    }
    for (const c of [step, today]) await c.deleteModel(model);
    return {
      params,
      tensors: o.tensors,
      optimizer: o.bits === 8 ? 'adam 8-bit blockwise' : 'adam fp32 state',
      times,
      cpu,
    };
  } finally {
    step.close();
    today.close();
    raw.close();
    rawTuned.close();
    sock.destroy();
  }
}

/** The table and the JSON fields of one model's run (MiB/s of gradient bytes in plus weight bytes out). */
function report(run: ModelRun, a: Addresses, lanes: number, chunk: number): Record<string, unknown> {
  const bytes = run.params * 4 * 2;
  const med = (k: Path) => median(run.times[k] ?? []);
  const mibs = (k: Path) => bytes / MIB / (med(k) / 1000);
  // The new defaults' Step goes over the direct transport unless QSTEP_DIRECT=0 sends it over gRPC.
  const transport = process.env.QSTEP_DIRECT === '0' ? `gRPC, ${a.window / MIB} MiB windows` : 'direct transport';
  const labels: [Path, string][] = [
    ['tcp', 'raw Node TCP, same bytes'],
    ['raw', 'raw grpc-js bidi stream, grpc-js defaults'],
    ['rawTuned', `raw grpc-js bidi stream, ${a.window / MIB} MiB windows`],
    ['today', "Step, today's settings (gRPC, 64 KiB windows, 1 connection)"],
    ['step', `Step, new defaults (${transport}, ${lanes} lane${lanes > 1 ? 's' : ''})`],
    ['into', `Step, new defaults (${transport}), weights copied (weightsInto)`],
  ];
  const cpuMed = (k: Path) => median(run.cpu[k] ?? []);
  const rows = [['path', 'median ms', 'min ms', 'MiB/s total', 'vs TCP', "vs today's Step", 'CPU ms', 'CPU ms/GiB']];
  for (const [k, label] of labels) {
    if (!run.times[k]?.length) continue;
    rows.push([
      label,
      med(k).toFixed(1),
      Math.min(...(run.times[k] ?? [])).toFixed(1),
      mibs(k).toFixed(1),
      (mibs(k) / mibs('tcp')).toFixed(3),
      (mibs(k) / mibs('today')).toFixed(2),
      cpuMed(k).toFixed(0),
      ((cpuMed(k) * 1024 * MIB) / bytes).toFixed(0),
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  process.stdout.write(
    `\n${run.params} fp32 parameters in ${run.tensors} tensors (${run.optimizer}), ${chunk} B chunks, ` +
      `${run.times.step?.length} timed rounds\n\n`,
  );
  for (const r of rows)
    process.stdout.write(`${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')}\n`);
  const f = (x: number, d = 2) => Number(x.toFixed(d));
  process.stdout.write(
    `\nStep new defaults (${transport}) / today's Step (gRPC, 64 KiB windows): ${(mibs('step') / mibs('today')).toFixed(2)}x; ` +
      `/ raw TCP: ${(mibs('step') / mibs('tcp')).toFixed(3)} (goal 0.5); / raw grpc-js: ${(mibs('step') / mibs('raw')).toFixed(3)}\n`,
  );
  return {
    params: run.params,
    tensors: run.tensors,
    optimizer: run.optimizer,
    raw_tcp_mib_s: f(mibs('tcp')),
    raw_grpc_default_mib_s: f(mibs('raw')),
    raw_grpc_window_mib_s: f(mibs('rawTuned')),
    step_default_mib_s: f(mibs('today')),
    step_mib_s: f(mibs('step')),
    lanes,
    window_bytes: a.window,
    speedup_vs_default: f(mibs('step') / mibs('today'), 3),
    ratio_to_tcp: f(mibs('step') / mibs('tcp'), 4),
    // Fields kept from before: raw_mib_s is the raw grpc-js stream, ratio = Step / raw grpc-js.
    raw_mib_s: f(mibs('raw')),
    ratio: f(mibs('step') / mibs('raw'), 4),
    ...(run.times.into?.length
      ? { step_into_mib_s: f(mibs('into')), ratio_into: f(mibs('into') / mibs('raw'), 4) }
      : {}),
    chunk_bytes: chunk,
    rounds: run.times.step?.length,
    // CPU ms per round of both processes together (median), and per GiB moved: what each path costs, apart from
    // how busy the machine was.
    cpu_ms_median: Object.fromEntries(Object.entries(run.cpu).map(([k, v]) => [k, f(median(v), 0)])),
    step_cpu_ms_per_gib: f((cpuMed('step') * 1024 * MIB) / bytes, 0),
    step_default_cpu_ms_per_gib: f((cpuMed('today') * 1024 * MIB) / bytes, 0),
    ms_median: Object.fromEntries(Object.entries(run.times).map(([k, v]) => [k, f(median(v), 1)])),
    ms: Object.fromEntries(Object.entries(run.times).map(([k, v]) => [k, v.map((t) => f(t, 1))])),
  };
}

async function main(): Promise<void> {
  const chunk = arg('chunk', MIB);
  const lanes = arg('lanes', DEFAULT_LANES);
  // QSTEP_BENCH_NODE_ARGS: extra node flags for the server process (e.g. --cpu-prof).
  const nodeArgs = (process.env.QSTEP_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(
    process.execPath,
    [
      ...nodeArgs,
      '--import',
      'tsx',
      __filename,
      '--role',
      'server',
      '--chunk',
      String(chunk),
      '--window',
      String(arg('window', DEFAULT_WINDOW_BYTES)),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const addresses = await new Promise<Addresses>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n');
      out = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('{"qstep"')) resolve(JSON.parse(line));
        else process.stderr.write(`${line}\n`); // server logs (QSTEP_BENCH_LOG=info shows per-step phases)
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  addresses.serverPid = child.pid;
  try {
    const small = await runModel(addresses, {
      params: arg('params', 16 * MIB),
      tensors: arg('tensors', 8),
      bits: 32,
      steps: arg('steps', 8),
      warmup: arg('warmup', 2),
      chunk,
      lanes,
      into: true,
      tag: 'small',
    });
    const result: Record<string, unknown> = report(small, addresses, lanes, chunk);
    const uploadLanes = String(process.argv[process.argv.indexOf('--upload-lanes') + 1] ?? '');
    if (!process.argv.includes('--upload-lanes') || uploadLanes !== '0') {
      result.upload = await uploadBench(addresses, {
        params: arg('params', 16 * MIB),
        tensors: arg('tensors', 8),
        rounds: arg('upload-rounds', 5),
        chunk,
        lanes: process.argv.includes('--upload-lanes') ? uploadLanes.split(',').map(Number) : [2, 4],
      });
    }
    const largeParams = arg('large-params', 256 * MIB);
    if (largeParams > 0) {
      const large = await runModel(addresses, {
        params: largeParams,
        tensors: arg('large-tensors', 16),
        bits: 8,
        steps: arg('large-steps', 3),
        warmup: 1,
        chunk,
        lanes,
        into: false,
        tag: 'large',
      });
      result.large = report(large, addresses, lanes, chunk);
    }
    result.node = process.version;
    // The machine's load while the rounds ran (1, 5, 15 min averages) and its core count: throughput figures from a
    // machine busy with other work say more about the scheduler than about the wire.
    result.loadavg = loadavg().map((x) => Number(x.toFixed(2)));
    result.cpus = cpus().length;
    const dir = join(__dirname, 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'service.json'), `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`wrote ${join(dir, 'service.json')}\n`);
  } finally {
    child.stdin.end();
  }
}

const role = process.argv.includes('--role') ? process.argv[process.argv.indexOf('--role') + 1] : 'client';
(role === 'server' ? serve() : main()).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
