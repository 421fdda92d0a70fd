// tsx bench/gpu.ts [OUT.json] [--quick] — AdamW on the CUDA backend through the engine, as the service drives
// it: gradients arrive as host Buffers (uploaded through the pinned ring each step) and the step resolves a
// Promise. Beside each time, two baselines from the same run (house style 21): the backend's bandwidth probe (an
// fp32-Adam-shaped sweep on the device: read 4 x n floats, write 3) and the host->device copy of the gradient
// bytes alone, which bounds a step whose gradient comes from the host. Kernel-level times with the gradient
// already on the device are qstep-cuda-check --bench (native/tests); PyTorch's are bench/gpu_torch.py.
import { writeFileSync } from 'node:fs';
import { Engine, type DType } from '../native/lib';

const quick = process.argv.includes('--quick');
const outPath = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 'bench-node.json';

/** n values of N(0, scale^2) as `dtype` bytes: a 1M-value random pool tiled (fresh each run, cheap at 256M). */
function randomBuffer(n: number, dtype: DType, scale: number): Buffer {
  const poolN = 1 << 20;
  const pool = new Float32Array(poolN);
  for (let i = 0; i < poolN; i += 2) {
    const u = 1 - Math.random(),
      v = Math.random();
    const r = Math.sqrt(-2 * Math.log(u)) * scale;
    pool[i] = r * Math.cos(2 * Math.PI * v);
    pool[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  let tile: Buffer;
  if (dtype === 'fp32') {
    tile = Buffer.from(pool.buffer);
  } else {
    const h = new Uint16Array(poolN);
    const bits = new Uint32Array(pool.buffer);
    for (let i = 0; i < poolN; i++) h[i] = (bits[i] + 0x7fff + ((bits[i] >>> 16) & 1)) >>> 16; // bf16, RNE (finite)
    tile = Buffer.from(h.buffer);
  }
  const out = Buffer.allocUnsafe(n * (dtype === 'fp32' ? 4 : 2));
  for (let off = 0; off < out.length; off += tile.length)
    tile.copy(out, off, 0, Math.min(tile.length, out.length - off));
  return out;
}

async function main(): Promise<void> {
  let engine: Engine;
  try {
    engine = Engine.open({ backend: 'cuda' });
  } catch (e) {
    console.log(`bench/gpu.ts: ${e instanceof Error ? e.message : String(e)}; nothing to measure`);
    writeFileSync(outPath, JSON.stringify({ device: null, results: [] }));
    return;
  }
  const device = engine.deviceInfo();
  console.log(`qstep engine on ${device?.name}: AdamW, gradient from host memory`);
  console.log(
    `${'engine (grad from host)'.padEnd(34)} ${'step ms'.padStart(10)} ${'probe ms'.padStart(10)} ${'h2d ms'.padStart(10)}`,
  );
  const results = [];
  for (const n of quick ? [16 << 20] : [16 << 20, 256 << 20]) {
    const probeMs = await engine.bandwidthProbe(n, 10);
    // 256M: fp32 parameters only (each host gradient is 1 GiB; the device minutes are few).
    for (const dtype of (n > 64 << 20 ? ['fp32'] : ['fp32', 'bf16']) as DType[]) {
      const grad = randomBuffer(n, dtype, 1);
      // The host->device copy of the gradient alone: a step of a 1-element-state-free "optimizer" would be this.
      const h2d = engine.createParam({ name: 'h2d', shape: [n], dtype, config: { name: 'adamw' } });
      await h2d.write(0, grad);
      let t = performance.now();
      for (let i = 0; i < 3; i++) await h2d.write(0, grad);
      const h2dMs = (performance.now() - t) / 3;
      h2d.free();
      for (const mode of ['fp32', 'blockwise8'] as const) {
        const p = engine.createParam({
          name: 'w',
          shape: [n],
          dtype,
          config: { name: 'adamw', lr: 1e-3, weightDecay: 0.01, optimBits: mode === 'fp32' ? 32 : 8 },
        });
        await p.write(0, randomBuffer(n, dtype, 0.5));
        const item = [{ param: p, grad, gradDtype: dtype }];
        for (let i = 0; i < 2; i++) await engine.step(item);
        const reps = n > 64 << 20 ? 3 : 10;
        t = performance.now();
        for (let i = 0; i < reps; i++) await engine.step(item);
        const ms = (performance.now() - t) / reps;
        p.free();
        const label = `${mode} ${dtype} ${n >> 20}M`;
        console.log(
          `${label.padEnd(34)} ${ms.toFixed(3).padStart(10)} ${probeMs.toFixed(3).padStart(10)} ${h2dMs.toFixed(3).padStart(10)}`,
        );
        results.push({
          bench: 'engine-adamw-host-grad',
          mode,
          dtype,
          n,
          step_ms: ms,
          probe_ms: probeMs,
          h2d_ms: h2dMs,
        });
      }
    }
  }
  writeFileSync(outPath, JSON.stringify({ device: device?.name ?? null, results }, null, 1));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
