// The points docs/math.md D13 settles that other suites do not already pin down: zero is compared as a value
// (subnormal gradients are not skipped), state imported into a paged parameter stays paged, a skipped step
// reports every parameter with its counter unchanged, and AdEMAMix's schedule is computed in double on the given
// betas (docs/math.md §12). skip_zeros for every optimizer, -0.0 and LAMB/LARS norms: skip-zeros.test.ts; overflow on
// narrowing: non-finite.test.ts; the percentile scale before any state: percentile.test.ts and the registry's
// clip cases in every mode.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Engine } from '../../native/lib';
import { check } from '../helpers/compare';
import { decode, encode, f32Array } from '../helpers/dtype';
import { openCpuEngine } from '../helpers/engine';
import { rngFor } from '../helpers/random';

/** docs/math.md §12 in float64 on the betas as given. */
function beta3At(b1: number, b3: number, t: number, tBeta3: number): number {
  const s = t / tBeta3;
  const l1 = Math.log(b1);
  const l3 = Math.log(b3);
  return Math.min(Math.exp((l1 * l3) / ((1 - s) * l3 + s * l1)), b3);
}

describe('D13 and the AdEMAMix schedule', () => {
  let engine: Engine;
  before(() => {
    engine = openCpuEngine();
  });

  it('AdEMAMix beta3 after one step of t_beta3 = 100 comes from the double-precision schedule (0.990900162)', async () => {
    const want = beta3At(0.9, 0.9999, 1, 100);
    check(Math.abs(want - 0.990900162) < 1e-9, `the reference schedule gives ${want}`);
    const fromFloats = beta3At(Math.fround(0.9), Math.fround(0.9999), 1, 100);
    check(Math.abs(fromFloats - 0.990898788) < 1e-9, `from fp32 betas the schedule gives ${fromFloats}`);
    const rng = rngFor('d13-ademamix-schedule');
    const n = 64;
    const g = rng.randn(n, 1);
    const p = engine.createParam({
      name: 'w',
      shape: [n],
      dtype: 'fp32',
      config: { name: 'ademamix', tBeta3: 100, weightDecay: 0 },
    });
    try {
      await engine.step([{ param: p, grad: encode(g, 'fp32'), gradDtype: 'fp32' }], 'error');
      const s1 = f32Array((await p.exportState()).tensors.state1.data);
      // m2 = 0 * beta3 + (1 - beta3) * g in fp32, with beta3 the schedule's value rounded to fp32 once.
      const oneMinus = Math.fround(1 - Math.fround(want));
      const wrong = Math.fround(1 - Math.fround(fromFloats));
      check(oneMinus !== wrong, 'the two schedules must be distinguishable in fp32');
      for (let i = 0; i < n; i++) {
        const gi = Math.fround(g[i]);
        check(
          s1[n + i] === Math.fround(oneMinus * gi),
          `m2[${i}] = ${s1[n + i]}, want ${Math.fround(oneMinus * gi)} ` +
            `(fp32 betas would give ${Math.fround(wrong * gi)})`,
        );
      }
    } finally {
      p.free();
    }
  });

  it('a subnormal gradient is not zero: skip_zeros does not skip it (fp32, fp16 and bf16 subnormals)', async () => {
    for (const [dtype, tiny] of [
      ['fp32', 1e-40],
      ['fp16', 2 ** -20],
      ['bf16', 1e-39],
    ] as const) {
      const p = engine.createParam({
        name: 'w',
        shape: [8],
        dtype,
        config: { name: 'sgd', lr: 1, betas: [0.9], skipZeros: true },
      });
      try {
        await p.write(0, encode(new Float64Array(8).fill(0.5), dtype), dtype);
        const g = new Float64Array(8);
        g[3] = tiny;
        g[5] = -0;
        await engine.step([{ param: p, grad: encode(g, dtype), gradDtype: dtype }], 'error');
        const buf = f32Array((await p.exportState()).tensors.state1.data);
        const stored = decode(encode([tiny], dtype), dtype)[0];
        check(
          stored !== 0 && buf[3] === Math.fround(stored),
          `${dtype}: buffer of the subnormal element is ${buf[3]}, want ${stored}`,
        );
        check(buf[5] === 0 && buf[1] === 0, `${dtype}: zero-gradient elements must keep buffer 0`);
      } finally {
        p.free();
      }
    }
  });

  it('state imported into a paged parameter stays paged (a restored model keeps its layout)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qstep-d13-'));
    const paged = openCpuEngine({ pagedDir: dir });
    const rng = rngFor('d13-paged');
    const n = 120000;
    const config = { name: 'adam' as const, optimBits: 8 as const, paged: true };
    const src = paged.createParam({ name: 'a', shape: [n], dtype: 'fp32', config: { name: 'adam', optimBits: 8 } });
    const dst = paged.createParam({ name: 'b', shape: [n], dtype: 'fp32', config });
    try {
      await src.write(0, encode(rng.randn(n, 0.1), 'fp32'), 'fp32');
      await paged.step([{ param: src, grad: encode(rng.randn(n, 0.01), 'fp32'), gradDtype: 'fp32' }], 'error');
      check(src.memory().paged === 0 && dst.memory().paged > 0, 'the source is unpaged, the destination paged');
      await dst.importState(await src.exportState());
      const m = dst.memory();
      check(m.paged === m.state && m.paged > 0, `after the import ${m.paged} of ${m.state} state bytes are paged`);
      const a = await src.exportState();
      const b = await dst.exportState();
      for (const k of Object.keys(a.tensors))
        check(Buffer.compare(a.tensors[k].data, b.tensors[k].data) === 0, `${k} differs`);
    } finally {
      src.free();
      dst.free();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a skipped step reports one result per parameter, counters unchanged', async () => {
    const rng = rngFor('d13-skipped');
    const ps = [1000, 5000, 300].map((n, i) =>
      engine.createParam({ name: `p${i}`, shape: [n], dtype: 'fp32', config: { name: 'lamb', optimBits: 8 } }),
    );
    try {
      for (const p of ps)
        await engine.step([{ param: p, grad: encode(rng.randn(p.numel, 0.01), 'fp32'), gradDtype: 'fp32' }]);
      const grads = ps.map((p) => rng.randn(p.numel, 0.01));
      grads[1][77] = NaN;
      const out = await engine.step(
        ps.map((p, i) => ({ param: p, grad: encode(grads[i], 'fp32'), gradDtype: 'fp32' as const })),
      );
      check(out.skipped && out.nonFinite.join() === '1', `outcome ${JSON.stringify(out)}`);
      check(
        out.results.length === ps.length && out.results.every((r) => r.step === 1),
        `a skipped step must list every parameter at step 1: ${JSON.stringify(out.results)}`,
      );
    } finally {
      for (const p of ps) p.free();
    }
  });
});
