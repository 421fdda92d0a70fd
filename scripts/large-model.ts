// One large model at the default flags (issue 10, "Large models fail at the defaults"): a `qstep serve` child with
// no flags but an ephemeral port, then create -> upload -> step with weights back -> snapshot (streamed, counted)
// -> delete of one fp32 parameter under 8-bit blockwise Adam. Prints upload MiB/s, the step's phases (from the
// server's own log line), the server's peak RSS in each phase (VmHWM, reset between phases through
// /proc/PID/clear_refs) and its RSS before creating and after deleting. The step's peak is checked against the
// issue's bound: at most the model's tensors + one gradient staging + 15%.
//
//   npm run large-model -- [--params 1000000000] [--today] [--lanes N]
//
// --today runs with the transport settings from before issue 15 ("today's settings"): Step over gRPC (no direct
// transport), 64 KiB HTTP/2 windows on both ends (server --window-bytes, client windowBytes), one stream per step. --lanes N steps over N lanes.

import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { connect } from '../client';
import { HTTP2_DEFAULT_WINDOW_BYTES } from '../proto/transport';
import { procMemory, startServeChild } from './serve-child';

const MIB = 1024 * 1024;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

function randomInto(a: Float32Array, scale: number): Float32Array {
  for (let i = 0; i < a.length; i++) a[i] = (Math.random() * 2 - 1) * scale;
  return a;
}

/** Starts a new peak: VmHWM restarts from the current RSS (Linux, writing 5 to clear_refs). */
function resetPeak(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // not permitted here: the peaks then run from the process start
  }
}

const mib = (bytes: number) => Math.round(bytes / MIB);

/** CPU seconds the process has used (user + system, /proc/PID/stat): on a shared machine, wall time is not the cost. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100 on Linux)
}

async function main(): Promise<void> {
  const n = arg('params', 1_000_000_000);
  const today = process.argv.includes('--today');
  const lanes = today ? 1 : arg('lanes', 1);
  const server = await startServeChild(
    today ? ['--window-bytes', String(HTTP2_DEFAULT_WINDOW_BYTES), '--direct-port', '-1'] : [],
  );
  const pid = server.pid;
  const rpcLines = server.rpcLines;
  const report: Record<string, unknown> = {
    params: n,
    loadAverage: loadavg().map((l) => Math.round(l * 10) / 10),
    settings: today
      ? 'today (gRPC, 64 KiB windows, 1 lane)'
      : `defaults (direct transport, ${lanes} lane${lanes > 1 ? 's' : ''})`,
    memoryLimit: server.serving.memoryLimit,
    stagingBudget: server.serving.stagingBudget,
  };
  const client = connect(server.address, {
    unaryDeadlineMs: 600_000,
    lanes,
    ...(today ? { windowBytes: HTTP2_DEFAULT_WINDOW_BYTES, direct: false } : {}),
  });
  const rssBefore = procMemory(pid).rss;
  try {
    let t = performance.now();
    await client.createModel({
      name: 'big',
      parameters: [{ name: 'w', shape: [n], dtype: 'fp32' }],
      optimizer: { name: 'adam', lr: 1e-3, optimBits: 8, blockWise: true },
    });
    report.createMs = Math.round(performance.now() - t);
    report.rssAfterCreateMiB = mib(procMemory(pid).rss);
    const values = randomInto(new Float32Array(n), 1);
    resetPeak(pid);
    t = performance.now();
    let cpu = cpuSeconds(pid);
    await client.uploadParameters('big', { w: values });
    report.uploadMiBps = Math.round((4 * n) / MIB / ((performance.now() - t) / 1000));
    report.uploadServerCpuS = Math.round((cpuSeconds(pid) - cpu) * 10) / 10;
    report.peakRssUploadMiB = mib(procMemory(pid).hwm);
    const grad = randomInto(values, 0.01); // the values buffer is reused for the gradient: one large array here
    resetPeak(pid);
    t = performance.now();
    cpu = cpuSeconds(pid);
    const r = await client.step(
      'big',
      { w: grad },
      { returnWeights: true, onWeights: () => undefined, workerId: 'large-model', stepId: 1 },
    );
    report.stepMs = Math.round(performance.now() - t);
    report.stepServerCpuS = Math.round((cpuSeconds(pid) - cpu) * 10) / 10;
    report.stepSkipped = r.skipped;
    report.peakRssStepMiB = mib(procMemory(pid).hwm);
    // The server writes its log line as the call ends; it reaches this process through a pipe a moment later.
    for (let i = 0; i < 50 && !rpcLines.some((l) => l.rpc === 'Step'); i++)
      await new Promise((res) => setTimeout(res, 100));
    const line = rpcLines.filter((l) => l.rpc === 'Step').pop() ?? {};
    report.stepPhasesMs = {
      receive: line.receiveMs,
      queue: line.queueMs,
      engine: line.engineMs,
      read: line.readMs,
      send: line.sendMs,
    };
    resetPeak(pid);
    t = performance.now();
    cpu = cpuSeconds(pid);
    let snapBytes = 0;
    for await (const ev of client.snapshotStream('big', { weights: true, state: 'raw' })) {
      if (ev.kind === 'data') snapBytes += ev.data.length;
    }
    report.snapshotMiB = mib(snapBytes);
    report.snapshotMiBps = Math.round(snapBytes / MIB / ((performance.now() - t) / 1000));
    report.snapshotServerCpuS = Math.round((cpuSeconds(pid) - cpu) * 10) / 10;
    report.peakRssSnapshotMiB = mib(procMemory(pid).hwm);
    const desc = await client.describe('big');
    const modelBytes = desc.models[0].memory?.total ?? 0;
    report.modelMiB = mib(modelBytes);
    // Issue 10's bound for the step: the tensors, one gradient staging (fp32 here) and 15% on top of both.
    const bound = (modelBytes + 4 * n) * 1.15;
    report.stepPeakBoundMiB = mib(bound);
    report.stepPeakWithinBound = (report.peakRssStepMiB as number) * MIB <= bound;
    await client.deleteModel('big');
    // The server gives memory back a moment after the delete (server/domain/reclaim.ts).
    await new Promise((res) => setTimeout(res, 2000));
    report.rssBeforeMiB = mib(rssBefore);
    report.rssAfterDeleteMiB = mib(procMemory(pid).rss);
    report.loadAverageAtEnd = loadavg().map((l) => Math.round(l * 10) / 10);
  } finally {
    client.close();
    await server.stop();
  }
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`large-model: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
