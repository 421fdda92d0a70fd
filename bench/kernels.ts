// npm run bench:kernels — optimizer step time on the CPU backend for 16M fp32 parameters, beside two baselines
// measured in the same run: a memory sweep with Adam's access pattern (read 4 arrays, write 3: the roofline of an
// fp32 Adam step) and PyTorch's CPU Adam (when Debian's python3-torch is present), whose steps are taken one after
// each iteration of the two Adam cases, interleaved with ours.
//
// Bytes a step must move per parameter (fp32 params and grads): Adam fp32 state 28 (p r/w 8, g 4, m r/w 8,
// v r/w 8); Adam blockwise8 16 (p 8, g 4, 2 codes r/w 4) plus 16 bytes of scales per block of 256;
// Lion/SGD fp32 20; Lion/SGD blockwise8 14 plus 8 per block. Adam is also timed with fp16 and bf16 parameters and
// gradients (fp32 state 22 bytes, blockwise8 10 plus scales: p r/w 4, g 2), to show what the 16-bit rounding points
// and conversions cost. static8 Adam (one max per tensor) reads its codes in both of its passes.
//
// Each case is timed with the gradient handed over two ways, alternating step by step: as a Buffer (the step first
// reads every gradient once to check for NaN/Inf, docs/math.md D4) and staged in a GradientBuffer written in 1 MiB chunks
// as the service receives them (checked during that copy; the step skips its pass). The staging copy itself is
// timed against a plain Buffer.copy of the same chunks into a Buffer of the same size.
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Engine, GradientBuffer } from '../native/lib';
import type { DType, OptimizerName } from '../native/lib';
import { encode } from '../test/helpers/dtype';

const N = Number(process.env.QSTEP_BENCH_PARAMS ?? 16 * 1024 * 1024);
const ITERS = Number(process.env.QSTEP_BENCH_ITERS ?? 20);
const CHUNK_BYTES = 1024 * 1024; // the service's maximum chunk

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function msSince(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function randn(n: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - Math.random(),
      v = Math.random();
    const r = Math.sqrt(-2 * Math.log(u)) * scale;
    a[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) a[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return a;
}

function bytesPerParam(opt: OptimizerName, mode: string, dtype: DType): number {
  const twoState = opt === 'adam';
  const elem = dtype === 'fp32' ? 12 : 6; // p read and written, g read
  if (mode === 'fp32') return elem + (twoState ? 16 : 8);
  if (mode === 'static8') return elem + (twoState ? 4 : 2) * 1.5; // codes read twice (two passes), written once
  return elem + (twoState ? 4 : 2) + ((twoState ? 8 : 4) * 2) / 256;
}

/**
 * PyTorch's CPU Adam on the same size in a child process (bench/torch_cpu_adam.py serve), stepped on request so
 * that its steps interleave with ours: the machine's speed drifts within minutes, and a baseline taken at another
 * moment would move the ratio by as much as the code does. Null when python3-torch is missing.
 */
class TorchAdam {
  private lines: string[] = [];
  private waiting: { resolve: (line: string) => void; reject: (e: Error) => void } | null = null;
  private exited: Error | null = null;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const w = this.waiting;
      this.waiting = null;
      if (w) w.resolve(line);
      else this.lines.push(line);
    });
    child.once('exit', (code) => {
      this.exited = new Error(`torch_cpu_adam.py exited with ${code}`);
      this.waiting?.reject(this.exited);
      this.waiting = null;
    });
  }

  private next(): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  static async start(threads: number): Promise<TorchAdam | null> {
    try {
      execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
    } catch {
      return null;
    }
    const child = spawn('/usr/bin/python3', [
      join(__dirname, 'torch_cpu_adam.py'),
      String(N),
      'serve',
      String(threads),
    ]);
    const t = new TorchAdam(child);
    if ((await t.next()) !== 'ready') throw new Error('torch_cpu_adam.py did not start');
    return t;
  }

  async step(): Promise<number> {
    this.child.stdin.write('step\n');
    return Number(await this.next());
  }

  close(): void {
    this.child.stdin.end('quit\n');
  }
}

