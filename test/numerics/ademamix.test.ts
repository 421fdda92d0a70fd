// AdEMAMix specifics beyond the registry runs (docs/math.md §12, 16.2, D6): the state-dict round trip of bnb's test with an
// nn.Linear(256, 64)-like pair (weight 16384 elements -> 8-bit, bias 64 -> fp32 by min_8bit_size), identical
// continuation after reload, and two fresh loads of one checkpoint stepping identically (determinism).
import type { Engine, OptimizerConfig, StateSnapshot } from '../../native/lib';
import { assertBytesEqual, check } from '../helpers/compare';
import { decode, encode, u8Array } from '../helpers/dtype';
import { openCpuEngine } from '../helpers/engine';
import { rngFor } from '../helpers/random';
import { Twin } from './protocol';
import { MODES } from './registry';

describe('AdEMAMix state dict round trip (docs/math.md §16.2, bnb issue #1382)', () => {
  let engine: Engine;
  before(() => {
    engine = openCpuEngine();
  });

  for (const scheduled of [false, true]) {
    it(`Linear(256, 64): 10 steps, save, load, 10 more steps; two loads step identically${scheduled ? ' (scheduled)' : ''}`, async () => {
      const config: OptimizerConfig = {
        name: 'ademamix',
        optimBits: 8,
        ...(scheduled ? { tAlpha: 100, tBeta3: 100 } : {}),
      };
      const rng = rngFor(`ademamix state dict ${scheduled}`);
      const bw = MODES.find((m) => m.id === 'blockwise8-256')!;
      const fp = MODES.find((m) => m.id === 'fp32')!;
      const w = await Twin.create(
        engine,
        { label: 'ademamix weight', name: 'weight', config, mode: bw, dtype: 'fp32', shape: [64, 256] },
        rng,
      );
      const b = await Twin.create(
        engine,
        { label: 'ademamix bias', name: 'bias', config, mode: fp, dtype: 'fp32', shape: [64] },
        rng,
      );
      const twins = [w, b];
      const stepAll = async (t: number): Promise<Float64Array[]> => {
        const gs = twins.map((x) => x.gradient(rng, t));
        const out = await engine.step(
          twins.map((x, i) => x.item(gs[i])),
          'error',
        );
        for (let i = 0; i < twins.length; i++) await twins[i].verify(gs[i], out.results[i]);
        return gs;
      };
      try {
        for (let t = 1; t <= 10; t++) await stepAll(t);
        const snaps: StateSnapshot[] = [];
        const values: Buffer[] = [];
        for (const x of twins) {
          snaps.push(await x.param.exportState());
          values.push(await x.param.read(0, x.n, 'fp32'));
        }
        // Two fresh loads of the same checkpoint, one identical step each: identical parameters and states.
        const g = twins.map((x) => x.gradient(rng, 11));
        const results: Buffer[][] = [];
        for (let copy = 0; copy < 2; copy++) {
          const fresh = twins.map((x) =>
            engine.createParam({ name: `${x.param.name}#${copy}`, shape: x.spec.shape, dtype: 'fp32', config }),
          );
          try {
            for (let i = 0; i < twins.length; i++) {
              await fresh[i].write(0, values[i], 'fp32');
              await fresh[i].importState(snaps[i]);
              const back = await fresh[i].exportState();
              for (const [k, v] of Object.entries(snaps[i].tensors)) {
                check(
                  back.tensors[k] !== undefined &&
                    back.tensors[k].dtype === v.dtype &&
                    back.tensors[k].shape.join() === v.shape.join(),
                  `reloaded ${k}: dtype/shape`,
                );
                assertBytesEqual(
                  `reloaded ${twins[i].param.name}.${k}`,
                  u8Array(back.tensors[k].data),
                  u8Array(v.data),
                );
              }
            }
            await engine.step(
              fresh.map((p, i) => ({ param: p, grad: encode(g[i], 'fp32'), gradDtype: 'fp32' as const })),
              'error',
            );
            const r: Buffer[] = [];
            for (const p of fresh) {
              r.push(await p.read(0, p.numel, 'fp32'));
              for (const t of Object.values((await p.exportState()).tensors)) r.push(t.data);
            }
            results.push(r);
          } finally {
            for (const p of fresh) p.free();
          }
        }
        for (let i = 0; i < results[0].length; i++) {
          assertBytesEqual(
            `two loads of one checkpoint, buffer ${i} after one step`,
            u8Array(results[1][i]),
            u8Array(results[0][i]),
          );
        }
        // The original parameters continue: 10 more steps, no NaN/Inf, still matching the reference.
        for (let t = 11; t <= 20; t++) await stepAll(t);
        for (const x of twins) {
          const v = decode(await x.param.read(0, x.n, 'fp32'), 'fp32');
          check(v.every(Number.isFinite), `${x.param.name}: non-finite parameters after 20 steps`);
        }
      } finally {
        for (const x of twins) x.free();
      }
    });
  }
});
