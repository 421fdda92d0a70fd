// dtype conversions at the engine's edges (docs/math.md §0 toT, D12): values written in fp32 to fp16/bf16 parameters are
// rounded to nearest even exactly as the reference helpers do (ties, subnormals, overflow, signed zero); reads
// narrow the same way; and a gradient arriving in another dtype is converted on arrival, so fp32 gradients for a
// 16-bit parameter give bit-identical parameters and state to the same gradients pre-rounded and sent as 16-bit.
import type { DType, Engine } from '../../native/lib';
import { assertBytesEqual, assertClose } from '../helpers/compare';
import { bf16Value, decode, encode, f16Value, roundArray, u8Array } from '../helpers/dtype';
import { openCpuEngine } from '../helpers/engine';
import { rngFor } from '../helpers/random';

/** Random fp32 values spread over many binades, plus exact 16-bit midpoints, subnormals, huge values and zeros. */
function probes(dtype: DType, n: number, label: string): Float64Array {
  const rng = rngFor(label);
  const out = new Float64Array(n);
  const value = dtype === 'fp16' ? f16Value : bf16Value;
  for (let i = 0; i < n; i++) {
    const kind = i % 4;
    if (kind === 0) out[i] = (rng.uniform() * 2 - 1) * 2 ** (rng.int(40) - 30);
    else if (kind === 1) {
      const h = rng.int(dtype === 'fp16' ? 0x7bff : 0x7f7f);
      out[i] = (value(h) + value(h + 1)) / 2; // an exact tie
      if (rng.uniform() < 0.5) out[i] = -out[i];
    } else if (kind === 2) out[i] = (rng.uniform() * 2 - 1) * (dtype === 'fp16' ? 2 ** -20 : 2 ** -130);
    else out[i] = [0, -0, 7e4, -7e4, 65519, 65520, 1e38][rng.int(7)];
  }
  return roundArray('fp32', out);
}

describe('dtype conversions (docs/math.md §0, 10, D12)', () => {
  let engine: Engine;
  before(() => {
    engine = openCpuEngine();
  });

  for (const dtype of ['fp16', 'bf16'] as DType[]) {
    it(`${dtype}: fp32 writes and fp32->${dtype} reads round to nearest even like the reference`, async () => {
      const n = 40000;
      const v = probes(dtype, n, `write ${dtype}`);
      const want = roundArray(dtype, v.slice());
      const p = engine.createParam({ name: 'p', shape: [n], dtype, config: { name: 'sgd' } });
      const q = engine.createParam({ name: 'q', shape: [n], dtype: 'fp32', config: { name: 'sgd' } });
      try {
        await p.write(0, encode(v, 'fp32'), 'fp32');
        assertClose(`fp32 -> ${dtype} on write`, decode(await p.read(0, n, 'fp32'), 'fp32'), want, 0, 0);
        assertBytesEqual(`${dtype} bytes on write`, u8Array(await p.read(0, n)), u8Array(encode(want, dtype)));
        await q.write(0, encode(v, 'fp32'), 'fp32');
        assertBytesEqual(`fp32 -> ${dtype} on read`, u8Array(await q.read(0, n, dtype)), u8Array(encode(want, dtype)));
      } finally {
        p.free();
        q.free();
      }
    });

    for (const optimBits of [32, 8] as const) {
      it(`${dtype}: fp32 gradients are converted on arrival (optimBits ${optimBits}, Adam and Lion)`, async () => {
        for (const name of ['adam', 'lion'] as const) {
          const rng = rngFor(`grad arrival ${dtype} ${optimBits} ${name}`);
          const n = 8192;
          const mk = (tag: string) =>
            engine.createParam({ name: tag, shape: [n], dtype, config: { name, optimBits, weightDecay: 0.01 } });
          const a = mk('a');
          const b = mk('b');
          try {
            const p0 = encode(roundArray(dtype, rng.randn(n, 0.1)), 'fp32');
            await a.write(0, p0, 'fp32');
            await b.write(0, p0, 'fp32');
            for (let t = 0; t < 4; t++) {
              const g = roundArray('fp32', rng.randn(n, 0.01));
              await engine.step([{ param: a, grad: encode(g, 'fp32'), gradDtype: 'fp32' }], 'error');
              await engine.step(
                [{ param: b, grad: encode(roundArray(dtype, g.slice()), dtype), gradDtype: dtype }],
                'error',
              );
            }
            assertBytesEqual(`${name} ${dtype}: parameters`, u8Array(await a.read(0, n)), u8Array(await b.read(0, n)));
            const sa = await a.exportState();
            const sb = await b.exportState();
            for (const [k, v] of Object.entries(sa.tensors)) {
              assertBytesEqual(`${name} ${dtype}: ${k}`, u8Array(sb.tensors[k].data), u8Array(v.data));
            }
          } finally {
            a.free();
            b.free();
          }
        }
      });
    }
  }

  it('fp16 and bf16 gradients for an fp32 parameter are widened exactly', async () => {
    const rng = rngFor('grad widening');
    const n = 4096;
    for (const gd of ['fp16', 'bf16'] as DType[]) {
      const a = engine.createParam({ name: 'a', shape: [n], dtype: 'fp32', config: { name: 'adam', optimBits: 8 } });
      const b = engine.createParam({ name: 'b', shape: [n], dtype: 'fp32', config: { name: 'adam', optimBits: 8 } });
      try {
        const p0 = encode(rng.randn(n, 0.1), 'fp32');
        await a.write(0, p0, 'fp32');
        await b.write(0, p0, 'fp32');
        const g = roundArray(gd, rng.randn(n, 0.01));
        await engine.step([{ param: a, grad: encode(g, gd), gradDtype: gd }], 'error');
        await engine.step([{ param: b, grad: encode(g, 'fp32'), gradDtype: 'fp32' }], 'error');
        assertBytesEqual(`${gd} gradient widened`, u8Array(await a.read(0, n)), u8Array(await b.read(0, n)));
      } finally {
        a.free();
        b.free();
      }
    }
  });
});
