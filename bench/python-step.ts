// The Python client's step time beside the TypeScript client's, in the same run on the same server: one
// `qstep serve` process; the TypeScript client steps a model of 16M fp32 parameters in 8 tensors (Adam, fp32 state)
// with the weights copied back into the worker's arrays (weightsInto), and bench/python-step.py, a second process,
// times RemoteOptimizer.step() on the same layout (gradients out of .grad, weights into the parameters in place).
// The two alternate step by step, so that load on the machine hits them alike.
//
//   npm run bench:python [-- --steps 8 --params 16777216 --tensors 8]
//
// Prints a table and writes bench/results/python-step.json with "ratio" = Python median / TypeScript median
// (1.0 = as fast; > 1 = the Python client is slower by that factor).

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '../client';

const ROOT = join(__dirname, '..');

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function randomTensor(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (Math.random() - 0.5) * 0.01;
  return a;
}

async function startServer(): Promise<{ address: string; stop: () => void }> {
  const proc = spawn(
    process.execPath,
    [
      join(ROOT, 'bin', 'qstep.js'),
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--metrics-port',
      '-1',
      '--log-level',
      'info',
      '--staging-budget-mib',
      '4096',
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      for (const line of out.split('\n')) {
        if (!line.startsWith('{')) continue;
        const rec = JSON.parse(line) as { msg?: string; address?: string };
        if (rec.msg === 'serving' && rec.address) resolve(rec.address);
      }
    });
    proc.on('exit', (code) => reject(new Error(`qstep serve exited with ${code}`)));
  });
  proc.stdout.resume();
  return { address, stop: () => proc.kill('SIGTERM') };
}

async function main(): Promise<void> {
  const params = arg('params', 16 * 1024 * 1024);
  const nTensors = arg('tensors', 8);
  const steps = arg('steps', 8);
  const warmup = arg('warmup', 2);
  const per = Math.floor(params / nTensors);
  const server = await startServer();
  const client = connect(server.address);
  try {
    const names = Array.from({ length: nTensors }, (_, i) => `layers.${i}.weight`);
    await client.createModel({
      name: 'ts-bench',
      parameters: names.map((name) => ({ name, shape: [per], dtype: 'fp32' as const })),
      optimizer: { name: 'adam', lr: 1e-3 },
    });
    await client.uploadParameters('ts-bench', new Map(names.map((n) => [n, randomTensor(per)])));
    const gradSets = [0, 1].map(() => names.map(() => randomTensor(per)));
    const weights = new Map(names.map((n) => [n, new Float32Array(per)]));
    const py = spawn(
      process.env.QSTEP_PYTHON ?? '/usr/bin/python3',
      [
        join(ROOT, 'bench', 'python-step.py'),
        '--address',
        server.address,
        '--params',
        String(params),
        '--tensors',
        String(nTensors),
      ],
      { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const lines = createInterface({ input: py.stdout })[Symbol.asyncIterator]();
    const readPy = async (): Promise<Record<string, number>> => {
      const next = await lines.next();
      if (next.done) throw new Error('bench/python-step.py ended early');
      return JSON.parse(next.value) as Record<string, number>;
    };
    await readPy(); // {"ready": true}
    const tsTimes: number[] = [];
    const pyTimes: Record<'remote' | 'remote_bf16' | 'torch_local', number[]> = {
      remote: [],
      remote_bf16: [],
      torch_local: [],
    };
    for (let i = 0; i < warmup + steps; i++) {
      const grads = gradSets[i % 2];
      const t0 = performance.now();
      await client.step('ts-bench', new Map(names.map((n, k) => [n, grads[k]])), {
        returnWeights: true,
        weightsInto: weights,
        stepId: i + 1,
        workerId: 'ts-bench',
      });
      const tsMs = performance.now() - t0;
      py.stdin.write('step\n');
      const p = await readPy();
      if (i >= warmup) {
        tsTimes.push(tsMs);
        for (const k of Object.keys(pyTimes) as (keyof typeof pyTimes)[]) pyTimes[k].push(p[k]);
      }
    }
    py.stdin.end();
    await new Promise((resolve) => py.on('exit', resolve));
    if (py.exitCode !== 0) throw new Error(`bench/python-step.py exited with ${py.exitCode}`);
    await client.deleteModel('ts-bench');
    const pyRes = Object.fromEntries(
      Object.entries(pyTimes).map(([k, v]) => [k, { median_ms: median(v), min_ms: Math.min(...v) }]),
    );

    const ts = median(tsTimes);
    const rows: [string, number, number][] = [
      ['TypeScript client step (weightsInto)', ts, Math.min(...tsTimes)],
      ['Python RemoteOptimizer.step(), fp32 grads', pyRes.remote.median_ms, pyRes.remote.min_ms],
      ['Python RemoteOptimizer.step(), bf16 grads', pyRes.remote_bf16.median_ms, pyRes.remote_bf16.min_ms],
      ['local torch.optim.Adam step (no server)', pyRes.torch_local.median_ms, pyRes.torch_local.min_ms],
    ];
    console.log(
      `${params} fp32 parameters in ${nTensors} tensors, Adam fp32 state, weights returned; ${steps} steps each, ` +
        'TypeScript and Python alternating',
    );
    console.log(['path'.padEnd(44), 'median ms', 'min ms', 'vs TS'].join('  '));
    for (const [label, med, min] of rows) {
      console.log(
        [
          label.padEnd(44),
          med.toFixed(1).padStart(9),
          min.toFixed(1).padStart(6),
          (med / ts).toFixed(2).padStart(5),
        ].join('  '),
      );
    }
    const result = {
      params,
      tensors: nTensors,
      steps,
      ts_median_ms: ts,
      py_median_ms: pyRes.remote.median_ms,
      py_bf16_median_ms: pyRes.remote_bf16.median_ms,
      torch_local_median_ms: pyRes.torch_local.median_ms,
      ratio: pyRes.remote.median_ms / ts,
      ratio_bf16: pyRes.remote_bf16.median_ms / ts,
      // The fastest step of each: on a loaded machine the least disturbed by other work.
      ratio_min: pyRes.remote.min_ms / Math.min(...tsTimes),
    };
    console.log(
      `ratio (Python / TypeScript step time): ${result.ratio.toFixed(2)} (medians), ${result.ratio_min.toFixed(2)} ` +
        `(fastest steps); with bf16 gradients ${result.ratio_bf16.toFixed(2)}`,
    );
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(join(ROOT, 'bench', 'results', 'python-step.json'), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    client.close();
    server.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
