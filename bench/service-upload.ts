// Upload lanes in bench:service: UploadParameters of the same values (16M fp32 parameters by default) to a fresh
// model over K = 1 (one call, as before) and the K values asked for (client/upload-lanes.ts), on the server with
// the new defaults (the direct transport; gRPC with the new windows under QSTEP_DIRECT=0), plus one call over gRPC to
// the server with today's 64 KiB windows; interleaved round by round. Only the upload is timed (the model is created
// before and deleted after each one).

import { connect } from '../client';
import type { QstepClient } from '../client';
import { HTTP2_DEFAULT_WINDOW_BYTES } from '../proto/transport';
import { cpuNow, median } from './measure';

const MIB = 1024 * 1024;

export interface UploadBenchOptions {
  params: number;
  tensors: number;
  rounds: number;
  chunk: number;
  /** K values to try besides 1. */
  lanes: number[];
}

function randomTensor(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() - 0.5;
  return a;
}

/** Runs the rounds, prints a table, returns the JSON fields (MiB/s of values uploaded). */
export async function uploadBench(
  a: { qstep: string; today: string; window: number; serverPid?: number },
  o: UploadBenchOptions,
): Promise<Record<string, unknown>> {
  const per = Math.floor(o.params / o.tensors);
  const names = Array.from({ length: o.tensors }, (_, i) => `layers.${i}.weight`);
  const values = new Map(names.map((n) => [n, randomTensor(per)]));
  const bytes = per * o.tensors * 4;
  const paths: { key: string; label: string; client: QstepClient }[] = [
    {
      key: 'today',
      label: "today's settings (gRPC, 64 KiB windows, 1 call)",
      client: connect(a.today, {
        maxChunkBytes: o.chunk,
        uploadLanes: 1,
        windowBytes: HTTP2_DEFAULT_WINDOW_BYTES,
        direct: false,
      }),
    },
    ...[1, ...o.lanes.filter((k) => k > 1)].map((k) => ({
      key: `k${k}`,
      label: `${process.env.QSTEP_DIRECT === '0' ? `gRPC, ${a.window / MIB} MiB windows` : 'direct transport'}, ${k} lane${k > 1 ? 's' : ''}`,
      client: connect(a.qstep, { maxChunkBytes: o.chunk, uploadLanes: k, windowBytes: a.window, laneMinBytes: 0 }),
    })),
  ];
  const times = new Map<string, number[]>(paths.map((p) => [p.key, []]));
  const cpu = new Map<string, number[]>(paths.map((p) => [p.key, []]));
  try {
    for (let r = 0; r < o.rounds + 1; r++) {
      const line: string[] = [];
      for (const p of paths) {
        const model = `upload-bench-${p.key}`;
        await p.client.createModel({
          name: model,
          parameters: names.map((name) => ({ name, shape: [per], dtype: 'fp32' as const })),
          optimizer: { name: 'adam', lr: 1e-3 },
        });
        const c0 = cpuNow(a.serverPid);
        const t0 = performance.now();
        const res = await p.client.uploadParameters(model, values);
        const ms = performance.now() - t0;
        const c1 = cpuNow(a.serverPid);
        if (!res.ready || Number(res.bytes) !== bytes) throw new Error(`upload ${p.key}: ${JSON.stringify(res)}`);
        await p.client.deleteModel(model);
        if (r > 0) {
          times.get(p.key)?.push(ms);
          cpu.get(p.key)?.push(c1.client - c0.client + (c1.server - c0.server));
        }
        line.push(`${p.key} ${ms.toFixed(0)} ms`);
      }
      process.stderr.write(`upload round ${r + 1}/${o.rounds + 1}: ${line.join(', ')}\n`);
    }
  } finally {
    for (const p of paths) p.client.close();
  }
  const mibs = (k: string) => bytes / MIB / (median(times.get(k) ?? []) / 1000);
  process.stdout.write(
    `\nUploadParameters, ${per * o.tensors} fp32 values in ${o.tensors} tensors, ${o.rounds} rounds\n\n`,
  );
  const rows = [['path', 'median ms', 'MiB/s', "vs today's", 'vs 1 lane', 'CPU ms']];
  for (const p of paths) {
    rows.push([
      p.label,
      median(times.get(p.key) ?? []).toFixed(1),
      mibs(p.key).toFixed(1),
      (mibs(p.key) / mibs('today')).toFixed(2),
      (mibs(p.key) / mibs('k1')).toFixed(2),
      median(cpu.get(p.key) ?? []).toFixed(0),
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows)
    process.stdout.write(`${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')}\n`);
  const f = (x: number, d = 2) => Number(x.toFixed(d));
  return {
    params: per * o.tensors,
    tensors: o.tensors,
    upload_default_mib_s: f(mibs('today')),
    upload_mib_s: Object.fromEntries(
      paths.filter((p) => p.key !== 'today').map((p) => [p.key.slice(1), f(mibs(p.key))]),
    ),
    cpu_ms_median: Object.fromEntries(paths.map((p) => [p.key, f(median(cpu.get(p.key) ?? []), 0)])),
    ms: Object.fromEntries(paths.map((p) => [p.key, (times.get(p.key) ?? []).map((t) => f(t, 1))])),
  };
}
