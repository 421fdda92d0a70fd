// The engine against live torch.optim (PyTorch 1.13 from Debian, /usr/bin/python3) on the same fresh random inputs
// for 50 steps: Adam (wd 0), AdamW (wd 0.01), SGD momentum 0.9, RMSprop alpha 0.9 and Adagrad (the last three with
// coupled weight decay 0.01, which torch applies the same way, docs/math.md T2/D8), with fp32 state judged by docs/math.md §16.1 and
// blockwise8 by the re-synchronizing protocol of 16.2 (torch's state tensors and parameter are set to the
// engine's dequantized state and stored parameter before every step). The float64 reference is checked against
// torch the same way, so the oracle of the numeric suites is itself anchored to PyTorch.
//
// AdamW: bnb (and qstep) decay after the Adam step, torch before (docs/math.md T1): p(1-lr*wd) - lr*u versus
// (p - lr*u)(1-lr*wd), a difference of lr^2*wd*|u| <= 1e-8 per step with lr 1e-3, wd 0.01 and |u| <= ~1; over 50
// free-running steps at most 5e-7, inside the 16.1 fp32 atol of 1e-6 (and one step, 1e-8, under re-sync).
import type { DType, Engine, OptimizerConfig, Param } from '../../native/lib';
import { assertClose, check, closeStats, meanErrors } from '../helpers/compare';
import { decode, encode, f32Array, roundArray } from '../helpers/dtype';
import { openCpuEngine } from '../helpers/engine';
import { rngFor } from '../helpers/random';
import { newRefState, refStep } from '../reference';
import { decodeStates } from '../numerics/engine-state';
import { refHyperOf, TOL_32BIT } from '../numerics/protocol';
import { infoOf, MODES, type ModeSpec } from '../numerics/registry';
import { TorchProcess } from './torch-process';

type TorchName = 'adam' | 'adamw' | 'sgd' | 'rmsprop' | 'adagrad';

interface TorchCase {
  torch: TorchName;
  config: OptimizerConfig;
  /** torch.optim constructor arguments (passed to torch_runner.py). */
  hyper: Record<string, number | number[]>;
  /** torch state tensor names for the engine's state1 / state2. */
  states: string[];
}

const CASES: TorchCase[] = [
  {
    torch: 'adam',
    config: { name: 'adam', lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 },
    hyper: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 },
    states: ['exp_avg', 'exp_avg_sq'],
  },
  {
    torch: 'adamw',
    config: { name: 'adamw', lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 },
    hyper: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 },
    states: ['exp_avg', 'exp_avg_sq'],
  },
  {
    torch: 'sgd',
    config: { name: 'sgd', lr: 0.01, betas: [0.9], weightDecay: 0.01 },
    hyper: { lr: 0.01, momentum: 0.9, weightDecay: 0.01 },
    states: ['momentum_buffer'],
  },
  {
    torch: 'rmsprop',
    config: { name: 'rmsprop', lr: 0.01, betas: [0.9], eps: 1e-8, weightDecay: 0.01 },
    hyper: { lr: 0.01, alpha: 0.9, eps: 1e-8, weightDecay: 0.01 },
    states: ['square_avg'],
  },
  {
    torch: 'adagrad',
    config: { name: 'adagrad', lr: 0.01, eps: 1e-10, weightDecay: 0.01 },
    hyper: { lr: 0.01, eps: 1e-10, weightDecay: 0.01 },
    states: ['sum'],
  },
];

const STEPS = 50;
const SHAPE = [1024, 32];
const N = 1024 * 32;
const f32Buf = (a: ArrayLike<number>): Buffer => encode(a, 'fp32');

