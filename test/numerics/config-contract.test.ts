// The config contract (docs/math.md §2): a key that does not apply to the chosen optimizer is INVALID_ARGUMENT
// naming the key and what to use instead, wherever it is set (model config, override by name, per-step change),
// and a refused call changes nothing. One betas count per optimizer; RMSprop accepts torch's `alpha`.
import type { Engine, OptimizerConfig, OptimizerName, Param } from '../../native/lib';
import { OPTIMIZER_TABLE, type OptionalKey } from '../../native/lib/optimizers';
import { check } from '../helpers/compare';
import { decode, encode } from '../helpers/dtype';
import { expectEngineError, openCpuEngine } from '../helpers/engine';
import { rngFor } from '../helpers/random';

/** A value of the right type and range for each optional key, so that only applicability can refuse it. */
const SAMPLE: Record<OptionalKey, (betas: number) => unknown> = {
  betas: (n) => [0.5, 0.9, 0.99].slice(0, Math.max(n, 1)),
  eps: () => 1e-6,
  alpha: () => 2,
  tAlpha: () => 10,
  tBeta3: () => 10,
  maxUnorm: () => 0.5,
  zeroVGuard: () => true,
};

async function fingerprint(p: Param): Promise<string> {
  const s = await p.exportState();
  const parts = [(await p.read()).toString('hex'), String(p.step)];
  for (const [name, t] of Object.entries(s.tensors)) parts.push(name, t.data.toString('hex'));
  return parts.join('|');
}

