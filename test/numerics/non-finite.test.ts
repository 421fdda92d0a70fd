// Non-finite gradients (docs/math.md D4): the whole step is checked before anything changes. Under 'skip' a step with a
// NaN or Inf anywhere changes nothing at all (no parameter, no state tensor, no step counter, no percentile
// history) for every parameter of the step, and the outcome names the offending items; under 'error' the step
// rejects with NON_FINITE and likewise changes nothing. Afterwards the parameters continue as if the bad step had
// never been sent (checked against the float64 reference, which never sees it). Every case runs twice: gradients as
// plain Buffers (checked by the step) and staged in GradientBuffers chunk by chunk (checked as they are written).
import { expect } from 'chai';
import type { DType, Engine, OptimizerName, Param, StateSnapshot, StepItem } from '../../native/lib';
import { assertBytesEqual, check } from '../helpers/compare';
import { decode, encode, u8Array } from '../helpers/dtype';
import { expectEngineError, openCpuEngine } from '../helpers/engine';
import { qstep } from '../helpers/engine';
import { rngFor, type Rng } from '../helpers/random';
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

type Carrier = 'Buffer' | 'GradientBuffer';

/** The item with its gradient staged in a GradientBuffer, written in random chunks in random order. */
function staged(item: StepItem<Param>, rng: Rng): StepItem<Param> {
  const { GradientBuffer, DTYPE_BYTES } = qstep();
  const bytes = item.grad as Buffer;
  const width = DTYPE_BYTES[item.gradDtype!];
  const gb = new GradientBuffer(bytes.length / width, item.gradDtype!);
  const cuts = [0, gb.numel];
  for (let i = 0; i < 4; i++) cuts.push(rng.int(gb.numel));
  cuts.sort((x, y) => x - y);
  const pieces = cuts
    .slice(1)
    .map((end, i) => [cuts[i], end])
    .filter(([b, e]) => e > b);
  for (let i = pieces.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [pieces[i], pieces[j]] = [pieces[j], pieces[i]];
  }
  for (const [b, e] of pieces) gb.write(b, bytes.subarray(b * width, e * width));
  return { ...item, grad: gb, gradDtype: undefined };
}

