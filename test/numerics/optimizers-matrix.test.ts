// Every optimizer x state mode (fp32, blockwise8 256, blockwise8 2048, static8) x dtype (fp32, fp16, bf16) against
// the float64 reference with the protocol and tolerances of docs/math.md §16 (see protocol.ts), driven by the
// registry. QSTEP_MATRIX_FILTER=<substring> narrows the runs by label (e.g. "lion/" or "static8 bf16").
import type { Engine } from '../../native/lib';
import { openCpuEngine } from '../helpers/engine';
import { runProtocol } from './protocol';
import { plan, REGISTRY } from './registry';

const only = process.env.QSTEP_MATRIX_FILTER;
const verbose = process.env.QSTEP_VERBOSE === '1';

describe('optimizer matrix vs the float64 reference (docs/math.md §16)', function () {
  let engine: Engine;
  before(() => {
    engine = openCpuEngine();
  });

  for (const info of REGISTRY) {
    describe(info.name, () => {
      for (const r of plan((x) => x.info === info && (!only || x.label.includes(only)))) {
        it(`${r.vcase.id} ${r.mode.id} ${r.dtype} [${r.shape.join('x')}] ${r.steps} steps: ${r.vcase.note}`, async () => {
          const stats = await runProtocol(engine, {
            label: r.label,
            config: r.config,
            mode: r.mode,
            dtype: r.dtype,
            shape: r.shape,
            grad: r.vcase.grad,
            steps: r.steps,
            saveAt: [...r.saveAt],
          });
          if (verbose) console.log(`      ${r.label}: ${JSON.stringify(stats)}`);
        });
      }
    });
  }
});