describe('config contract: settings that do not apply are refused, naming what to use instead', () => {
  let engine: Engine;
  const n = 5000;
  before(() => {
    engine = openCpuEngine();
  });

  async function stepped(name: OptimizerName, extra: Partial<OptimizerConfig> = {}): Promise<Param> {
    const rng = rngFor(`contract-${name}`);
    const p = engine.createParam({ name: 'w', shape: [n], dtype: 'fp32', config: { name, optimBits: 8, ...extra } });
    await p.write(0, encode(rng.randn(n, 0.1), 'fp32'), 'fp32');
    await engine.step([{ param: p, grad: encode(rng.randn(n, 0.01), 'fp32'), gradDtype: 'fp32' }]);
    return p;
  }

  for (const row of OPTIMIZER_TABLE) {
    const refused = Object.entries(row.refuses) as [OptionalKey, string][];
    it(`${row.name}: ${refused.map(([k]) => k).join(', ') || 'nothing'} refused in config, override and per step`, async () => {
      const p = await stepped(row.name);
      const before = await fingerprint(p);
      const rng = rngFor(`contract-step-${row.name}`);
      for (const [key, instead] of refused) {
        const v = SAMPLE[key](row.betas.length);
        const cfg = { name: row.name, [key]: v } as OptimizerConfig;
        const e = await expectEngineError(
          () => engine.createParam({ name: 'x', shape: [8], dtype: 'fp32', config: cfg }),
          'INVALID_ARGUMENT',
          `${key} does not apply to ${row.name}`,
        );
        check(
          e.message.includes(instead),
          `${row.name}.${key}: the message must say what to use instead: ${e.message}`,
        );
        await expectEngineError(
          () =>
            engine.createParam({
              name: 'x',
              shape: [8],
              dtype: 'fp32',
              config: { name: row.name },
              override: { [key]: v },
            }),
          'INVALID_ARGUMENT',
          `override.${key}`,
        );
        if (key === 'maxUnorm') continue; // a layout key: not a per-step change
        await expectEngineError(
          () =>
            engine.step([
              { param: p, grad: encode(rng.randn(n, 0.01), 'fp32'), gradDtype: 'fp32', hyper: { [key]: v } },
            ]),
          'INVALID_ARGUMENT',
          `hyper.${key}`,
        );
      }
      check((await fingerprint(p)) === before, `${row.name}: a refused step changed the parameter or its state`);
      p.free();
    });

    it(`${row.name}: exactly ${row.betas.length} betas, the count named in the message`, async () => {
      for (const count of [0, 1, 2, 3, 4]) {
        if (count === row.betas.length || (count === 0 && row.betas.length === 0)) continue;
        if (count === 0) continue; // an empty list means "inherit"
        if (row.refuses.betas) continue; // covered above: betas do not apply at all
        const betas = [0.5, 0.9, 0.99, 0.999].slice(0, count);
        const e = await expectEngineError(
          () => engine.createParam({ name: 'x', shape: [8], dtype: 'fp32', config: { name: row.name, betas } }),
          'INVALID_ARGUMENT',
          'betas',
        );
        check(
          e.message.includes(`${row.betas.length} number`),
          `${row.name}: message must give the count: ${e.message}`,
        );
        for (const meaning of row.betas)
          check(e.message.includes(meaning), `${row.name}: message must name ${meaning}`);
      }
      const ok = engine.createParam({
        name: 'x',
        shape: [8],
        dtype: 'fp32',
        config: { name: row.name, betas: [0.5, 0.9, 0.99].slice(0, row.betas.length) },
      });
      check(ok.hyper().betas.length === row.betas.length, `${row.name}: resolved betas count`);
      ok.free();
    });
  }

  it("rmsprop: alpha is the smoothing constant (torch's name), the same step as betas = [alpha]", async () => {
    const rng = rngFor('contract-rmsprop-alpha');
    const w = rng.randn(n, 0.1);
    const grads = [rng.randn(n, 0.01), rng.randn(n, 0.01), rng.randn(n, 0.01)];
    const run = async (config: OptimizerConfig, perStep?: { alpha?: number; betas?: number[] }) => {
      const p = engine.createParam({ name: 'w', shape: [n], dtype: 'fp32', config });
      await p.write(0, encode(w, 'fp32'), 'fp32');
      for (const g of grads)
        await engine.step([{ param: p, grad: encode(g, 'fp32'), gradDtype: 'fp32', hyper: perStep }]);
      const out = decode(await p.read(), 'fp32');
      p.free();
      return out;
    };
    const viaBetas = await run({ name: 'rmsprop', lr: 0.01, betas: [0.9] });
    const viaAlpha = await run({ name: 'rmsprop', lr: 0.01, alpha: 0.9 });
    const viaStep = await run({ name: 'rmsprop', lr: 0.01 }, { alpha: 0.9 });
    const defaultAlpha = await run({ name: 'rmsprop', lr: 0.01 });
    check(
      viaAlpha.every((x, i) => x === viaBetas[i]),
      'alpha = 0.9 must step exactly as betas = [0.9]',
    );
    check(
      viaStep.every((x, i) => x === viaBetas[i]),
      'a per-step alpha must step exactly as betas = [0.9]',
    );
    check(
      defaultAlpha.some((x, i) => x !== viaBetas[i]),
      'the default (0.99) must differ from 0.9: alpha was used',
    );
    await expectEngineError(
      () =>
        engine.createParam({
          name: 'x',
          shape: [8],
          dtype: 'fp32',
          config: { name: 'rmsprop', alpha: 0.9, betas: [0.8] },
        }),
      'INVALID_ARGUMENT',
      'conflicts with betas[0]',
    );
    const same = engine.createParam({
      name: 'x',
      shape: [8],
      dtype: 'fp32',
      config: { name: 'rmsprop', alpha: 0.9, betas: [0.9] },
    });
    check(same.hyper().betas[0] === 0.9, 'agreeing alpha and betas[0] are accepted');
    same.free();
    await expectEngineError(
      () => engine.createParam({ name: 'x', shape: [8], dtype: 'fp32', config: { name: 'rmsprop', alpha: 0 } }),
      'INVALID_ARGUMENT',
      'betas[0]',
    );
  });

  it('adam: alpha = 0.9 (the torch RMSprop mistake on the wrong optimizer) is refused, not ignored', async () => {
    const e = await expectEngineError(
      () => engine.createParam({ name: 'x', shape: [8], dtype: 'fp32', config: { name: 'adam', alpha: 0.9 } }),
      'INVALID_ARGUMENT',
      'alpha does not apply to adam',
    );
    check(/AdEMAMix/.test(e.message), e.message);
  });
});
