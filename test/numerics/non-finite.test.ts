// Non-finite gradients (spec D4): the whole step is checked before anything changes. Under 'skip' a step with a
// NaN or Inf anywhere changes nothing at all (no parameter, no state tensor, no step counter, no percentile
// history) for every parameter of the step, and the outcome names the offending items; under 'error' the step
// rejects with NON_FINITE and likewise changes nothing. Afterwards the parameters continue as if the bad step had
// never been sent (checked against the float64 reference, which never sees it).
import { expect } from 'chai';
import type { DType, Engine, OptimizerName, StateSnapshot } from '../../native/lib';
import { assertBytesEqual, check } from '../helpers/compare';
import { decode, encode, u8Array } from '../helpers/dtype';
import { expectEngineError, openCpuEngine } from '../helpers/engine';
import { rngFor } from '../helpers/random';
import { Twin } from './protocol';
import { MODES, REGISTRY, type ModeSpec } from './registry';

const MODE_IDS: ModeSpec['id'][] = ['fp32', 'blockwise8-256', 'static8'];
const DTYPES: DType[] = ['fp32', 'fp16', 'bf16'];
const BAD = [NaN, Infinity, -Infinity];

interface Frozen {
  raw: Buffer;
  snap: StateSnapshot;
  step: number;
}

async function freeze(t: Twin): Promise<Frozen> {
  return { raw: await t.param.read(0, t.n), snap: await t.param.exportState(), step: t.param.step };
}

async function expectUnchanged(label: string, t: Twin, before: Frozen): Promise<void> {
  const now = await freeze(t);
  check(now.step === before.step, `${label}: step counter moved from ${before.step} to ${now.step}`);
  assertBytesEqual(`${label}: parameter bytes`, u8Array(now.raw), u8Array(before.raw));
  check(now.snap.step === before.snap.step, `${label}: exported step moved`);
  for (const [k, v] of Object.entries(before.snap.tensors)) {
    assertBytesEqual(`${label}: state tensor ${k}`, u8Array(now.snap.tensors[k].data), u8Array(v.data));
  }
}

describe('non-finite gradients: nothing changes under skip and error (spec D4)', () => {
  let engine: Engine;
  before(() => {
    engine = openCpuEngine();
  });

  let k = 0;
  for (const modeId of MODE_IDS) {
    for (const dtype of DTYPES) {
      for (const policy of ['skip', 'error'] as const) {
        const info = REGISTRY[k % REGISTRY.length];
        const bad = BAD[k % BAD.length];
        k++;
        it(`${policy}: ${info.name} ${modeId} ${dtype}, gradient holds ${bad} (with percentile clipping)`, async () => {
          const mode = MODES.find((m) => m.id === modeId)!;
          const label = `non-finite ${policy} ${info.name} ${modeId} ${dtype}`;
          const rng = rngFor(label);
          const vcase = info.valid[0];
          const base = typeof vcase.config === 'function' ? vcase.config(mode) : vcase.config;
          const config = { name: info.name as OptimizerName, ...base, ...mode.layout, percentileClipping: 10 };
          const a = await Twin.create(engine, { label: `${label} A`, name: 'a', config, mode, dtype, shape: [4097] }, rng);
          const b = await Twin.create(engine, { label: `${label} B`, name: 'b', config, mode, dtype, shape: [2, 2100] }, rng);
          try {
            const good = async (t: number): Promise<void> => {
              const ga = a.gradient(rng, t);
              const gb = b.gradient(rng, t);
              const out = await engine.step([a.item(ga), b.item(gb)], policy);
              check(!out.skipped, `${label}: good step ${t} reported skipped`);
              await a.verify(ga, out.results[0]);
              await b.verify(gb, out.results[1]);
            };
            for (let t = 1; t <= 3; t++) await good(t);
            const fa = await freeze(a);
            const fb = await freeze(b);
            const ga = a.gradient(rng, 4);
            ga[rng.int(a.n)] = bad;
            const gb = b.gradient(rng, 4);
            if (policy === 'skip') {
              const out = await engine.step([a.item(ga), b.item(gb)], 'skip');
              check(out.skipped, `${label}: step with ${bad} not reported as skipped`);
              expect(out.nonFinite, 'items named as non-finite').to.deep.equal([0]);
              for (const r of out.results) check(r.step === 3, `${label}: skipped step reports step ${r.step}, want 3`);
            } else {
              await expectEngineError(() => engine.step([a.item(ga), b.item(gb)], 'error'), 'NON_FINITE');
            }
            await expectUnchanged(`${label}: parameter with the bad gradient`, a, fa);
            await expectUnchanged(`${label}: the other parameter of the step`, b, fb);
            for (let t = 4; t <= 5; t++) await good(t);
          } finally {
            a.free();
            b.free();
          }
        });
      }
    }
  }

  it('a finite fp32 gradient that overflows to Inf when converted to an fp16 parameter is non-finite too (D4, D12)', async () => {
    const p = engine.createParam({ name: 'h', shape: [4096], dtype: 'fp16', config: { name: 'adam', optimBits: 8 } });
    try {
      await p.write(0, encode(new Float64Array(4096).fill(0.1), 'fp32'), 'fp32');
      const g = new Float64Array(4096).fill(0.01);
      g[17] = 1e6; // > 65504: Inf in fp16
      const before = await p.read(0, 4096);
      const out = await engine.step([{ param: p, grad: encode(g, 'fp32'), gradDtype: 'fp32' }], 'skip');
      check(out.skipped && out.nonFinite[0] === 0,
        `fp32 gradient 1e6 for an fp16 parameter: outcome ${JSON.stringify(out)} (expected skipped: it is Inf once converted)`);
      assertBytesEqual('fp16 parameter after the skipped step', u8Array(await p.read(0, 4096)), u8Array(before));
      const after = decode(await p.read(0, 4096), 'fp16');
      check(after.every(Number.isFinite), 'fp16 parameter holds non-finite values');
    } finally {
      p.free();
    }
  });
});
