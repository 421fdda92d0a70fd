// Training through the service equals the engine driven directly: create, upload, 100 steps with fresh random
// gradients and a per-step lr schedule, weights returned every step compared byte for byte with a second Engine
// fed the same inputs; the same for a blockwise8 model; and snapshot -> delete -> create -> restore gives the
// same next step as no detour at all.

import { expect } from 'chai';
import { Engine } from '../../native/lib';
import type { DType, OptimizerConfig, Param, ParamOverride } from '../../native/lib';
import type { ModelSpec } from '../../client';
import { bytesOf, fingerprint, randomBf16, randomF32, startHarness } from './helpers';
import type { Harness } from './helpers';

interface ParamDef {
  name: string;
  shape: number[];
  dtype: DType;
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function randomValues(p: ParamDef, scale: number): Float32Array | Uint16Array {
  return p.dtype === 'fp32' ? randomF32(numel(p.shape), scale) : randomBf16(numel(p.shape), scale);
}

/** The same model built directly on an Engine (the oracle). */
async function directModel(
  engine: Engine,
  defs: ParamDef[],
  config: OptimizerConfig,
  overrides: Record<string, ParamOverride>,
  init: Map<string, Float32Array | Uint16Array>,
): Promise<Map<string, Param>> {
  const out = new Map<string, Param>();
  for (const d of defs) {
    const p = engine.createParam({ name: d.name, shape: d.shape, dtype: d.dtype, config, override: overrides[d.name] });
    await p.write(0, bytesOf(init.get(d.name) as Float32Array), d.dtype);
    out.set(d.name, p);
  }
  return out;
}

async function trainAndCompare(h: Harness, engine: Engine, spec: ModelSpec, steps: number): Promise<void> {
  const defs = spec.parameters;
  const init = new Map(defs.map((d) => [d.name, randomValues(d, 1)]));
  await h.client.createModel(spec);
  const up = await h.client.uploadParameters(
    spec.name,
    new Map(defs.map((d) => [d.name, { data: init.get(d.name)!, dtype: d.dtype }])),
  );
  expect(up.ready).to.equal(true);
  const direct = await directModel(engine, defs, spec.optimizer, spec.overrides ?? {}, init);
  const base = spec.optimizer.lr ?? 1e-3;
  for (let t = 1; t <= steps; t++) {
    const lr = base * (1 - t / (2 * steps)); // a scheduler: lr changes every step
    // Every step updates a different subset on some steps: parameters left out keep their step counters.
    const chosen = t % 10 === 0 ? defs.slice(1) : defs;
    const grads = new Map(chosen.map((d) => [d.name, { data: randomValues(d, 0.1), dtype: d.dtype }]));
    const reply = await h.client.step(spec.name, grads, {
      hyper: { lr },
      returnWeights: true,
      workerId: 'w0',
      stepId: t,
    });
    const outcome = await engine.step(
      chosen.map((d) => ({
        param: direct.get(d.name)!,
        grad: bytesOf(grads.get(d.name)!.data),
        gradDtype: d.dtype,
        hyper: { lr },
      })),
    );
    expect(reply.skipped).to.equal(false);
    expect(reply.modelStep).to.equal(t);
    expect(reply.params.map((p) => p.name)).to.deep.equal(chosen.map((d) => d.name));
    expect(reply.params.map((p) => p.step)).to.deep.equal(outcome.results.map((r) => r.step));
    expect([...reply.weights.keys()]).to.deep.equal(chosen.map((d) => d.name));
    for (const d of chosen) {
      const want = await direct.get(d.name)!.read();
      const got = reply.weights.get(d.name)!;
      expect(got.dtype).to.equal(d.dtype);
      expect(Buffer.compare(got.data, want), `${d.name} at step ${t}`).to.equal(0);
    }
  }
  const desc = (await h.client.describe(spec.name)).models[0];
  for (const d of defs) {
    expect(desc.params.find((p) => p.name === d.name)!.step).to.equal(direct.get(d.name)!.step);
  }
  for (const p of direct.values()) p.free();
}

describe('service: training loop', function () {
  this.timeout(60_000);
  let h: Harness;
  let engine: Engine;

  before(async () => {
    h = await startHarness();
    engine = Engine.open({ backend: (process.env.QSTEP_BACKEND ?? 'cpu') as 'cpu' | 'cuda' | 'auto', threads: 2 });
  });
  after(async () => {
    await h.close();
  });

  it('100 fp32-state AdamW steps (fp32 and bf16 parameters) equal the engine driven directly', async () => {
    await trainAndCompare(
      h,
      engine,
      {
        name: 'adamw32',
        parameters: [
          { name: 'layer.0.weight', shape: [64, 300], dtype: 'fp32' },
          { name: 'layer.0.bias', shape: [300], dtype: 'fp32' },
          { name: 'embed', shape: [50, 100], dtype: 'bf16' },
        ],
        optimizer: { name: 'adamw', lr: 1e-2, weightDecay: 0.05 },
        overrides: { 'layer.0.bias': { weightDecay: 0 } },
      },
      100,
    );
  });

  it('100 blockwise8 Adam steps equal the engine driven directly', async () => {
    await trainAndCompare(
      h,
      engine,
      {
        name: 'adam8',
        parameters: [
          { name: 'w', shape: [96, 128], dtype: 'fp32' },
          { name: 'v', shape: [5000], dtype: 'fp32' },
          { name: 'small', shape: [1000], dtype: 'fp32' }, // below min_8bit_size: fp32 state
        ],
        optimizer: { name: 'adam', lr: 5e-3, optimBits: 8, weightDecay: 0.01 },
      },
      100,
    );
    const desc = (await h.client.describe('adam8')).models[0];
    expect(desc.params.map((p) => p.stateMode)).to.deep.equal([
      'STATE_MODE_BLOCKWISE8',
      'STATE_MODE_BLOCKWISE8',
      'STATE_MODE_FP32',
    ]);
  });

  it('snapshot -> delete -> create -> restore gives the same next step as no detour', async () => {
    const spec: ModelSpec = {
      name: 'detour',
      parameters: [
        { name: 'a', shape: [70, 100], dtype: 'fp32' },
        { name: 'b', shape: [3000], dtype: 'bf16' },
      ],
      optimizer: { name: 'ademamix', lr: 1e-2, optimBits: 8, min8bitSize: 1024 },
    };
    await h.client.createModel(spec);
    await h.client.uploadParameters('detour', { a: randomF32(7000), b: { data: randomBf16(3000), dtype: 'bf16' } });
    for (let t = 1; t <= 5; t++) {
      await h.client.step('detour', { a: randomF32(7000, 0.1), b: { data: randomBf16(3000, 0.1), dtype: 'bf16' } });
    }
    const snap = await h.client.snapshot('detour', { state: 'raw' });
    const before = await fingerprint(h.client, 'detour');
    const next = { a: randomF32(7000, 0.1), b: { data: randomBf16(3000, 0.1), dtype: 'bf16' as const } };
    const straight = await h.client.step('detour', next, { returnWeights: true });

    await h.client.deleteModel('detour');
    await h.client.createModel(spec);
    const restored = await h.client.restore('detour', snap);
    expect(restored.ready).to.equal(true);
    expect(restored.modelStep).to.equal(5);
    expect(await fingerprint(h.client, 'detour')).to.equal(before);
    const detour = await h.client.step('detour', next, { returnWeights: true });
    expect(detour.modelStep).to.equal(straight.modelStep);
    expect(detour.params).to.deep.equal(straight.params);
    for (const name of ['a', 'b']) {
      expect(Buffer.compare(detour.weights.get(name)!.data, straight.weights.get(name)!.data), name).to.equal(0);
    }
  });
});
