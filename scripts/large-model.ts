// One large model at the default flags (issue 10, "Large models fail at the defaults"): a `qstep serve` child with
// no flags but an ephemeral port, then create -> upload -> step with weights back -> snapshot (streamed, counted)
// -> delete of one fp32 parameter under 8-bit blockwise Adam. Prints upload MiB/s, the step's phases (from the
// server's own log line), the server's peak RSS (VmHWM) and its RSS before creating and after deleting.
//
//   npm run large-model -- [--params 1000000000]

import { connect } from '../client';
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

async function main(): Promise<void> {
  const n = arg('params', 1_000_000_000);
  const server = await startServeChild();
  const pid = server.pid;
  const rpcLines = server.rpcLines;
  const limits = { memoryLimit: server.serving.memoryLimit, stagingBudget: server.serving.stagingBudget };
  const client = connect(server.address, { unaryDeadlineMs: 600_000 });
  const report: Record<string, unknown> = { params: n, ...limits, rssBeforeMiB: procMemory(pid).rss / MIB };
  try {
    await client.createModel({
      name: 'big',
      parameters: [{ name: 'w', shape: [n], dtype: 'fp32' }],
      optimizer: { name: 'adam', lr: 1e-3, optimBits: 8, blockWise: true },
    });
    const values = randomInto(new Float32Array(n), 1);
    let t = performance.now();
    await client.uploadParameters('big', { w: values });
    report.uploadMiBps = Math.round((4 * n) / MIB / ((performance.now() - t) / 1000));
    const grad = randomInto(values, 0.01); // the values buffer is reused for the gradient: one large array here
    t = performance.now();
    const r = await client.step('big', { w: grad }, { returnWeights: true, onWeights: () => undefined });
    report.stepMs = Math.round(performance.now() - t);
    report.stepSkipped = r.skipped;
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
    t = performance.now();
    let snapBytes = 0;
    for await (const ev of client.snapshotStream('big', { weights: true, state: 'raw' })) {
      if (ev.kind === 'data') snapBytes += ev.data.length;
    }
    report.snapshotMiB = Math.round(snapBytes / MIB);
    report.snapshotMiBps = Math.round(snapBytes / MIB / ((performance.now() - t) / 1000));
    const desc = await client.describe('big');
    report.modelMiB = Math.round((desc.models[0].memory?.total ?? 0) / MIB);
    report.peakRssMiB = Math.round(procMemory(pid).hwm / MIB);
    await client.deleteModel('big');
    await new Promise((r) => setTimeout(r, 2000));
    report.rssAfterDeleteMiB = Math.round(procMemory(pid).rss / MIB);
    report.rssBeforeMiB = Math.round(report.rssBeforeMiB as number);
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
