// The hot tensor messages through both codecs, in one run, round by round interleaved: the hand-written encoders
// of proto/fast-codec.ts (the server's scratch buffer for StepResponse.weights and SnapshotResponse.data, the
// client's pooled buffer for StepRequest.gradient) against the generated (ts-proto) serializers that grpc-js
// would otherwise call (fromPartial, encode into BinaryWriter chunks, finish() into one array, Buffer.from copy).
// And the decoders: proto/fast-decode.ts (a view of the received bytes) against the generated decoder (a copy of
// `data`, env=node). Fresh random data every run; MiB/s counts tensor bytes; ratio = fast / generated.
// The fast path is kept where the ratio is above 1 (docs/service.md, Contract codecs).
//
//   npm run bench:codec [-- --chunk 1048576 --messages 256 --rounds 7]
//
// Writes bench/results/codec.json.

import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatedService, qstepService } from '../proto';
import { encodeStepGradient, snapshotResponseSerializer, stepResponseSerializer } from '../proto/fast-codec';

const MIB = 1024 * 1024;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const chunk = arg('chunk', MIB);
const messages = arg('messages', 256);
const rounds = arg('rounds', 7);

const data = Array.from({ length: 8 }, () => randomBytes(chunk));
const step = generatedService.Step;
const snap = generatedService.Snapshot;
const fastWeights = stepResponseSerializer(step.responseSerialize);
const fastSnapshot = snapshotResponseSerializer(snap.responseSerialize);
const pool = Buffer.allocUnsafeSlow(chunk + 256);
let sink = 0;

type Case = { name: string; fast: (i: number) => void; generated: (i: number) => void };

const cases: Case[] = [
  {
    name: 'StepResponse.weights encode (server)',
    fast: (i) => (sink += fastWeights({ weights: weights(i) }).length),
    generated: (i) => (sink += step.responseSerialize({ weights: weights(i) }).length),
  },
  {
    name: 'SnapshotResponse.data encode (server)',
    fast: (i) => (sink += fastSnapshot({ data: { tensor: 3, byteOffset: i * chunk, data: data[i % 8] } }).length),
    generated: (i) =>
      (sink += snap.responseSerialize({ data: { tensor: 3, byteOffset: i * chunk, data: data[i % 8] } }).length),
  },
  {
    name: 'StepRequest.gradient encode (client)',
    fast: (i) =>
      (sink += encodeStepGradient('layers.3.weight', i * 4096, 'DTYPE_FP32', data[i % 8], () => pool).length),
    generated: (i) =>
      (sink += step.requestSerialize({
        gradient: { param: 'layers.3.weight', offset: i * 4096, dtype: 'DTYPE_FP32', data: data[i % 8] },
      }).length),
  },
];

function weights(i: number) {
  return { param: 'layers.3.weight', offset: i * 4096, dtype: 'DTYPE_FP32' as const, data: data[i % 8] };
}

function mibPerSecond(f: (i: number) => void): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < messages; i++) f(i);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return (messages * chunk) / MIB / s;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const gradients = data.map((d, i) =>
  step.requestSerialize({ gradient: { param: 'layers.3.weight', offset: i, dtype: 'DTYPE_FP32', data: d } }),
);
const snapshots = data.map((d, i) => snap.responseSerialize({ data: { tensor: 3, byteOffset: i * chunk, data: d } }));
cases.push(
  {
    name: 'StepRequest.gradient decode (server)',
    fast: (i) => (sink += qstepService.Step.requestDeserialize(gradients[i % 8]).gradient?.data.length ?? 0),
    generated: (i) => (sink += step.requestDeserialize(gradients[i % 8]).gradient?.data.length ?? 0),
  },
  {
    name: 'SnapshotResponse.data decode (client)',
    fast: (i) => (sink += qstepService.Snapshot.responseDeserialize(snapshots[i % 8]).data?.data.length ?? 0),
    generated: (i) => (sink += snap.responseDeserialize(snapshots[i % 8]).data?.data.length ?? 0),
  },
);

const rows: Record<string, { fast_mib_s: number; generated_mib_s: number; ratio: number }> = {};
for (const c of cases) {
  c.fast(0);
  c.generated(0);
  const fast: number[] = [];
  const gen: number[] = [];
  for (let r = 0; r < rounds; r++) {
    fast.push(mibPerSecond(c.fast));
    gen.push(mibPerSecond(c.generated));
  }
  const f = median(fast);
  const g = median(gen);
  rows[c.name] = { fast_mib_s: Math.round(f), generated_mib_s: Math.round(g), ratio: Math.round((f / g) * 100) / 100 };
}
console.log(`chunk ${chunk} bytes, ${messages} messages per timing, median of ${rounds} interleaved rounds`);
console.log('message                                   fast MiB/s  generated MiB/s  ratio fast/generated');
for (const [name, r] of Object.entries(rows)) {
  console.log(
    `${name.padEnd(42)}${String(r.fast_mib_s).padStart(10)}${String(r.generated_mib_s).padStart(17)}${r.ratio.toFixed(2).padStart(22)}`,
  );
}
const out = join(__dirname, 'results');
mkdirSync(out, { recursive: true });
writeFileSync(
  join(out, 'codec.json'),
  `${JSON.stringify({ chunk, messages, rounds, results: rows, date: new Date().toISOString() }, null, 2)}\n`,
);
if (sink === 0) console.log('');
