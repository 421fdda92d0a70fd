// Service throughput: one server process and one client process on loopback. A model of 16M fp32 parameters in 8
// tensors (Adam, fp32 state) is stepped with the updated weights returned; beside it, in the same run and the
// same server process, a raw grpc-js bidirectional stream moves the same bytes with the same chunking and the
// same sequencing (all gradient bytes in, then all weight bytes back; identity serializers, no protobuf, no
// engine). The ratio of the two (MiB/s of gradient bytes in plus weight bytes out) is the service's overhead.
//
//   npm run bench:service [-- --steps 8 --params 16777216 --tensors 8 --chunk 1048576]
//
// Writes bench/results/service.json: {"params": N, "step_mib_s": a, "raw_mib_s": b, "ratio": a/b, ...}, where a is
// Step with the weights handed to the client chunk by chunk (like the raw stream, which keeps what it received);
// the same with a copy into the worker's Float32Arrays is reported beside it (step_into_mib_s, ratio_into).

import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';

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

/** Server role: the qstep server and the raw stream server in this process; prints both addresses. */
async function serve(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the server role only
  const { startServer } = require('../server/main') as typeof import('../server/main');
  const qstep = await startServer({
    host: '127.0.0.1', port: 0, metricsPort: -1, logLevel: process.env.QSTEP_BENCH_LOG ?? 'warn', stagingBudgetBytes: 4096 * MIB,
  });
  const raw = new grpc.Server({ 'grpc.max_receive_message_length': qstep.config.maxMessageBytes });
  const reply = Buffer.alloc(arg('chunk', MIB));
  for (let i = 0; i < reply.length; i += 4) reply.writeFloatLE(Math.random() - 0.5, i);
  raw.addService(RAW_SERVICE, {
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
  });
  const rawPort = await new Promise<number>((resolve, reject) =>
    raw.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  process.stdout.write(`${JSON.stringify({ qstep: qstep.address, raw: `127.0.0.1:${rawPort}` })}\n`);
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

function randomTensor(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (Math.random() - 0.5) * 0.01;
  return a;
}

async function rawRound(client: grpc.Client, tensors: Float32Array[], chunk: number): Promise<{ out: number; back: number }> {
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
      if (!call.write(buf.subarray(at, Math.min(buf.length, at + chunk)))) await new Promise((r) => call.once('drain', r));
    }
  }
  call.end();
  await done;
  return { out: bytes, back };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const params = arg('params', 16 * MIB);
  const nTensors = arg('tensors', 8);
  const steps = arg('steps', 8);
  const warmup = arg('warmup', 2);
  const chunk = arg('chunk', MIB);
  const per = Math.floor(params / nTensors);

  // QSTEP_BENCH_NODE_ARGS: extra node flags for the server process (e.g. --cpu-prof).
  const nodeArgs = (process.env.QSTEP_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', __filename, '--role', 'server', '--chunk', String(chunk)],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  const addresses = await new Promise<{ qstep: string; raw: string }>((resolve, reject) => {
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

  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the client role only
  const { connect } = require('../client') as typeof import('../client');
  const client = connect(addresses.qstep, { maxChunkBytes: chunk });
  const raw = new grpc.Client(addresses.raw, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
  try {
    const names = Array.from({ length: nTensors }, (_, i) => `layers.${i}.weight`);
    await client.createModel({
      name: 'bench',
      parameters: names.map((name) => ({ name, shape: [per], dtype: 'fp32' as const })),
      optimizer: { name: 'adam', lr: 1e-3 },
    });
    await client.uploadParameters('bench', new Map(names.map((n) => [n, randomTensor(per)])));
    // Two sets of fresh random gradients, alternated (never zeros; generating 16M values per step would time the
    // client's Math.random instead of the service).
    const gradSets = [0, 1].map(() => names.map(() => randomTensor(per)));
    // The worker's own copy of the weights, for the variant that copies returned chunks into it (weightsInto).
    const weights = new Map(names.map((n) => [n, new Float32Array(per)]));

    // Three paths, interleaved round by round so that load on the machine hits them alike:
    //   raw     the raw grpc-js stream (bytes in, then bytes back; the client keeps the received buffers);
    //   stream  Step, weights handed to onWeights chunk by chunk (the client keeps the received views: the same
    //           work on the client as raw) -- the headline ratio;
    //   into    Step, weights copied into the worker's Float32Arrays (one more memcpy on the client).
    const times: Record<'raw' | 'stream' | 'into', number[]> = { raw: [], stream: [], into: [] };
    let stepId = 0;
    const stepOnce = async (grads: Float32Array[], into: boolean): Promise<number> => {
      let back = 0;
      const t0 = performance.now();
      const reply = await client.step('bench', new Map(names.map((n, k) => [n, grads[k]])), {
        returnWeights: true, stepId: ++stepId, workerId: 'bench',
        ...(into ? { weightsInto: weights } : { onWeights: (_p: string, _d: string, _o: number, data: Buffer) => { back += data.length; } }),
      });
      const ms = performance.now() - t0;
      if (into) back = [...reply.weights.values()].reduce((n, w) => n + w.data.length, 0);
      if (back !== params * 4) throw new Error(`short weights: ${back}`);
      return ms;
    };
    for (let i = 0; i < warmup + steps; i++) {
      const grads = gradSets[i % 2];
      const t0 = performance.now();
      const r = await rawRound(raw, grads, chunk);
      const rawMs = performance.now() - t0;
      if (r.back !== params * 4) throw new Error(`short raw transfer: ${r.back}`);
      const streamMs = await stepOnce(grads, false);
      const intoMs = await stepOnce(grads, true);
      if (i >= warmup) {
        times.raw.push(rawMs);
        times.stream.push(streamMs);
        times.into.push(intoMs);
      }
    }
    const desc = await client.describe('bench');
    const bytes = params * 4 * 2; // gradient bytes in + weight bytes out (the raw stream moves the same)
    const mibs = (k: keyof typeof times) => bytes / MIB / (median(times[k]) / 1000);
    const stepMiBs = mibs('stream');
    const rawMiBs = mibs('raw');
    const ratio = stepMiBs / rawMiBs;
    const row = (label: string, k: keyof typeof times) => [label, median(times[k]).toFixed(1), Math.min(...times[k]).toFixed(1),
      (1000 / median(times[k])).toFixed(2), (mibs(k) / 2).toFixed(1), (mibs(k) / 2).toFixed(1), mibs(k).toFixed(1),
      (mibs(k) / rawMiBs).toFixed(3)];
    const rows = [
      ['path', 'median ms', 'min ms', 'steps/s', 'MiB/s in', 'MiB/s out', 'MiB/s total', 'vs raw'],
      row('qstep Step, weights streamed (onWeights)', 'stream'),
      row('qstep Step, weights copied (weightsInto)', 'into'),
      row('raw grpc-js bidi stream, same bytes', 'raw'),
    ];
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
    process.stdout.write(`\n${params} fp32 parameters in ${nTensors} tensors (Adam, fp32 state), ${chunk} B chunks, ` +
      `${steps} timed rounds after ${warmup} warm-up, model step ${desc.models[0].modelStep}\n\n`);
    for (const r of rows) process.stdout.write(`${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')}\n`);
    process.stdout.write(`\nratio (Step MiB/s / raw MiB/s): ${ratio.toFixed(3)} (target >= 0.8); ` +
      `with the copy into Float32Arrays: ${(mibs('into') / rawMiBs).toFixed(3)}\n`);

    const result = {
      params,
      step_mib_s: Number(stepMiBs.toFixed(2)),
      raw_mib_s: Number(rawMiBs.toFixed(2)),
      ratio: Number(ratio.toFixed(4)),
      step_into_mib_s: Number(mibs('into').toFixed(2)),
      ratio_into: Number((mibs('into') / rawMiBs).toFixed(4)),
      tensors: nTensors,
      chunk_bytes: chunk,
      rounds: steps,
      ms_median: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Number(median(v).toFixed(1))])),
      ms: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, v.map((t) => Number(t.toFixed(1)))])),
      node: process.version,
    };
    const dir = join(__dirname, 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'service.json'), `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`wrote ${join(dir, 'service.json')}\n`);
  } finally {
    client.close();
    raw.close();
    child.stdin.end();
  }
}

const role = process.argv.includes('--role') ? process.argv[process.argv.indexOf('--role') + 1] : 'client';
(role === 'server' ? serve() : main()).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
