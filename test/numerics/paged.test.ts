// Paged state (docs/math.md §14, D11, issue 3): on the CPU backend state tensors of at least 100000 elements can live in a
// file-backed mapping in `pagedDir`; the memory accounting says which bytes are paged; numerics are those of
// ordinary state (checked against the reference, with save/load round trips across paged and ordinary
// parameters); and with `pagedBudgetBytes` a paged state larger than the budget works and keeps no more than the
// budget resident after each step.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DType, Engine, OptimizerConfig } from '../../native/lib';
import { assertBytesEqual, check } from '../helpers/compare';
import { encode, u8Array } from '../helpers/dtype';
import { openCpuEngine, qstep } from '../helpers/engine';
import { rngFor } from '../helpers/random';
import { runProtocol, Twin } from './protocol';
import { MODES, type ModeSpec } from './registry';

const mode = (id: ModeSpec['id']): ModeSpec => MODES.find((m) => m.id === id)!;

describe('paged state (docs/math.md §14, D11)', () => {
  let dir: string;
  let engine: Engine;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'qstep-paged-'));
    engine = openCpuEngine({ pagedDir: dir });
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('pages state tensors of >= 100000 elements only, and the accounting says so', () => {
    const { constants } = qstep();
    check(
      constants.pagedMinElements === 100000,
      `pagedMinElements ${constants.pagedMinElements}, docs/math.md T27 says 100000`,
    );
    const cases: [number[], OptimizerConfig, boolean][] = [
      [[400, 250], { name: 'adam', paged: true }, true],
      [[99999], { name: 'adam', paged: true }, false],
      [[400, 250], { name: 'adam', paged: false }, false],
      [[400, 256], { name: 'adam', optimBits: 8, paged: true }, true],
      [[400, 256], { name: 'ademamix', optimBits: 8, blockWise: false, paged: true }, true],
      [[400, 256], { name: 'lion', paged: true }, true],
    ];
    for (const [shape, config, pagedWanted] of cases) {
      const p = engine.createParam({ name: 'p', shape, dtype: 'fp32', config });
      try {
        const m = p.memory();
        const label = `${config.name} ${p.mode} [${shape.join('x')}] paged=${config.paged}`;
        check(m.paged === (pagedWanted ? m.state : 0), `${label}: memory().paged ${m.paged}, state ${m.state}`);
        check(m.pagedResident <= m.paged, `${label}: pagedResident ${m.pagedResident} > paged ${m.paged}`);
        const n = shape.reduce((a, b) => a * b, 1);
        const perElement = p.mode === 'fp32' ? 4 : 1;
        const rows = config.name === 'ademamix' ? 3 : config.name === 'lion' ? 1 : 2;
        check(m.state === rows * n * perElement, `${label}: state bytes ${m.state}, want ${rows * n * perElement}`);
        check(m.fp32StateEquivalent === rows * n * 4, `${label}: fp32StateEquivalent ${m.fp32StateEquivalent}`);
      } finally {
        p.free();
      }
    }
  });

  const runs: [OptimizerConfig, ModeSpec['id'], DType][] = [
    [{ name: 'adam', weightDecay: 0.01 }, 'blockwise8-256', 'bf16'],
    [{ name: 'lion', weightDecay: 0.01 }, 'fp32', 'fp32'],
    [{ name: 'rmsprop', betas: [0.9], weightDecay: 0.01 }, 'static8', 'fp16'],
  ];
  for (const [config, modeId, dtype] of runs) {
    it(`${config.name} ${modeId} ${dtype} on paged state matches the reference, with save/load round trips`, async () => {
      const m = mode(modeId);
      await runProtocol(engine, {
        label: `paged ${config.name} ${modeId} ${dtype}`,
        config: { ...config, ...m.layout, paged: true },
        mode: m,
        dtype,
        shape: [400, 256],
        steps: 8,
        saveAt: [2, 5],
      });
    });
  }

  it('state moves bit-exactly between paged and ordinary parameters', async () => {
    const rng = rngFor('paged cross import');
    const shape = [400, 256];
    const n = 102400;
    const base: OptimizerConfig = { name: 'adam', optimBits: 8 };
    const a = engine.createParam({ name: 'a', shape, dtype: 'fp32', config: { ...base, paged: true } });
    const b = engine.createParam({ name: 'b', shape, dtype: 'fp32', config: { ...base, paged: false } });
    const c = engine.createParam({ name: 'c', shape, dtype: 'fp32', config: { ...base, paged: true } });
    try {
      check(a.memory().paged > 0 && b.memory().paged === 0, 'paged flags');
      await a.write(0, encode(rng.randn(n, 0.1), 'fp32'), 'fp32');
      for (let t = 0; t < 3; t++) {
        await engine.step([{ param: a, grad: encode(rng.randn(n, 0.01), 'fp32'), gradDtype: 'fp32' }], 'error');
      }
      const sa = await a.exportState();
      await b.importState(sa);
      const sb = await b.exportState();
      await c.importState(sb);
      const sc = await c.exportState();
      for (const [k, v] of Object.entries(sa.tensors)) {
        assertBytesEqual(`paged -> ordinary: ${k}`, u8Array(sb.tensors[k].data), u8Array(v.data));
        assertBytesEqual(`ordinary -> paged: ${k}`, u8Array(sc.tensors[k].data), u8Array(v.data));
      }
    } finally {
      a.free();
      b.free();
      c.free();
    }
  });

  it('a paged state larger than the in-memory budget (pagedBudgetBytes) steps correctly and stays within it', async () => {
    const budget = 256 * 1024;
    const small = openCpuEngine({ pagedDir: dir, pagedBudgetBytes: budget });
    const label = 'paged budget adam fp32';
    const rng = rngFor(label);
    // fp32 Adam state of 512 x 512: 2 x 4 x 262144 bytes = 2 MiB, 8x the budget.
    const twin = await Twin.create(
      small,
      {
        label,
        config: { name: 'adam', paged: true, weightDecay: 0.01 },
        mode: mode('fp32'),
        dtype: 'fp32',
        shape: [512, 512],
        saveAt: [2],
      },
      rng,
    );
    try {
      for (let t = 1; t <= 5; t++) {
        const g = twin.gradient(rng, t);
        const out = await small.step([twin.item(g)], 'error');
        // The budget holds after each step (reading the state back for the comparison pages it in again).
        const m = twin.param.memory();
        check(
          m.paged === m.state && m.state === 2 * 4 * 262144,
          `${label} step ${t}: paged ${m.paged} of state ${m.state}`,
        );
        check(
          m.pagedResident <= budget,
          `${label} step ${t}: ${m.pagedResident} paged bytes resident after the step, ` + `budget ${budget}`,
        );
        await twin.verify(g, out.results[0]);
      }
    } finally {
      twin.free();
    }
  });
});
