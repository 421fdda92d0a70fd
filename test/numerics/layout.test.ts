// Layout decisions and per-parameter configuration (docs/math.md §3.2, 3.3, 13, D10): the min_8bit_size test is a strict <
// on the full size and is recorded in the state; overrides are keyed by parameter name (8-bit for one parameter,
// fp32 for the others, a per-parameter lr) and resolved through resolveLayout/resolveHyper; per-step
// hyperparameters reach the kernels; each parameter keeps its own step counter (T28). Also the section 2 defaults
// and the registry's invalid configs.
import { expect } from 'chai';
import type { Engine, OptimizerConfig, OptimizerName } from '../../native/lib';
import { check } from '../helpers/compare';
import { expectEngineError, openCpuEngine, qstep } from '../helpers/engine';
import { rngFor } from '../helpers/random';
import { runProtocol, Twin } from './protocol';
import { MODES, REGISTRY, SPEC_DEFAULTS } from './registry';

const FP32 = MODES.find((m) => m.id === 'fp32')!;
const BW256 = MODES.find((m) => m.id === 'blockwise8-256')!;
const STATIC = MODES.find((m) => m.id === 'static8')!;

describe('configuration: defaults, validation, layout and overrides by name', () => {
  let engine: Engine;
  before(() => {
    engine = openCpuEngine();
  });

  it('resolves the section 2 defaults for every optimizer (lr, betas, eps, weight decay, alpha, max_unorm)', () => {
    const { resolveHyper, resolveLayout } = qstep();
    for (const info of REGISTRY) {
      const d = SPEC_DEFAULTS[info.name];
      const h = resolveHyper({ name: info.name });
      expect(
        { lr: h.lr, betas: h.betas, eps: h.eps, weightDecay: h.weightDecay, alpha: h.alpha },
        info.name,
      ).to.deep.equal({ lr: d.lr, betas: d.betas, eps: d.eps, weightDecay: d.weightDecay, alpha: d.alpha });
      expect(h.skipZeros).to.equal(false);
      const l = resolveLayout({ name: info.name }, undefined, 1 << 20);
      expect(
        {
          maxUnorm: l.maxUnorm,
          percentile: l.percentileClipping,
          blockSize: l.blockSize,
          min: l.min8bitSize,
          mode: l.mode,
        },
        info.name,
      ).to.deep.equal({ maxUnorm: d.maxUnorm, percentile: 100, blockSize: 256, min: 4096, mode: 'fp32' });
    }
  });

  for (const info of REGISTRY) {
    it(`${info.name}: rejects every invalid config of the registry with its error, naming the key`, async () => {
      const { resolveHyper, resolveLayout } = qstep();
      for (const bad of info.invalid) {
        const config = { name: info.name, ...bad.config } as OptimizerConfig;
        const why = `${info.name}/${bad.id}`;
        try {
          await expectEngineError(
            () => engine.createParam({ name: 'x', shape: [8192], dtype: 'fp32', config }),
            bad.code,
            bad.mentions,
          );
          await expectEngineError(
            () => {
              resolveLayout(config, undefined, 8192);
              resolveHyper(config);
            },
            bad.code,
            bad.mentions,
          );
          await expectEngineError(
            () =>
              engine.createParam({
                name: 'x',
                shape: [8192],
                dtype: 'fp32',
                config: { name: info.name },
                override: bad.config,
              }),
            bad.code,
            bad.mentions,
          );
        } catch (e) {
          throw new Error(`${why}: ${(e as Error).message}`, { cause: e });
        }
      }
    });
  }

  it('rejects an invalid per-step hyperparameter before anything changes', async () => {
    const p = engine.createParam({
      name: 'x',
      shape: [64],
      dtype: 'fp32',
      config: { name: 'sgd', lr: 0.01, betas: [0.9] },
    });
    try {
      const g = Buffer.alloc(256);
      await expectEngineError(
        () => engine.step([{ param: p, grad: g, gradDtype: 'fp32', hyper: { lr: -1 } }]),
        'INVALID_ARGUMENT',
        'lr',
      );
      check(p.step === 0, `step counter ${p.step} after a rejected step`);
    } finally {
      p.free();
    }
  });

  it('rejects unknown keys (a typo must not be silently ignored) in the config, an override and per-step changes', async () => {
    const bad = { name: 'adam', weight_decay: 0.1 } as unknown as OptimizerConfig;
    await expectEngineError(
      async () => engine.createParam({ name: 'a', shape: [8], dtype: 'fp32', config: bad }),
      'INVALID_ARGUMENT',
      'weight_decay',
    );
    await expectEngineError(
      async () =>
        engine.createParam({
          name: 'b',
          shape: [8],
          dtype: 'fp32',
          config: { name: 'adam' },
          override: { learning_rate: 1 } as never,
        }),
      'INVALID_ARGUMENT',
      'learning_rate',
    );
    const p = engine.createParam({ name: 'c', shape: [8], dtype: 'fp32', config: { name: 'adam' } });
    try {
      const g = Buffer.from(new Float32Array(8).fill(0.5).buffer);
      await expectEngineError(
        () => engine.step([{ param: p, grad: g, gradDtype: 'fp32', hyper: { lrr: 1 } as never }]),
        'INVALID_ARGUMENT',
        'lrr',
      );
      check(p.step === 0, `step counter ${p.step} after a rejected step`);
    } finally {
      p.free();
    }
  });

  it('min_8bit_size is a strict <: 4095 elements get fp32 state, 4096 get 8-bit; the choice is in the state', async () => {
    for (const [shape, mode] of [
      [[4095], FP32],
      [[64, 64], BW256],
      [[4097], BW256],
    ] as const) {
      const label = `min_8bit_size adam [${shape.join('x')}]`;
      await runProtocol(engine, {
        label,
        config: { name: 'adam', optimBits: 8, weightDecay: 0.01 },
        mode,
        dtype: 'fp32',
        shape: [...shape],
        steps: 6,
        saveAt: [2],
      });
      const p = engine.createParam({
        name: 'm',
        shape: [...shape],
        dtype: 'bf16',
        config: { name: 'lion', optimBits: 8 },
      });
      const snap = await p.exportState();
      check(
        p.mode === mode.mode && snap.mode === mode.mode,
        `${label}: mode ${p.mode}/${snap.mode}, want ${mode.mode}`,
      );
      check(
        snap.tensors.state1.dtype === (mode.mode === 'fp32' ? 'f32' : 'u8'),
        `${label}: state1 dtype ${snap.tensors.state1.dtype}`,
      );
      p.free();
    }
    const { resolveLayout } = qstep();
    expect(resolveLayout({ name: 'adam', optimBits: 8, min8bitSize: 10000 }, undefined, 9999).mode).to.equal('fp32');
    expect(resolveLayout({ name: 'adam', optimBits: 8, min8bitSize: 10000 }, undefined, 10000).mode).to.equal(
      'blockwise8',
    );
    expect(resolveLayout({ name: 'adam', optimBits: 8 }, { min8bitSize: 0 }, 1).mode).to.equal('blockwise8');
    expect(resolveLayout({ name: 'adam', optimBits: 8, blockWise: false }, undefined, 4096).mode).to.equal('static8');
  });

  it('overrides by name: 8-bit for one parameter, fp32 for the others, a per-parameter lr; own step counters', async () => {
    const { resolveHyper, resolveLayout } = qstep();
    const model: OptimizerConfig = { name: 'adam', lr: 1e-3, weightDecay: 0.01 };
    const overrides: Record<string, Parameters<typeof resolveHyper>[1]> = {
      'enc.weight': { optimBits: 8 },
      'dec.weight': { lr: 5e-3 },
      'emb.weight': { optimBits: 8, blockWise: false, weightDecay: 0 },
    };
    const shapes: Record<string, number[]> = {
      'enc.weight': [64, 96],
      'dec.weight': [64, 96],
      'emb.weight': [48, 100],
      'head.bias': [96],
    };
    const want: Record<string, typeof FP32> = {
      'enc.weight': BW256,
      'dec.weight': FP32,
      'emb.weight': STATIC,
      'head.bias': FP32,
    };
    for (const [name, shape] of Object.entries(shapes)) {
      const n = shape.reduce((a, b) => a * b, 1);
      expect(resolveLayout(model, overrides[name], n).mode, name).to.equal(want[name].mode);
    }
    expect(resolveHyper(model, overrides['dec.weight']).lr).to.equal(5e-3);
    expect(resolveHyper(model, overrides['enc.weight']).lr).to.equal(1e-3);
    expect(resolveHyper(model, overrides['dec.weight'], { lr: 7e-3 }).lr, 'per-step value wins').to.equal(7e-3);

    const rng = rngFor('overrides by name');
    const twins: Record<string, Twin> = {};
    for (const [name, shape] of Object.entries(shapes)) {
      twins[name] = await Twin.create(
        engine,
        {
          label: `override ${name}`,
          name,
          config: model,
          mode: want[name],
          dtype: 'bf16',
          shape,
          override: overrides[name],
          saveAt: [5],
        },
        rng,
      );
    }
    try {
      for (let t = 1; t <= 12; t++) {
        // head.bias gets a gradient only on even steps: its counter (and bias correction) lags behind (T28).
        const active = Object.keys(twins).filter((k) => k !== 'head.bias' || t % 2 === 0);
        const grads = active.map((k) => twins[k].gradient(rng, t));
        const out = await engine.step(
          active.map((k, i) => twins[k].item(grads[i])),
          'error',
        );
        for (let i = 0; i < active.length; i++) await twins[active[i]].verify(grads[i], out.results[i]);
      }
      check(
        twins['head.bias'].param.step === 6 && twins['enc.weight'].param.step === 12,
        `step counters ${twins['head.bias'].param.step} / ${twins['enc.weight'].param.step}, want 6 / 12`,
      );
    } finally {
      for (const t of Object.values(twins)) t.free();
    }
  });

  for (const [name, mode] of [
    ['adam', BW256],
    ['sgd', FP32],
    ['lion', STATIC],
  ] as [OptimizerName, typeof FP32][]) {
    it(`per-step hyperparameters (an lr schedule) reach the kernels: ${name} ${mode.id}`, async () => {
      const base = SPEC_DEFAULTS[name].lr;
      await runProtocol(engine, {
        label: `lr schedule ${name} ${mode.id}`,
        config: { name, ...mode.layout, weightDecay: 0.01 },
        mode,
        dtype: 'fp32',
        shape: [4097],
        steps: 12,
        saveAt: [6],
        perStep: (t) => ({ lr: base * (1 + Math.cos((Math.PI * t) / 12)) }),
      });
    });
  }
});
