// Percentile clipping (docs/math.md §9, 16.3, D3): the first step is never clipped (all 100 history slots hold its norm);
// the history holds squared norms per parameter; and bnb's test: Adam lr 1e-3, percentile 5, 50 steps, gradients
// randn*0.1 + 0.01*i, an engine Adam with clipping against an engine Adam without clipping fed with pre-scaled
// gradients (the engine's scale is checked against the reference's percentile routine, rtol 1e-4, and the plain
// engine gets the gradient times that fp32 scale). 32-bit state: parameters at assert_close's default fp32
// tolerance (atol 1e-5, rtol 1.3e-6; the 16.1 tolerance of the dtype for 16-bit parameters), states atol 5e-5
// rtol 1e-4; 8-bit state: parameters atol 1e-4 rtol 1e-3, raw codes within 2. Runs for fp32 parameters in every
// mode and fp16 with fp32 state (bnb ran fp32/fp16). With 16-bit parameters a pre-scaled gradient must itself be
// rounded to the dtype while the clipping engine scales in fp32 (8-bit kernels), so two free-running 8-bit engines
// drift apart by quantization: that comparison measures the test's rounding, not the engine. Percentile clipping in
// every mode x dtype (D3) is covered by the registry's `clip` cases, checked against the reference every step.
import type { DType, Engine } from '../../native/lib';
import { assertClose, check, checkScalar } from '../helpers/compare';
import { decode, encode, f32Array, roundArray, u8Array } from '../helpers/dtype';
import { openCpuEngine } from '../helpers/engine';
import { rngFor } from '../helpers/random';
import { HISTORY_LENGTH, percentileScale } from '../reference';
import { runProtocol, TOL_32BIT } from './protocol';
import { MODES, type ModeSpec } from './registry';

const MODE_IDS: ModeSpec['id'][] = ['fp32', 'blockwise8-256', 'static8'];

describe('percentile clipping (docs/math.md §9, 16.3, D3)', () => {
  let engine: Engine;
  before(() => {
    engine = openCpuEngine();
  });

  for (const modeId of MODE_IDS) {
    it(`${modeId}: the first step is never clipped, even with a huge gradient; all 100 slots hold its squared norm`, async () => {
      const mode = MODES.find((m) => m.id === modeId)!;
      const rng = rngFor(`first step ${modeId}`);
      const p = engine.createParam({
        name: 'w',
        shape: [4096],
        dtype: 'fp32',
        config: { name: 'adam', ...mode.layout, percentileClipping: 0 },
      });
      try {
        const g = roundArray('fp32', rng.randn(4096, 1e3));
        const out = await engine.step([{ param: p, grad: encode(g, 'fp32'), gradDtype: 'fp32' }], 'error');
        check(out.results[0].gnormScale === 1, `first step gnormScale ${out.results[0].gnormScale}, want 1`);
        const hist = f32Array((await p.exportState()).tensors.gnorm_hist.data);
        let sq = 0;
        for (const x of g) sq += x * x;
        assertClose('history after the first step', hist, new Float64Array(HISTORY_LENGTH).fill(sq), 0, 1e-5);
        const out2 = await engine.step(
          [
            {
              param: p,
              grad: encode(
                g.map((x) => x * 2),
                'fp32',
              ),
              gradDtype: 'fp32',
            },
          ],
          'error',
        );
        checkScalar('second step, twice the norm, percentile 0', out2.results[0].gnormScale, 0.5, 0, 1e-5);
      } finally {
        p.free();
      }
    });

    for (const dtype of (modeId === 'fp32' ? ['fp32', 'fp16'] : ['fp32']) as DType[]) {
      it(`${modeId} ${dtype}: clipping equals feeding pre-scaled gradients (bnb's 16.3 test, 50 steps)`, async () => {
        const mode = MODES.find((m) => m.id === modeId)!;
        const label = `percentile ${modeId} ${dtype}`;
        const rng = rngFor(label);
        const shape = [64, 80];
        const n = 64 * 80;
        const mk = (pc: number) =>
          engine.createParam({
            name: `w${pc}`,
            shape,
            dtype,
            config: { name: 'adam', lr: 1e-3, ...mode.layout, percentileClipping: pc },
          });
        const clipped = mk(5);
        const plain = mk(100);
        try {
          const p0 = encode(roundArray(dtype, rng.randn(n, 0.1)), 'fp32');
          await clipped.write(0, p0, 'fp32');
          await plain.write(0, p0, 'fp32');
          const hist = new Float64Array(HISTORY_LENGTH);
          for (let i = 0; i < 50; i++) {
            const at = `${label} step ${i + 1}`;
            const g = roundArray(
              dtype,
              rng.randn(n, 0.1).map((x) => x + 0.01 * i),
            );
            const scale = percentileScale(hist, i + 1, g, 5);
            const a = await engine.step([{ param: clipped, grad: encode(g, dtype), gradDtype: dtype }], 'error');
            const gs = a.results[0].gnormScale;
            checkScalar(`${at}: gnormScale vs the reference routine`, gs, scale, 0, 1e-4);
            // Pre-scale with the fp32 scale the kernel used, so both engines see the same gradient values.
            const pre = roundArray(
              dtype,
              g.map((x) => Math.fround(x * Math.fround(gs))),
            );
            await engine.step([{ param: plain, grad: encode(pre, dtype), gradDtype: dtype }], 'error');
            const pa = decode(await clipped.read(0, n, 'fp32'), 'fp32');
            const pb = decode(await plain.read(0, n, 'fp32'), 'fp32');
            const sa = await clipped.exportState();
            const sb = await plain.exportState();
            if (mode.mode === 'fp32') {
              const [atol, rtol] = dtype === 'fp32' ? [1e-5, 1.3e-6] : TOL_32BIT[dtype];
              assertClose(`${at}: parameters`, pa, pb, atol, rtol);
              for (const k of ['state1', 'state2']) {
                assertClose(`${at}: ${k}`, f32Array(sa.tensors[k].data), f32Array(sb.tensors[k].data), 5e-5, 1e-4);
              }
            } else {
              assertClose(`${at}: parameters`, pa, pb, 1e-4, 1e-3);
              for (const k of ['state1', 'state2']) {
                assertClose(
                  `${at}: raw codes of ${k} within 2`,
                  u8Array(sa.tensors[k].data),
                  u8Array(sb.tensors[k].data),
                  2,
                  0,
                );
              }
            }
          }
        } finally {
          clipped.free();
          plain.free();
        }
      });
    }
  }

  it('4x4 functional test: history = squared norms, scales match, fp32 and fp16, 20 steps', async () => {
    const fp32 = MODES.find((m) => m.id === 'fp32')!;
    for (const dtype of ['fp32', 'fp16'] as DType[]) {
      await runProtocol(engine, {
        label: `percentile 4x4 ${dtype}`,
        config: { name: 'adam', percentileClipping: 5 },
        mode: fp32,
        dtype,
        shape: [4, 4],
        steps: 20,
        saveAt: [9],
        grad: { scale: 0.1, growth: 0.05 },
      });
    }
  });
});
