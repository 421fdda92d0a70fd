// Soak test (issue 10): a `qstep serve` child at its default flags (but a short --stream-grace-ms, so hostile
// streams are closed within the run) and 8 workers for N minutes. Each worker steps models of mixed sizes with
// its own increasing step ids, and now and then cancels a step part-way, kills its client mid-stream, opens a
// header-only or a trickling stream, creates/steps/deletes a model of its own, or snapshots. Every step id is
// retried until it has a result, so each must be applied exactly once: at the end every model's step counter
// must equal the step ids that completed on it. Reports steps applied, errors by code, server RSS at start, at the
// quarter mark and at the end; exits 1 on a lost or doubled step, a server error line, or RSS growth after the
// quarter mark (when the pools have filled) of more than 128 MiB + 15%. RSS is judged only in runs of at least
// RSS_JUDGED_MINUTES: in a shorter one the pools and allocator arenas are still filling at the end (RSS rose for
// the first 3-4 minutes of every 10-minute run), so a short run (CI's) checks exactly-once and error lines only.
//
//   npm run soak -- --minutes 10

import { existsSync } from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import { connect } from '../client';
import { Status } from '../client';
import type { QstepClient, QstepError } from '../client';
import { procMemory, startServeChild } from './serve-child';

const MIB = 1024 * 1024;
const RSS_JUDGED_MINUTES = 5;
const minutes = Number(process.argv[process.argv.indexOf('--minutes') + 1] ?? 1) || 1;
const WORKERS = 8;

const MODELS = [
  { name: 'small-fp32', numel: 10_000, optimizer: { name: 'adam' as const, lr: 1e-3, weightDecay: 0.01 } },
  {
    name: 'mid-8bit',
    numel: 1 << 20,
    optimizer: { name: 'adam' as const, lr: 1e-3, optimBits: 8 as const, blockWise: true },
  },
  { name: 'large-lion', numel: 4 << 20, optimizer: { name: 'lion' as const, lr: 1e-4 } },
];

const errors = new Map<string, number>();
const completed = new Map<string, number>(); // model -> step ids that completed (applied once, maybe replayed)
let replays = 0;
let hostile = 0;
let tempModels = 0;
// Rejections the client library leaves unhandled when its connection is killed mid-call: counted and reported
// (they are the client's, not the server's), so that one of them does not end the soak.
const unhandled = new Map<string, number>();
process.on('unhandledRejection', (reason: unknown) => {
  const r = reason as { code?: number; details?: string; message?: string };
  const key = String(r?.details ?? r?.message ?? JSON.stringify(reason)).slice(0, 120);
  unhandled.set(key, (unhandled.get(key) ?? 0) + 1);
});

function count(e: unknown): void {
  const code = (e as QstepError).codeName ?? 'OTHER';
  errors.set(code, (errors.get(code) ?? 0) + 1);
}

function random(n: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (Math.random() * 2 - 1) * scale;
  return a;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fresh = (address: string) => connect(address, { channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });

/** One step id, retried until it has a result; a cancel or a killed client on the first try(s). */
async function stepOnce(
  address: string,
  main: QstepClient,
  worker: string,
  stepId: number,
  model: (typeof MODELS)[number],
) {
  const grads = { w: random(model.numel, 0.01) };
  for (let attempt = 0; ; attempt++) {
    const mode = attempt === 0 ? Math.random() : 1;
    try {
      let r;
      if (mode < 0.1) {
        const ac = new AbortController();
        setTimeout(() => ac.abort(), Math.random() * 20);
        r = await main.step(model.name, grads, { workerId: worker, stepId, signal: ac.signal });
      } else if (mode < 0.18) {
        const doomed = fresh(address);
        setTimeout(() => doomed.close(), Math.random() * 20);
        r = await doomed.step(model.name, grads, { workerId: worker, stepId });
      } else {
        r = await main.step(model.name, grads, { workerId: worker, stepId, returnWeights: Math.random() < 0.3 });
      }
      if (r.replayed) replays++;
      completed.set(model.name, (completed.get(model.name) ?? 0) + 1);
      return;
    } catch (e) {
      count(e);
      if (attempt > 50)
        throw new Error(`step ${worker}/${stepId} on ${model.name} never completed: ${String(e)}`, { cause: e });
      await sleep(10);
    }
  }
}

/** A header-only stream, or one trickling 4 bytes at a time: the server must close it (--stream-grace-ms). */
function hostileStream(address: string, trickle: boolean): Promise<void> {
  hostile++;
  const c = fresh(address);
  const call = c.grpc.Step();
  call.on('data', () => undefined);
  return new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const done = (s?: grpc.StatusObject) => {
      if (timer) clearInterval(timer);
      if (s) count({ codeName: Status[s.code] ?? `code ${s.code}` });
      c.close();
      resolve();
    };
    call.on('status', done);
    call.on('error', () => undefined);
    call.write({ header: { model: MODELS[2].name, workerId: 'hostile' } });
    if (trickle) {
      let offset = 0;
      timer = setInterval(() => {
        call.write({ gradient: { param: 'w', offset, dtype: 'DTYPE_FP32', data: Buffer.alloc(4, 1) } });
        offset++;
      }, 500);
    }
    setTimeout(() => call.cancel(), 60_000); // a server that never closes it is reported by the code tally
  });
}

