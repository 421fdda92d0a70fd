// skip_zeros (docs/math.md D5, D13): an element whose gradient as it arrived is +0.0 or -0.0 keeps its parameter and
// its state (in 8-bit modes its old decoded value, requantized against the new block scale), for every optimizer,
// AdEMAMix included, in every mode, with and without weight decay (no decay for skipped elements). The float64
// reference models the rule, including LAMB/LARS update norms without the skipped elements; on top of the
// protocol's comparison, every skipped element's parameter must be bit-identical to its previous value.
import type { DType, Engine, OptimizerName } from '../../native/lib';
import { check } from '../helpers/compare';
import { decode, encode, u8Array } from '../helpers/dtype';
import { openCpuEngine, qstep } from '../helpers/engine';
import { rngFor, type Rng } from '../helpers/random';
import { itChecked } from './known-issues';
import { runProtocol } from './protocol';
import { MODES, REGISTRY, type ModeSpec } from './registry';

const MODE_IDS: ModeSpec['id'][] = ['fp32', 'blockwise8-256', 'static8'];
const DTYPES: DType[] = ['fp32', 'fp16', 'bf16'];

/**
 * randn*0.01 with about 30% exact zeros, half of them -0.0 (zero compares as a value, D13); at step 1 the first 256
 * elements are all zero (an all-zero block).
 */
function sparseGrad(rng: Rng, n: number, t: number): Float64Array {
  const g = rng.randn(n, 0.01);
  for (let i = 0; i < n; i++) if (rng.uniform() < 0.3) g[i] = rng.uniform() < 0.5 ? 0 : -0;
  if (t === 1) g.fill(0, 0, 256);
  return g;
}

describe('skip_zeros keeps parameter and state of zero-gradient elements (docs/math.md D5)', () => {
  let engine: Engine;
  before(() => {
    engine = openCpuEngine();
  });

  let k = 0;
  for (const info of REGISTRY) {
    for (const modeId of MODE_IDS) {
      for (const wd of [0, 0.05]) {
        const dtype = DTYPES[k++ % DTYPES.length];
        const label = `skip_zeros ${info.name} ${modeId} ${dtype} wd ${wd}`;
        itChecked(`${info.name} ${modeId} ${dtype} wd ${wd}`, label, async () => {
          const mode = MODES.find((m) => m.id === modeId)!;
          const vcase = info.valid[0];
          const base = typeof vcase.config === 'function' ? vcase.config(mode) : vcase.config;
          const config = {
            name: info.name as OptimizerName,
            ...base,
            ...mode.layout,
            weightDecay: wd,
            skipZeros: true,
          };
          let prev: Float64Array | null = null;
          let lastGrad: Float64Array | null = null;
          let skipped = 0;
          await runProtocol(engine, {
            label,
            config,
            mode,
            dtype,
            shape: [4097],
            steps: 12,
            saveAt: [5],
            makeGrad: (rng, n, t) => (lastGrad = sparseGrad(rng, n, t)),
            afterStep: ({ t, pEngine }) => {
              if (prev && lastGrad) {
                for (let i = 0; i < pEngine.length; i++) {
                  if (lastGrad[i] !== 0) continue;
                  skipped++;
                  if (!Object.is(pEngine[i], prev[i])) {
                    check(
                      false,
                      `${label} step ${t}: element ${i} had a zero gradient but its parameter moved ` +
                        `from ${prev[i]} to ${pEngine[i]}`,
                    );
                  }
                }
              }
              prev = pEngine.slice();
            },
          });
          check(skipped > 0, `${label}: no element had a zero gradient`);
        });
      }
    }
  }

  for (const name of ['rmsprop', 'adagrad', 'adam', 'sgd'] as OptimizerName[]) {
    for (const modeId of ['blockwise8-256', 'static8'] as ModeSpec['id'][]) {
      const label = `skip_zeros fresh element ${name} ${modeId}`;
      itChecked(
        `${name} ${modeId}: an element skipped while its state is fresh keeps state 0 (decodes to 0); later ` +
          'small gradients keep the parameter finite',
        label,
        async () => {
          const { qmap } = qstep();
          const mode = MODES.find((m) => m.id === modeId)!;
          const rng = rngFor(label);
          const n = 4096;
          const p = engine.createParam({
            name: 'w',
            shape: [n],
            dtype: 'fp32',
            config: { name, ...mode.layout, skipZeros: true, lr: 0.01 },
          });
          try {
            await p.write(0, encode(rng.randn(n, 0.1), 'fp32'), 'fp32');
            const g = rng.randn(n, 0.01);
            const zeros = [5, 300, 4000];
            for (const i of zeros) g[i] = 0;
            await engine.step([{ param: p, grad: encode(g, 'fp32'), gradDtype: 'fp32' }], 'error');
            const snap = await p.exportState();
            const codes = u8Array(snap.tensors.state1.data);
            const scales = new Float32Array(
              u8Array(snap.tensors[mode.mode === 'static8' ? 'max1' : 'absmax1'].data).buffer,
            );
            const map = qmap(true);
            for (const i of zeros) {
              const scale = mode.mode === 'static8' ? scales[0] : scales[Math.floor(i / 256)];
              const v = map[codes[i]] * scale;
              check(v === 0, `${label}: skipped fresh element ${i} has code ${codes[i]} and decodes to ${v}, want 0`);
            }
            for (const i of zeros) g[i] = 1e-7;
            await engine.step([{ param: p, grad: encode(g, 'fp32'), gradDtype: 'fp32' }], 'error');
            const v = decode(await p.read(0, n, 'fp32'), 'fp32');
            for (const i of zeros)
              check(Number.isFinite(v[i]), `${label}: parameter p[${i}] = ${v[i]} after a 1e-7 gradient`);
          } finally {
            p.free();
          }
        },
      );
    }
  }
});
