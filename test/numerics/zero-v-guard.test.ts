// The 8-bit zero-v guard (docs/math.md §19). An element whose second moment falls below its block's smallest code
// decodes v = 0 while its momentum survives; when its gradient then goes to 0, bnb's arithmetic throws it by about
// lr * m / eps. The reproduction of the issue (256 weights at 0, step 1 g[0] = 1, g[1] = 1e-4, step 2 all zeros)
// and a digits training task are run with the guard off (bnb's bits) and on (the default), against fp32 state.
// `npx mocha --no-config --import=tsx --timeout 600000 test/numerics/zero-v-guard.test.ts` prints the figures.
import type { Engine, OptimizerConfig, OptimizerName } from '../../native/lib';
import { check } from '../helpers/compare';
import { decode, encode, u8Array } from '../helpers/dtype';
import { openCpuEngine } from '../helpers/engine';
import { Rng, rngFor, SEED_NOTE } from '../helpers/random';
import { trainDigits } from './digits';

const MODES8: { id: string; layout: Partial<OptimizerConfig> }[] = [
  { id: 'blockwise8', layout: { optimBits: 8, blockWise: true } },
  { id: 'static8', layout: { optimBits: 8, blockWise: false } },
];
const GUARDED: OptimizerName[] = ['adam', 'adamw', 'lamb', 'ademamix'];