describe('PyTorch cross-check: engine and live torch.optim (docs/math.md §16.1, 16.2)', function () {
  let torch: TorchProcess;
  let engine: Engine;
  let session = 0;

  before(async () => {
    const started = await TorchProcess.start();
    torch = started.proc;
    console.log(`      (torch ${started.version})`);
    engine = openCpuEngine();
  });
  after(() => torch?.close());

  async function createTorch(c: TorchCase, p0: Float64Array): Promise<string> {
    const id = `s${session++}`;
    await torch.request({ cmd: 'create', id, optimizer: c.torch, hyper: c.hyper }, { params: f32Buf(p0) });
    return id;
  }

  for (const c of CASES) {
    it(`float64 reference vs torch.optim.${c.torch}: 50 steps, fp32 (16.1)`, async () => {
      const label = `reference vs torch ${c.torch}`;
      const rng = rngFor(label);
      const p0 = roundArray('fp32', rng.randn(N, 0.1));
      const id = await createTorch(c, p0);
      const pRef = p0.slice();
      const st = newRefState(c.config.name, N, 100);
      try {
        for (let t = 1; t <= STEPS; t++) {
          const g = roundArray('fp32', rng.randn(N, 0.01));
          refStep(c.config.name, pRef, g, st, refHyperOf(c.config));
          const r = await torch.request({ cmd: 'step', id }, { grad: f32Buf(g) });
          const at = `${label} step ${t}`;
          assertClose(`${at}: parameters`, pRef, f32Array(r.blobs.param), 1e-6, 1e-5, 15);
          c.states.forEach((name, k) => {
            assertClose(`${at}: ${name}`, k === 0 ? st.s1 : st.s2!, f32Array(r.blobs[`state.${name}`]), 1e-6, 1e-5);
          });
        }
      } finally {
        await torch.request({ cmd: 'free', id });
      }
    });
  }

  const modes: ModeSpec[] = MODES.filter((m) => m.id === 'fp32' || m.id === 'blockwise8-256');
  for (const c of CASES) {
    for (const mode of modes) {
      for (const dtype of ['fp32', 'fp16', 'bf16'] as DType[]) {
        it(`engine ${c.config.name} ${mode.id} ${dtype} vs torch.optim.${c.torch}: 50 steps (${mode.criteria})`, async () => {
          const label = `torch ${c.torch} ${mode.id} ${dtype}`;
          const rng = rngFor(label);
          const info = infoOf(c.config.name);
          const eightBit = mode.mode !== 'fp32';
          const p0 = roundArray(dtype, rng.randn(N, 0.1));
          const param: Param = engine.createParam({
            name: 'w',
            shape: SHAPE,
            dtype,
            config: { ...c.config, ...mode.layout },
          });
          const id = await createTorch(c, p0);
          try {
            check(param.mode === mode.mode, `${label}: parameter mode ${param.mode}`);
            await param.write(0, f32Buf(p0), 'fp32');
            let pPrev = p0;
            let statesPrev: Float64Array[] | null = null;
            for (let t = 1; t <= STEPS; t++) {
              const at = `${label} step ${t}`;
              const g = roundArray(dtype, rng.randn(N, 0.01));
              await engine.step([{ param, grad: encode(g, dtype), gradDtype: dtype }], 'error');
              // Re-synchronize torch: the engine's stored parameter (16-bit values, or under 16.2) and, under 16.2,
              // the engine's dequantized state.
              const blobs: Record<string, Buffer> = { grad: f32Buf(g) };
              if (eightBit || dtype !== 'fp32') blobs.param = f32Buf(pPrev);
              if (eightBit && statesPrev)
                c.states.forEach((name, k) => (blobs[`state.${name}`] = f32Buf(statesPrev![k])));
              const r = await torch.request({ cmd: 'step', id }, blobs);
              const pTorch = f32Array(r.blobs.param);
              const pEngine = decode(await param.read(0, N, 'fp32'), 'fp32');
              const snap = await param.exportState();
              const dec = decodeStates(snap, info.states, info.rows, N, mode.blockSize);
              const [atol, rtol] = TOL_32BIT[dtype];
              dec.forEach((d, k) => {
                const want = f32Array(r.blobs[`state.${c.states[k]}`]);
                if (!eightBit) {
                  assertClose(`${at}: ${d.name} vs ${c.states[k]}`, d.values, want, atol, rtol, 0);
                } else {
                  const mism = closeStats(d.values, want, 3e-3, 1e-3).violations;
                  check(
                    mism < 20,
                    `${at}: ${d.name} dequantized vs torch ${c.states[k]}: ${mism} outside atol 3e-3 rtol 1e-3`,
                  );
                }
              });
              assertClose(`${at}: parameters vs torch`, pEngine, pTorch, atol, rtol, 15);
              if (eightBit) {
                const [mAbs, mRel] = dtype === 'bf16' ? [1.7e-4, 1.6e-3] : [6e-5, 6e-4];
                const me = meanErrors(pEngine, pTorch, 1e-9);
                check(
                  me.abs < mAbs && me.rel < mRel,
                  `${at}: parameter mean errors vs torch abs ${me.abs} rel ${me.rel} ` + `(16.2: < ${mAbs}, < ${mRel})`,
                );
              }
              pPrev = pEngine;
              statesPrev = dec.map((d) => d.values.map((x) => (x === 0 ? 0 : x)));
            }
          } finally {
            param.free();
            await torch.request({ cmd: 'free', id });
          }
        });
      }
    }
  }
});
