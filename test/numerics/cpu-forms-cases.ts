// The cases of cpu-forms.test.ts, run identically in the test process (the CPU's default 8-bit loops: AVX-512 where
// present) and in a child started with QSTEP_CPU_ISA=avx2: each case steps one blockwise8 parameter a few times
// on seeded random gradients (some exactly zero, for skip_zeros) and reports a SHA-256 of its weights and every
// state tensor. Shapes cover full groups of four blocks, a partial last group and block, a one-element last block,
// a tensor spanning two thread-pool tasks, and both block sizes; optimizers cover one, two and three state streams.
import { createHash } from 'node:crypto';
import { Engine, type OptimizerName } from '../../native/lib';
import { encode } from '../helpers/dtype';
import { Rng } from '../helpers/random';

export interface FormCase {
  label: string;
  optimizer: OptimizerName;
  numel: number;
  blockSize: 256 | 2048;
  dtype: 'fp32' | 'fp16' | 'bf16';
  weightDecay: number;
  skipZeros: boolean;
}

export const FORM_CASES: FormCase[] = [];
const shapes: [number, 256 | 2048][] = [
  [32768, 256],
  [5000, 256],
  [4097, 256],
  [66560 + 300, 256],
  [1025, 256],
  [66560, 2048],
  [4097, 2048],
];
const optimizers: OptimizerName[] = ['adam', 'sgd', 'ademamix', 'lion', 'rmsprop'];
let i = 0;
for (const [numel, blockSize] of shapes) {
  for (const optimizer of optimizers) {
    const dtype = (['fp32', 'fp16', 'bf16'] as const)[i % 3];
    const weightDecay = i % 2 === 0 ? 0 : 0.05;
    const skipZeros = optimizer !== 'ademamix' && i % 3 === 1;
    FORM_CASES.push({
      label:
        `${optimizer} n=${numel} block ${blockSize} ${dtype} wd ${weightDecay}` + `${skipZeros ? ' skip_zeros' : ''}`,
      optimizer,
      numel,
      blockSize,
      dtype,
      weightDecay,
      skipZeros,
    });
    i++;
  }
}

/** Runs every case with inputs drawn from `seed`; returns label -> hex digest. */
export async function runFormCases(seed: number): Promise<Record<string, string>> {
  const engine = Engine.open({ backend: 'cpu' });
  const out: Record<string, string> = {};
  for (const c of FORM_CASES) {
    const rng = new Rng((seed ^ c.numel ^ (c.blockSize << 20)) >>> 0);
    const p = engine.createParam({
      name: 'w',
      shape: [c.numel],
      dtype: c.dtype,
      config: {
        name: c.optimizer,
        optimBits: 8,
        blockWise: true,
        blockSize: c.blockSize,
        lr: 1e-3,
        weightDecay: c.weightDecay,
        skipZeros: c.skipZeros,
      },
    });
    await p.write(0, encode(rng.randn(c.numel, 0.1), c.dtype), c.dtype);
    for (let t = 0; t < 5; t++) {
      const g = rng.randn(c.numel, 0.01 * (1 + t));
      for (let j = 0; j < c.numel; j += 1 + rng.int(9)) g[j] = 0;
      await engine.step([{ param: p, grad: encode(g, c.dtype), gradDtype: c.dtype }]);
    }
    const h = createHash('sha256');
    h.update(await p.read(0, c.numel, c.dtype));
    const snap = await p.exportState();
    for (const name of Object.keys(snap.tensors).sort()) h.update(name).update(snap.tensors[name].data);
    out[c.label] = h.digest('hex');
    p.free();
  }
  return out;
}