describe('8-bit zero-v guard (docs/math.md §19)', () => {
  let engine: Engine;
  before(() => {
    engine = openCpuEngine();
  });

  /** w[1] after the two steps; `scale` multiplies both gradients (the hazard does not depend on it). */
  async function reproduction(
    name: OptimizerName,
    layout: Partial<OptimizerConfig>,
    zeroVGuard?: boolean,
    scale = 1,
  ): Promise<number> {
    const config = {
      name,
      min8bitSize: 0,
      ...layout,
      ...(zeroVGuard === undefined ? {} : { zeroVGuard }),
    } as OptimizerConfig;
    const p = engine.createParam({ name: 'w', shape: [256], dtype: 'fp32', config });
    try {
      const g = new Float64Array(256);
      g[0] = scale;
      g[1] = 1e-4 * scale;
      await engine.step([{ param: p, grad: encode(g, 'fp32'), gradDtype: 'fp32' }], 'error');
      await engine.step([{ param: p, grad: encode(new Float64Array(256), 'fp32'), gradDtype: 'fp32' }], 'error');
      return decode(await p.read(1, 1), 'fp32')[0];
    } finally {
      p.free();
    }
  }

  for (const name of ['adam', 'ademamix'] as OptimizerName[]) {
    for (const mode of MODES8) {
      it(`${name} ${mode.id}: the reproduction stays within 10x of fp32 state with the guard, and is thrown without`, async () => {
        const scale = 10 ** (rngFor(`zv ${name} ${mode.id}`).uniform() * 2 - 1); // 0.1 .. 10: fresh each run
        const ref = await reproduction(name, { optimBits: 32 }, undefined, scale);
        const off = await reproduction(name, mode.layout, false, scale);
        const on = await reproduction(name, mode.layout, undefined, scale);
        console.log(
          `      ${name} ${mode.id} (gradient scale ${scale.toPrecision(3)}): w[1] fp32 ${ref.toPrecision(5)}, ` +
            `8-bit guard off ${off.toPrecision(5)}, guard on (default) ${on.toPrecision(5)}`,
        );
        check(
          Math.abs(off) > 20 * Math.abs(ref),
          `${name} ${mode.id}: without the guard w[1] = ${off}, fp32 ${ref}: ` +
            'the reproduction no longer shows the hazard, so this test proves nothing',
        );
        check(
          Math.abs(on) <= 10 * Math.abs(ref) && Math.abs(on) >= Math.abs(ref) / 10,
          `${name} ${mode.id}: with the guard w[1] = ${on}, fp32 ${ref}: not within 10x ${SEED_NOTE}`,
        );
      });
    }
  }

  it('off, the option changes no bit; on, it changes nothing where the state is consistent; fp32 state never', async () => {
    const rng = rngFor('zv-consistent');
    const n = 4096;
    for (const name of GUARDED) {
      for (const mode of [...MODES8, { id: 'fp32', layout: { optimBits: 32 } as Partial<OptimizerConfig> }]) {
        // Gradients of magnitude in [0.5, 1) x scale: no second moment is far enough below its block's largest to
        // decode as 0, so the guard must not act. Off and on must agree bit for bit, in parameters and state.
        const w = rng.randn(n, 0.1);
        const grads = Array.from({ length: 6 }, () => {
          const g = rng.rand(n);
          for (let i = 0; i < n; i++) g[i] = (g[i] < 0.5 ? -1 : 1) * (0.5 + 0.5 * rng.uniform()) * 0.01;
          return g;
        });
        const run = async (zeroVGuard: boolean) => {
          const p = engine.createParam({
            name: 'w',
            shape: [n],
            dtype: 'bf16',
            config: { name, min8bitSize: 0, ...mode.layout, zeroVGuard },
          });
          try {
            await p.write(0, encode(w, 'fp32'), 'fp32');
            for (const g of grads)
              await engine.step([{ param: p, grad: encode(g, 'fp32'), gradDtype: 'fp32' }], 'error');
            const s = await p.exportState();
            return [
              await p.read(),
              ...Object.keys(s.tensors)
                .sort()
                .map((k) => s.tensors[k].data),
            ];
          } finally {
            p.free();
          }
        };
        const off = await run(false);
        const on = await run(true);
        off.forEach((b, i) =>
          check(
            Buffer.compare(b, on[i]) === 0,
            `${name} ${mode.id}: tensor ${i} differs between guard off and on with consistent state`,
          ),
        );
      }
    }
  });

  it("digits (64-32-10 MLP, 10 epochs, lr 1e-2): with the guard no weight ends above 2x the fp32 run's largest", async function () {
    this.timeout(600000);
    const seed = rngFor('zv-digits').int(2 ** 31);
    const lines: string[] = [];
    for (const name of ['adam', 'ademamix'] as OptimizerName[]) {
      const base = { name, lr: 1e-2, min8bitSize: 0 } as OptimizerConfig;
      const fp = await trainDigits(engine, { ...base, optimBits: 32 }, new Rng(seed), 10);
      lines.push(
        `${name} fp32: max |w| ${fp.maxAbs.toFixed(3)}, ${fp.above1} above 1, accuracy ${fp.accuracy.toFixed(4)}`,
      );
      for (const mode of MODES8) {
        const off = await trainDigits(engine, { ...base, ...mode.layout, zeroVGuard: false }, new Rng(seed), 10);
        const on = await trainDigits(engine, { ...base, ...mode.layout }, new Rng(seed), 10);
        lines.push(
          `${name} ${mode.id}: guard off max |w| ${off.maxAbs.toFixed(3)} (${off.above1} above 1, accuracy ` +
            `${off.accuracy.toFixed(4)}); guard on ${on.maxAbs.toFixed(3)} (${on.above1} above 1, accuracy ${on.accuracy.toFixed(4)})`,
        );
        check(
          on.maxAbs <= 2 * fp.maxAbs,
          `${name} ${mode.id}: with the guard max |w| ${on.maxAbs} > 2 x fp32's ` +
            `${fp.maxAbs} (init seed ${seed}) ${SEED_NOTE}`,
        );
        check(on.accuracy >= fp.accuracy - 0.02, `${name} ${mode.id}: accuracy ${on.accuracy} vs fp32 ${fp.accuracy}`);
      }
    }
    for (const l of lines) console.log(`      ${l}`);
  });

  it('the state the guard leaves is the state bnb would store: it acts on the update, not on what is saved', async () => {
    const p = engine.createParam({
      name: 'w',
      shape: [256],
      dtype: 'fp32',
      config: { name: 'adam', min8bitSize: 0, optimBits: 8 },
    });
    const q = engine.createParam({
      name: 'w',
      shape: [256],
      dtype: 'fp32',
      config: { name: 'adam', min8bitSize: 0, optimBits: 8, zeroVGuard: false },
    });
    try {
      const g = new Float64Array(256);
      g[0] = 1;
      g[1] = 1e-4;
      for (const grad of [g, new Float64Array(256)]) {
        await engine.step(
          [
            { param: p, grad: encode(grad, 'fp32'), gradDtype: 'fp32' },
            { param: q, grad: encode(grad, 'fp32'), gradDtype: 'fp32' },
          ],
          'error',
        );
      }
      const a = await p.exportState();
      const b = await q.exportState();
      for (const k of Object.keys(b.tensors)) {
        check(
          Buffer.compare(u8Array(a.tensors[k].data), u8Array(b.tensors[k].data)) === 0,
          `state ${k} differs with the guard`,
        );
      }
    } finally {
      p.free();
      q.free();
    }
  });
});
