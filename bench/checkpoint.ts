// Checkpoint costs, on a real `qstep serve` process with --state-dir:
//   1. stall and write rate for one model of ~GIB GiB of state (fp32 weights, fp32 Adam state: 12 bytes per
//      parameter): the time the model's steps are held for the copy (the server's stall_ms, and its ratio to one
//      step of the same model), the write rate (data file bytes / write_ms) with steps running beside it and with
//      none, the latter against a plain write + fsync of as many bytes to the same disk in the same run (ratio),
//      and the latency of steps taken while the checkpoint is written against steps taken before it;
//   2. restart: two models of RESTART_GIB GiB each (fp32 weights, 8-bit blockwise Adam: 6 bytes per parameter),
//      saved by SIGTERM, then a fresh server loads them: time from spawn to "serving", the server's own load time,
//      and its RSS and peak RSS (VmHWM) against the RSS of the server before the restart.
//
//   npm run bench:checkpoint [-- --gib 1 --restart-gib 1]   (--restart-gib 0 skips the restart part)
//
// Prints a table and writes bench/results/checkpoint.json.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../client';
import type { QstepClient } from '../client';
import { ROOT, spawnServe } from '../test/helpers/serve-process';
import type { ServeProcess } from '../test/helpers/serve-process';

const GIB = 1024 ** 3;
const TENSORS = 8;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

type Srv = ServeProcess;

function serve(dir: string): Promise<Srv> {
  return spawnServe(
    [
      '--port',
      '0',
      '--metrics-port',
      '-1',
      '--log-level',
      'info',
      '--state-dir',
      dir,
      '--checkpoint-every-seconds',
      '0',
      '--staging-budget-mib',
      '8192',
      '--shutdown-grace-ms',
      '60000',
    ],
    { inheritStderr: true },
  );
}

function memKiB(pid: number, key: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Fresh non-zero values (xorshift; house style: never time on zeros). */
function randomValues(n: number, seed: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    a[i] = (x / 4294967296 - 0.5) * scale;
  }
  return a;
}

async function makeModel(c: QstepClient, name: string, params: number, optimBits: 8 | 32): Promise<number[]> {
  const per = Math.ceil(params / TENSORS);
  const shapes = Array.from({ length: TENSORS }, () => per);
  await c.createModel({
    name,
    parameters: shapes.map((n, i) => ({ name: `p${i}`, shape: [n], dtype: 'fp32' })),
    optimizer: { name: 'adamw', lr: 1e-4, optimBits },
  });
  for (let i = 0; i < TENSORS; i++) await c.uploadParameters(name, { [`p${i}`]: randomValues(per, i + 1, 2) });
  return shapes;
}

async function step(c: QstepClient, name: string, shapes: number[], seed: number): Promise<number> {
  const g: Record<string, Float32Array> = {};
  shapes.forEach((n, i) => {
    g[`p${i}`] = randomValues(n, seed * 31 + i, 0.02);
  });
  const t0 = performance.now();
  await c.step(name, g);
  return performance.now() - t0;
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

/** A plain write of `bytes` in 4 MiB pieces plus fsync: the disk's rate for the same amount, in this run. */
async function rawWriteRate(dir: string, bytes: number): Promise<number> {
  const buf = Buffer.from(randomValues(1 << 20, 7, 1).buffer);
  const h = await open(join(dir, 'raw.bin'), 'w');
  const t0 = performance.now();
  for (let at = 0; at < bytes; at += buf.length) await h.write(buf, 0, Math.min(buf.length, bytes - at));
  await h.sync();
  const ms = performance.now() - t0;
  await h.close();
  await rm(join(dir, 'raw.bin'));
  return bytes / (ms / 1000);
}

async function stallAndRate(dir: string, gib: number): Promise<Record<string, number>> {
  const s = await serve(dir);
  const c = connect(s.address, { unaryDeadlineMs: 600_000 });
  try {
    const params = Math.floor((gib * GIB) / 12);
    const shapes = await makeModel(c, 'one', params, 32);
    const before: number[] = [];
    for (let i = 0; i < 3; i++) before.push(await step(c, 'one', shapes, i));
    // The checkpoint and steps at the same time: steps queue behind the copy, then run while the file is written.
    const during: number[] = [];
    let writing = true;
    const ck = c.checkpoint('one').finally(() => {
      writing = false;
    });
    let seed = 100;
    while (writing) during.push(await step(c, 'one', shapes, seed++));
    const r = await ck;
    // The same checkpoint with no step beside it, then a plain write + fsync of as many bytes.
    const idle = await c.checkpoint('one');
    const raw = await rawWriteRate(dir, r.bytes);
    const rate = r.bytes / (r.writeMs / 1000);
    const idleRate = idle.bytes / (idle.writeMs / 1000);
    return {
      state_gib: r.bytes / GIB,
      stall_ms: r.stallMs,
      stall_vs_step: r.stallMs / median(before),
      write_ms: r.writeMs,
      write_mib_s_beside_steps: rate / 2 ** 20,
      write_mib_s_idle: idleRate / 2 ** 20,
      idle_stall_ms: idle.stallMs,
      raw_write_mib_s: raw / 2 ** 20,
      write_ratio_idle: idleRate / raw,
      step_ms_before: median(before),
      step_ms_during_write: during.length > 0 ? median(during) : NaN,
      steps_during_write: during.length,
    };
  } finally {
    c.close();
    s.proc.kill('SIGKILL');
  }
}

async function restart(dir: string, gib: number): Promise<Record<string, number>> {
  const a = await serve(dir);
  const c = connect(a.address, { unaryDeadlineMs: 600_000 });
  const params = Math.floor((gib * GIB) / 6);
  for (const name of ['r1', 'r2']) {
    const shapes = await makeModel(c, name, params, 8);
    await step(c, name, shapes, 1);
  }
  c.close();
  const rssBefore = memKiB(a.proc.pid!, 'VmRSS');
  const t0 = performance.now();
  const exited = new Promise((r) => a.proc.on('exit', r));
  a.proc.kill('SIGTERM');
  await exited;
  const saveMs = performance.now() - t0;
  const b = await serve(dir);
  try {
    const loaded = b.lines.find((l) => l.msg === 'state-dir: models loaded');
    return {
      model_gib: gib,
      models: 2,
      rss_before_restart_mib: rssBefore / 1024,
      shutdown_save_ms: saveMs,
      restart_to_serving_ms: b.servingAt - b.spawnedAt,
      load_ms: Number(loaded?.ms),
      rss_after_load_mib: memKiB(b.proc.pid!, 'VmRSS') / 1024,
      peak_rss_mib: memKiB(b.proc.pid!, 'VmHWM') / 1024,
      rss_ratio_after_vs_before: memKiB(b.proc.pid!, 'VmRSS') / rssBefore,
      peak_ratio_vs_before: memKiB(b.proc.pid!, 'VmHWM') / rssBefore,
    };
  } finally {
    b.proc.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'qstep-bench-ckpt-'));
  try {
    const one = await stallAndRate(join(dir, 'a'), arg('gib', 1));
    console.table(one);
    const restartGib = arg('restart-gib', 1);
    const two = restartGib > 0 ? await restart(join(dir, 'b'), restartGib) : null;
    if (two) console.table(two);
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(
      join(ROOT, 'bench', 'results', 'checkpoint.json'),
      JSON.stringify({ stall: one, restart: two }, null, 2) + '\n',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