describe('non-finite gradients: nothing changes under skip and error (docs/math.md D4)', () => {
  let engine: Engine;
  before(() => {
    engine = openCpuEngine();
  });

  let k = 0;
  for (const carrier of ['Buffer', 'GradientBuffer'] as Carrier[]) {
    for (const modeId of MODE_IDS) {
      for (const dtype of DTYPES) {
        for (const policy of ['skip', 'error'] as const) {
          const info = REGISTRY[k % REGISTRY.length];
          const bad = BAD[k % BAD.length];
          k++;
          it(`${policy}: ${info.name} ${modeId} ${dtype}, ${carrier} gradient holds ${bad} (with percentile clipping)`, async () => {
            const mode = MODES.find((m) => m.id === modeId)!;
            const label = `non-finite ${policy} ${info.name} ${modeId} ${dtype} ${carrier}`;
            const rng = rngFor(label);
            const carry = (item: StepItem<Param>): StepItem<Param> => (carrier === 'Buffer' ? item : staged(item, rng));
            const vcase = info.valid[0];
            const base = typeof vcase.config === 'function' ? vcase.config(mode) : vcase.config;
            const config = { name: info.name as OptimizerName, ...base, ...mode.layout, percentileClipping: 10 };
            const a = await Twin.create(
              engine,
              { label: `${label} A`, name: 'a', config, mode, dtype, shape: [4097] },
              rng,
            );
            const b = await Twin.create(
              engine,
              { label: `${label} B`, name: 'b', config, mode, dtype, shape: [2, 2100] },
              rng,
            );
            try {
              const good = async (t: number): Promise<void> => {
                const ga = a.gradient(rng, t);
                const gb = b.gradient(rng, t);
                const out = await engine.step([carry(a.item(ga)), carry(b.item(gb))], policy);
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
                const out = await engine.step([carry(a.item(ga)), carry(b.item(gb))], 'skip');
                check(out.skipped, `${label}: step with ${bad} not reported as skipped`);
                expect(out.nonFinite, 'items named as non-finite').to.deep.equal([0]);
                for (const r of out.results)
                  check(r.step === 3, `${label}: skipped step reports step ${r.step}, want 3`);
              } else {
                await expectEngineError(
                  () => engine.step([carry(a.item(ga)), carry(b.item(gb))], 'error'),
                  'NON_FINITE',
                );
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
  }

  for (const carrier of ['Buffer', 'GradientBuffer'] as Carrier[]) {
    it(`a finite fp32 ${carrier} gradient that overflows to Inf when converted to an fp16 parameter is non-finite too (D4, D12)`, async () => {
      const p = engine.createParam({ name: 'h', shape: [4096], dtype: 'fp16', config: { name: 'adam', optimBits: 8 } });
      try {
        await p.write(0, encode(new Float64Array(4096).fill(0.1), 'fp32'), 'fp32');
        const g = new Float64Array(4096).fill(0.01);
        g[17] = 1e6; // > 65504: Inf in fp16
        const before = await p.read(0, 4096);
        const item: StepItem<Param> = { param: p, grad: encode(g, 'fp32'), gradDtype: 'fp32' };
        const out = await engine.step([carrier === 'Buffer' ? item : staged(item, rngFor('overflow'))], 'skip');
        check(
          out.skipped && out.nonFinite[0] === 0,
          `fp32 gradient 1e6 for an fp16 parameter: outcome ${JSON.stringify(out)} (expected skipped: it is Inf once converted)`,
        );
        assertBytesEqual('fp16 parameter after the skipped step', u8Array(await p.read(0, 4096)), u8Array(before));
        const after = decode(await p.read(0, 4096), 'fp16');
        check(after.every(Number.isFinite), 'fp16 parameter holds non-finite values');
      } finally {
        p.free();
      }
    });
  }
});

describe('GradientBuffer: staged gradients checked as they are written', () => {
  let engine: Engine;
  before(() => {
    engine = openCpuEngine();
  });

  for (const dtype of DTYPES) {
    it(`${dtype}: write() reports each chunk's NaN/Inf, finite stays false until reset(), which zeroes`, () => {
      const { GradientBuffer } = qstep();
      const rng = rngFor(`gradient buffer ${dtype}`);
      const n = 5000;
      const gb = new GradientBuffer(n, dtype);
      const values = decode(encode(rng.randn(n, 0.01), dtype), dtype);
      const bytes = encode(values, dtype);
      const w = bytes.length / n;
      check(gb.write(0, bytes.subarray(0, 2500 * w)) && gb.finite, `${dtype}: a finite chunk reported non-finite`);
      // NaN payloads, both signs of Inf, and a value at the very end of a chunk.
      for (const bad of [NaN, Infinity, -Infinity]) {
        const chunk = encode(values.slice(2500, 2600), dtype);
        const at = rng.int(100);
        chunk.set(encode(new Float64Array([bad]), dtype), at * w);
        check(!gb.write(2500, chunk), `${dtype}: chunk with ${bad} at ${at} reported finite`);
        check(!gb.finite, `${dtype}: finite after writing ${bad}`);
      }
      const last = encode(values.slice(2600), dtype);
      last.set(encode(new Float64Array([NaN]), dtype), last.length - w);
      check(!gb.write(2600, last), `${dtype}: NaN in the last element reported finite`);
      gb.reset();
      check(gb.finite, `${dtype}: not finite after reset()`);
      check(
        gb.read().every((b) => b === 0),
        `${dtype}: reset() after a non-finite write must zero the contents`,
      );
      gb.write(0, bytes);
      gb.reset();
      assertBytesEqual(`${dtype}: reset() of a finite buffer keeps its contents`, u8Array(gb.read()), u8Array(bytes));
    });
  }

  it('refuses bad writes (range, partial elements, not a Buffer) and copies nothing', async () => {
    const { GradientBuffer } = qstep();
    const gb = new GradientBuffer(100, 'fp16');
    const content = encode(rngFor('gb refuse').randn(100, 1), 'fp16');
    gb.write(0, content);
    const bad: Array<[number, unknown]> = [
      [99, Buffer.alloc(4)],
      [-1, Buffer.alloc(2)],
      [0.5, Buffer.alloc(2)],
      [0, Buffer.alloc(3)],
      [0, new Uint8Array(2)],
      [101, Buffer.alloc(0)],
    ];
    for (const [offset, chunk] of bad) {
      await expectEngineError(() => gb.write(offset, chunk as Buffer), 'INVALID_ARGUMENT');
    }
    assertBytesEqual('contents after refused writes', u8Array(gb.read()), u8Array(content));
    check(gb.finite, 'refused writes changed finite');
    expect(() => new GradientBuffer(0, 'fp32')).to.throw(/numel/);
    expect(() => new GradientBuffer(4, 'int8' as DType)).to.throw(/dtype/);
  });

  it('a step over GradientBuffers gives the same bytes as over Buffers, and holds them against writes meanwhile', async () => {
    const { GradientBuffer } = qstep();
    const rng = rngFor('gb same bytes');
    const n = 70000;
    const config = { name: 'adamw' as OptimizerName, optimBits: 8 as const, weightDecay: 0.01 };
    const a = engine.createParam({ name: 'a', shape: [n], dtype: 'bf16', config });
    const b = engine.createParam({ name: 'b', shape: [n], dtype: 'bf16', config });
    try {
      const p0 = encode(rng.randn(n, 0.1), 'fp32');
      await a.write(0, p0, 'fp32');
      await b.write(0, p0, 'fp32');
      const gb = new GradientBuffer(n, 'fp32');
      for (let t = 1; t <= 3; t++) {
        const g = encode(rng.randn(n, 0.01), 'fp32');
        gb.reset();
        gb.write(0, g);
        const stepping = engine.step([{ param: b, grad: gb }]);
        await expectEngineError(() => gb.write(0, g.subarray(0, 4)), 'INVALID_ARGUMENT', 'being read by a step');
        await expectEngineError(() => gb.reset(), 'INVALID_ARGUMENT', 'being read by a step');
        await engine.step([{ param: a, grad: g, gradDtype: 'fp32' }]);
        await stepping;
        assertBytesEqual(`step ${t}: parameter`, u8Array(await b.read(0, n)), u8Array(await a.read(0, n)));
        const sa = await a.exportState();
        const sb = await b.exportState();
        for (const [key, v] of Object.entries(sa.tensors)) {
          assertBytesEqual(`step ${t}: state ${key}`, u8Array(sb.tensors[key].data), u8Array(v.data));
        }
      }
      // Refused items release the buffer: a wrong size or dtype, and a bad item after a good one.
      await expectEngineError(
        () => engine.step([{ param: a, grad: new GradientBuffer(n - 1, 'fp32') }]),
        'INVALID_ARGUMENT',
      );
      await expectEngineError(() => engine.step([{ param: a, grad: gb, gradDtype: 'fp16' }]), 'INVALID_ARGUMENT');
      await expectEngineError(
        () =>
          engine.step([
            { param: a, grad: gb },
            { param: b, grad: Buffer.alloc(3), gradDtype: 'fp32' },
          ]),
        'INVALID_ARGUMENT',
      );
      check(gb.write(0, Buffer.alloc(8)), 'the buffer stays held after refused steps');
      check(a.step === 3 && b.step === 3, `refused steps moved the counters: ${a.step}, ${b.step}`);
    } finally {
      a.free();
      b.free();
    }
  });
});