async function tempModel(client: QstepClient, worker: string, n: number): Promise<void> {
  const name = `tmp-${worker}-${n}`;
  tempModels++;
  const numel = 1000 + Math.floor(Math.random() * 500_000);
  await client.createModel({
    name,
    parameters: [{ name: 'w', shape: [numel], dtype: 'fp32' }],
    optimizer: { name: 'adam', lr: 1e-3 },
  });
  await client.uploadParameters(name, { w: random(numel, 1) });
  for (let i = 0; i < 3; i++) await client.step(name, { w: random(numel, 0.01) });
  await client.deleteModel(name);
}

async function main(): Promise<void> {
  const server = await startServeChild(['--stream-grace-ms', '2000']);
  const admin = connect(server.address);
  for (const m of MODELS) {
    await admin.createModel({
      name: m.name,
      parameters: [{ name: 'w', shape: [m.numel], dtype: 'fp32' }],
      optimizer: m.optimizer,
    });
    await admin.uploadParameters(m.name, { w: random(m.numel, 1) });
  }
  // Warm up every path once so that the start RSS includes the pools and the code, then measure.
  for (const m of MODELS) await admin.step(m.name, { w: random(m.numel, 0.01) }, { returnWeights: true });
  await admin.snapshot(MODELS[1].name, { weights: true, state: 'raw' });
  await sleep(1000);
  const rssStart = procMemory(server.pid).rss;
  const until = Date.now() + minutes * 60_000;
  const started = Date.now();
  // RSS every 5 s. The first quarter of the run fills the pools (idle staging buffers, allocator arenas); growth
  // after it is what a leak looks like, so flatness is judged from the quarter mark to the end.
  const series: number[] = [];
  const sampler = setInterval(() => {
    if (existsSync(`/proc/${server.pid}`)) series.push(procMemory(server.pid).rss);
  }, 5000);

  const pending: Promise<void>[] = [];
  const workers = Array.from({ length: WORKERS }, async (_, i) => {
    const worker = `worker-${i}`;
    const client = fresh(server.address);
    let stepId = 0;
    let n = 0;
    while (Date.now() < until) {
      const p = Math.random();
      try {
        if (p < 0.75)
          await stepOnce(server.address, client, worker, ++stepId, MODELS[Math.floor(Math.random() * MODELS.length)]);
        else if (p < 0.8) pending.push(hostileStream(server.address, Math.random() < 0.5));
        else if (p < 0.88) await tempModel(client, worker, n++);
        else if (p < 0.95)
          await client.snapshot(MODELS[Math.floor(Math.random() * 2)].name, { weights: true, state: 'raw' });
        else await client.describe();
      } catch (e) {
        if (e instanceof Error && e.message.includes('never completed')) throw e;
        count(e);
      }
    }
    client.close();
  });
  let failure: string | null = null;
  try {
    await Promise.all(workers);
  } catch (e) {
    failure = String(e);
  }
  await Promise.all(pending);
  await sleep(2000);
  clearInterval(sampler);
  const alive = existsSync(`/proc/${server.pid}`);
  if (!alive) {
    process.stdout.write(
      `${JSON.stringify({ failure: 'the server process died', serverErrorLogLines: server.errorLines.slice(0, 5) }, null, 2)}\n`,
    );
    process.exit(1);
  }
  const { rss: rssEnd, hwm: rssPeak } = procMemory(server.pid);
  const lost: string[] = [];
  for (const m of MODELS) {
    const d = await admin.describe(m.name);
    const want = (completed.get(m.name) ?? 0) + 1; // + the warm-up step
    if (d.models[0].modelStep !== want)
      lost.push(`${m.name}: model step ${d.models[0].modelStep}, ${want} step ids completed`);
  }
  const info = await admin.serverInfo();
  admin.close();
  await server.stop();
  const rssQuarter = series[Math.floor(series.length / 4)] ?? rssStart;
  const allowed = 128 * MIB + 0.15 * rssQuarter;
  const report = {
    minutes: Math.round(((Date.now() - started) / 60_000) * 10) / 10,
    workers: WORKERS,
    stepsApplied: Object.fromEntries(MODELS.map((m) => [m.name, (completed.get(m.name) ?? 0) + 1])),
    replayedRetries: replays,
    hostileStreams: hostile,
    tempModels,
    errorsByCode: Object.fromEntries([...errors].sort()),
    clientUnhandledRejections: Object.fromEntries(unhandled),
    serverErrorLogLines: server.errorLines.slice(0, 5),
    serverErrorLogLineCount: server.errorLines.length,
    rssStartMiB: Math.round(rssStart / MIB),
    rssQuarterMiB: Math.round(rssQuarter / MIB),
    rssEndMiB: Math.round(rssEnd / MIB),
    rssEveryMinuteMiB: series.filter((_, i) => i % 12 === 11).map((b) => Math.round(b / MIB)),
    rssPeakMiB: Math.round(rssPeak / MIB),
    memoryLimitMiB: Math.round((info.limits?.memoryLimitBytes ?? 0) / MIB),
    lost,
    failure,
    rssJudged: minutes >= RSS_JUDGED_MINUTES,
    rssGrowthOk: rssEnd - rssQuarter <= allowed,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  const rssFailed = report.rssJudged && !report.rssGrowthOk;
  if (lost.length > 0 || failure || rssFailed || server.errorLines.length > 0) process.exit(1);
}

main().catch((err: unknown) => {
  process.stderr.write(`soak: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
