// LAMB and LARS update-norm clipping (docs/math.md §11, D7) in every mode: the 16.1 LAMB test (max_unorm is stored and
// changes the step), updateScale < 1 exactly when ||u|| exceeds max_unorm*||p|| (and equal to the reference's
// factor), 1 when it does not, and zero-norm parameters never move. The per-step unorm and updateScale checks of
// the registry runs complement these.
import { expect } from 'chai';
import type { Engine, OptimizerName } from '../../native/lib';
import { check, checkScalar } from '../helpers/compare';
import { decode, encode, roundArray } from '../helpers/dtype';
import { openCpuEngine } from '../helpers/engine';
import { rngFor } from '../helpers/random';
import { newRefState, refStep } from '../reference';
import { refHyperOf, runProtocol } from './protocol';
import { MODES, type ModeSpec } from './registry';

const MODE_IDS: ModeSpec['id'][] = ['fp32', 'blockwise8-256', 'blockwise8-2048', 'static8'];

describe('LAMB / LARS trust ratio (docs/math.md §11, D7)', () => {
  let engine: Engine;
  before(() => {
    engine = openCpuEngine();
  });

  for (const modeId of MODE_IDS) {
    it(`lamb ${modeId}: docs/math.md §16.1 test: max_unorm stored; 1e-4 and 10.0 give different steps on 128x128, lr 0.1`, async () => {
      const mode = MODES.find((m) => m.id === modeId)!;
      const rng = rngFor(`lamb 16.1 ${modeId}`);
      const n = 128 * 128;
      const p0 = roundArray('fp32', rng.randn(n, 0.1));
      const g = roundArray('fp32', rng.randn(n, 5));
      const after: Float64Array[] = [];
      for (const maxUnorm of [1e-4, 10.0]) {
        const config = { name: 'lamb' as const, lr: 0.1, maxUnorm, ...mode.layout };
        const p = engine.createParam({ name: 'w', shape: [128, 128], dtype: 'fp32', config });
        try {
          expect(p.layout.maxUnorm, 'max_unorm stored at creation').to.equal(maxUnorm);
          await p.write(0, encode(p0, 'fp32'), 'fp32');
          const out = await engine.step([{ param: p, grad: encode(g, 'fp32'), gradDtype: 'fp32' }], 'error');
          const ref = refStep('lamb', p0.slice(), g, newRefState('lamb', n, 100), refHyperOf(config));
          checkScalar(
            `lamb ${modeId} max_unorm ${maxUnorm}: updateScale`,
            out.results[0].updateScale,
            ref.updateScale,
            0,
            1e-4,
          );
          if (maxUnorm === 1e-4)
            check(out.results[0].updateScale < 1e-3, `max_unorm 1e-4: updateScale ${out.results[0].updateScale}`);
          after.push(decode(await p.read(0, n, 'fp32'), 'fp32'));
        } finally {
          p.free();
        }
      }
      let differ = 0;
      for (let i = 0; i < n; i++) if (after[0][i] !== after[1][i]) differ++;
      check(differ > n / 2, `lamb ${modeId}: only ${differ} of ${n} parameters differ between max_unorm 1e-4 and 10`);
    });

    for (const name of ['lamb', 'lars'] as OptimizerName[]) {
      it(`${name} ${modeId}: updateScale < 1 when clipping triggers, exactly 1 when max_unorm is generous`, async () => {
        const mode = MODES.find((m) => m.id === modeId)!;
        for (const maxUnorm of [name === 'lamb' ? 0.05 : 0.005, 1e4]) {
          const scales: number[] = [];
          await runProtocol(engine, {
            label: `${name} ${modeId} max_unorm ${maxUnorm}`,
            mode,
            dtype: 'fp32',
            shape: [4097],
            steps: 8,
            saveAt: [3],
            config: {
              name,
              ...mode.layout,
              lr: name === 'lamb' ? 1e-2 : 0.05,
              ...(name === 'lars' ? { betas: [0.9] } : {}),
              maxUnorm,
              weightDecay: 0.01,
            },
            afterStep: ({ res }) => {
              scales.push(res.updateScale);
            },
          });
          const ok = maxUnorm > 1 ? scales.every((u) => u === 1) : scales.every((u) => u > 0 && u < 1);
          check(ok, `${name} ${modeId} max_unorm ${maxUnorm}: updateScale per step ${scales.join(', ')}`);
        }
      });

      it(`${name} ${modeId}: a zero-norm parameter never moves (updateScale 0)`, async () => {
        const mode = MODES.find((m) => m.id === modeId)!;
        const rng = rngFor(`${name} zero norm ${modeId}`);
        const config = { name, ...mode.layout, weightDecay: 0.01, ...(name === 'lars' ? { betas: [0.9] } : {}) };
        const p = engine.createParam({ name: 'bias', shape: [4096], dtype: 'bf16', config });
        try {
          for (let t = 1; t <= 4; t++) {
            const g = roundArray('bf16', rng.randn(4096, 0.01));
            const out = await engine.step([{ param: p, grad: encode(g, 'bf16'), gradDtype: 'bf16' }], 'error');
            check(
              out.results[0].updateScale === 0,
              `${name} ${modeId} step ${t}: updateScale ${out.results[0].updateScale}, want 0`,
            );
            const v = decode(await p.read(0, 4096, 'fp32'), 'fp32');
            check(
              v.every((x) => x === 0),
              `${name} ${modeId} step ${t}: a zero-initialized parameter moved`,
            );
          }
        } finally {
          p.free();
        }
      });
    }
  }
});