async function main(): Promise<void> {
  const engine = Engine.open({ backend: 'cpu' });
  const gradValues = randn(N, 0.01);
  const initValues = randn(N, 0.1);
  const grads = new Map<DType, Buffer>([['fp32', Buffer.from(gradValues.buffer)]]);
  const inits = new Map<DType, Buffer>([['fp32', Buffer.from(initValues.buffer)]]);
  for (const d of ['fp16', 'bf16'] as const) {
    grads.set(d, encode(gradValues, d));
    inits.set(d, encode(initValues, d));
  }
  const probeMs = await engine.bandwidthProbe(N, ITERS);
  const torch = await TorchAdam.start(engine.threads);
  const torchTimes: number[] = [];
  const probeGbps = (28 * N) / probeMs / 1e6;
  const cases: [OptimizerName, 'fp32' | 'blockwise8' | 'static8', DType][] = [
    ['adam', 'fp32', 'fp32'],
    ['adam', 'blockwise8', 'fp32'],
    ['lion', 'fp32', 'fp32'],
    ['lion', 'blockwise8', 'fp32'],
    ['sgd', 'fp32', 'fp32'],
    ['sgd', 'blockwise8', 'fp32'],
    ['adam', 'fp32', 'fp16'],
    ['adam', 'fp32', 'bf16'],
    ['adam', 'blockwise8', 'fp16'],
    ['adam', 'blockwise8', 'bf16'],
    ['adam', 'static8', 'fp32'],
  ];
  const staging = new Map<DType, GradientBuffer>(); // one per dtype, reused by every case
  const plain = Buffer.allocUnsafeSlow(4 * N);
  const stageMs: number[] = [];
  const copyMs: number[] = [];
  const results: {
    optimizer: OptimizerName;
    mode: string;
    dtype: string;
    gradient: string;
    ms: number;
    gbps: number;
  }[] = [];
  for (const [opt, mode, dtype] of cases) {
    const grad = grads.get(dtype)!;
    if (!staging.has(dtype)) staging.set(dtype, new GradientBuffer(N, dtype));
    const staged = staging.get(dtype)!;
    const chunks: Buffer[] = [];
    for (let at = 0; at < grad.length; at += CHUNK_BYTES) chunks.push(grad.subarray(at, at + CHUNK_BYTES));
    const elem = dtype === 'fp32' ? 4 : 2;
    const p = engine.createParam({
      name: `${opt}-${mode}-${dtype}`,
      shape: [N],
      dtype,
      config: { name: opt, optimBits: mode === 'fp32' ? 32 : 8, blockWise: mode !== 'static8', lr: 1e-4 },
    });
    await p.write(0, inits.get(dtype)!);
    await engine.step([{ param: p, grad, gradDtype: dtype }]); // warm-up: first touch of the state pages
    const times = { buffer: [] as number[], staged: [] as number[] };
    for (let i = 0; i < ITERS; ++i) {
      let t0 = process.hrtime.bigint();
      await engine.step([{ param: p, grad, gradDtype: dtype }]);
      times.buffer.push(msSince(t0));
      if (dtype === 'fp32') {
        // the staging figures compare fp32 only
        t0 = process.hrtime.bigint();
        for (let c = 0; c < chunks.length; c++) chunks[c].copy(plain, c * CHUNK_BYTES);
        copyMs.push(msSince(t0));
      }
      t0 = process.hrtime.bigint();
      staged.reset();
      for (let c = 0; c < chunks.length; c++) staged.write((c * CHUNK_BYTES) / elem, chunks[c]);
      if (dtype === 'fp32') stageMs.push(msSince(t0));
      t0 = process.hrtime.bigint();
      await engine.step([{ param: p, grad: staged }]);
      times.staged.push(msSince(t0));
      if (torch && opt === 'adam' && dtype === 'fp32' && mode !== 'static8') torchTimes.push(await torch.step());
    }
    for (const gradient of ['buffer', 'staged'] as const) {
      const ms = median(times[gradient]);
      results.push({
        optimizer: opt,
        mode,
        dtype,
        gradient,
        ms,
        gbps: (bytesPerParam(opt, mode, dtype) * N) / ms / 1e6,
      });
    }
    p.free();
  }
  torch?.close();
  const torchMs = torch ? median(torchTimes) : null;
  const find = (mode: string, gradient: string) =>
    results.find((r) => r.optimizer === 'adam' && r.mode === mode && r.dtype === 'fp32' && r.gradient === gradient)!;
  const adam32 = find('fp32', 'staged');
  const adam8 = find('blockwise8', 'staged');
  const adam32b = find('fp32', 'buffer');
  const adam8b = find('blockwise8', 'buffer');
  const stage = median(stageMs);
  const copy = median(copyMs);
  console.log(`qstep CPU backend, ${N} fp32 parameters, ${engine.threads} threads, median of ${ITERS} steps`);
  console.log(`bandwidth probe (Adam access pattern): ${probeMs.toFixed(2)} ms = ${probeGbps.toFixed(1)} GB/s`);
  console.log('optimizer  mode       dtype gradient      ms      GB/s   vs probe');
  for (const r of results) {
    console.log(
      `${r.optimizer.padEnd(10)} ${r.mode.padEnd(10)} ${r.dtype.padEnd(5)} ${r.gradient.padEnd(8)} ` +
        `${r.ms.toFixed(2).padStart(7)} ` +
        `${r.gbps.toFixed(1).padStart(8)}   ${((r.gbps / probeGbps) * 100).toFixed(0).padStart(4)}%`,
    );
  }
  console.log(
    `staging ${(4 * N) / CHUNK_BYTES} chunks of 1 MiB into a GradientBuffer (copy + check): ` +
      `${stage.toFixed(2)} ms; plain Buffer.copy of the same chunks: ${copy.toFixed(2)} ms (${(stage / copy).toFixed(2)}x)`,
  );
  console.log(
    `adam fp32 at ${((adam32.gbps / probeGbps) * 100).toFixed(0)}% of the probe's bandwidth with staged ` +
      `gradients (${((adam32b.gbps / probeGbps) * 100).toFixed(0)}% when the step checks a Buffer itself); ` +
      `blockwise8 / fp32 time = ${(adam8.ms / adam32.ms).toFixed(2)}x (${(adam8b.ms / adam32b.ms).toFixed(2)}x)`,
  );
  if (torchMs !== null) {
    console.log(
      `torch CPU Adam (median of ${torchTimes.length} steps interleaved with the Adam cases): ` +
        `${torchMs.toFixed(2)} ms; speedup fp32 ${(torchMs / adam32.ms).toFixed(1)}x ` +
        `(${(torchMs / adam32b.ms).toFixed(1)}x), blockwise8 ${(torchMs / adam8.ms).toFixed(1)}x ` +
        `(${(torchMs / adam8b.ms).toFixed(1)}x)`,
    );
  } else {
    console.log('torch CPU Adam: python3-torch not found, baseline skipped');
  }
  const out = join(__dirname, 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    join(out, 'kernels.json'),
    JSON.stringify(
      {
        params: N,
        threads: engine.threads,
        bandwidth_probe_gbps: probeGbps,
        torch_adam_ms: torchMs,
        staging_ms: stage,
        staging_plain_copy_ms: copy,
        results,
      },
      null,
      2,
    ) + '\n',
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
