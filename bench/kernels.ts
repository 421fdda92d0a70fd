// npm run bench:kernels — optimizer step time on the CPU backend for 16M fp32 parameters, beside two baselines
// measured in the same run: a memory sweep with Adam's access pattern (read 4 arrays, write 3: the roofline of an
// fp32 Adam step) and PyTorch's CPU Adam (when Debian's python3-torch is present).
//
// Bytes a step must move per parameter (fp32 params and grads): Adam fp32 state 28 (p r/w 8, g 4, m r/w 8,
// v r/w 8); Adam blockwise8 16 (p 8, g 4, 2 codes r/w 4) plus 16 bytes of scales per block of 256;
// Lion/SGD fp32 20; Lion/SGD blockwise8 14 plus 8 per block.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../native/lib';
import type { OptimizerName } from '../native/lib';

const N = Number(process.env.QSTEP_BENCH_PARAMS ?? 16 * 1024 * 1024);
const ITERS = Number(process.env.QSTEP_BENCH_ITERS ?? 10);

function randn(n: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - Math.random(), v = Math.random();
    const r = Math.sqrt(-2 * Math.log(u)) * scale;
    a[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) a[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return a;
}

function bytesPerParam(opt: OptimizerName, mode: string): number {
  const twoState = opt === 'adam';
  if (mode === 'fp32') return twoState ? 28 : 20;
  return (twoState ? 16 : 14) + (twoState ? 8 : 4) * 2 / 256;
}

function torchAdamMs(threads: number): number | null {
  try {
    const out = execFileSync('/usr/bin/python3', [join(__dirname, 'torch_cpu_adam.py'), String(N), '10',
      String(threads)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return Number(out.trim());
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  const engine = Engine.open({ backend: 'cpu' });
  const grad = Buffer.from(randn(N, 0.01).buffer);
  const init = Buffer.from(randn(N, 0.1).buffer);
  const probeMs = await engine.bandwidthProbe(N, ITERS);
  const probeGbps = (28 * N) / probeMs / 1e6;
  const cases: [OptimizerName, 'fp32' | 'blockwise8'][] = [
    ['adam', 'fp32'], ['adam', 'blockwise8'], ['lion', 'fp32'], ['lion', 'blockwise8'], ['sgd', 'fp32'],
    ['sgd', 'blockwise8'],
  ];
  const results = [];
  for (const [opt, mode] of cases) {
    const p = engine.createParam({
      name: `${opt}-${mode}`, shape: [N], dtype: 'fp32',
      config: { name: opt, optimBits: mode === 'fp32' ? 32 : 8, lr: 1e-4 },
    });
    await p.write(0, init);
    await engine.step([{ param: p, grad, gradDtype: 'fp32' }]); // warm-up: first touch of the state pages
    const times: number[] = [];
    for (let i = 0; i < ITERS; ++i) {
      const t0 = process.hrtime.bigint();
      await engine.step([{ param: p, grad, gradDtype: 'fp32' }]);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    const ms = times[Math.floor(times.length / 2)];
    results.push({ optimizer: opt, mode, dtype: 'fp32', ms, gbps: (bytesPerParam(opt, mode) * N) / ms / 1e6 });
    p.free();
  }
  const torchMs = torchAdamMs(engine.threads);
  const adam32 = results.find((r) => r.optimizer === 'adam' && r.mode === 'fp32')!;
  const adam8 = results.find((r) => r.optimizer === 'adam' && r.mode === 'blockwise8')!;
  console.log(`qstep CPU backend, ${N} fp32 parameters, ${engine.threads} threads, median of ${ITERS} steps`);
  console.log(`bandwidth probe (Adam access pattern): ${probeMs.toFixed(2)} ms = ${probeGbps.toFixed(1)} GB/s`);
  console.log('optimizer  mode        ms      GB/s   vs probe');
  for (const r of results) {
    console.log(`${r.optimizer.padEnd(10)} ${r.mode.padEnd(10)} ${r.ms.toFixed(2).padStart(7)} ${r.gbps.toFixed(1)
      .padStart(8)}   ${(r.gbps / probeGbps * 100).toFixed(0).padStart(4)}%`);
  }
  console.log(`adam fp32 at ${(adam32.gbps / probeGbps * 100).toFixed(0)}% of the probe's bandwidth; ` +
    `blockwise8 / fp32 time = ${(adam8.ms / adam32.ms).toFixed(2)}x`);
  if (torchMs !== null) {
    console.log(`torch CPU Adam: ${torchMs.toFixed(2)} ms; speedup fp32 ${(torchMs / adam32.ms).toFixed(1)}x, ` +
      `blockwise8 ${(torchMs / adam8.ms).toFixed(1)}x`);
  } else {
    console.log('torch CPU Adam: python3-torch not found, baseline skipped');
  }
  const out = join(__dirname, 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'kernels.json'), JSON.stringify({
    params: N, threads: engine.threads, bandwidth_probe_gbps: probeGbps, torch_adam_ms: torchMs, results,
  }, null, 2) + '\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
