// Bad arguments at the engine boundary: each is refused with INVALID_ARGUMENT naming what is wrong, and nothing
// changes (values, state and step counter are compared before and after).
import type { Engine, Param } from '../../native/lib';
import { check } from '../helpers/compare';
import { expectEngineError, openCpuEngine } from '../helpers/engine';
import { rngFor } from '../helpers/random';

describe('engine: bad arguments are refused and change nothing', () => {
  let engine: Engine;
  let p: Param;
  const n = 300;

  async function fingerprint(param: Param): Promise<string> {
    const s = await param.exportState();
    const parts = [(await param.read()).toString('hex'), String(param.step)];
    for (const [name, t] of Object.entries(s.tensors)) parts.push(name, t.data.toString('hex'));
    return parts.join('|');
  }

  function f32(values: Float64Array): Buffer {
    return Buffer.from(Float32Array.from(values).buffer);
  }

  before(async () => {
    engine = openCpuEngine();
    const rng = rngFor('engine-args');
    p = engine.createParam({
      name: 'w',
      shape: [n],
      dtype: 'bf16',
      config: { name: 'adam', optimBits: 8, min8bitSize: 0 },
    });
    await p.write(0, f32(rng.randn(n, 0.1)), 'fp32');
    await engine.step([{ param: p, grad: f32(rng.randn(n, 0.01)), gradDtype: 'fp32' }]);
  });

  after(() => p.free());

  it('gradient of the wrong byte length, a parameter twice in one step, an unknown gradient dtype', async () => {
    const rng = rngFor('engine-args-step');
    const before = await fingerprint(p);
    const g = f32(rng.randn(n, 0.01));
    await expectEngineError(
      () => engine.step([{ param: p, grad: g.subarray(0, g.length - 4), gradDtype: 'fp32' }]),
      'INVALID_ARGUMENT',
      'grad of w',
    );
    await expectEngineError(
      () => engine.step([{ param: p, grad: g, gradDtype: 'fp16' }]),
      'INVALID_ARGUMENT',
      'grad of w',
    );
    await expectEngineError(
      () =>
        engine.step([
          { param: p, grad: g, gradDtype: 'fp32' },
          { param: p, grad: g, gradDtype: 'fp32' },
        ]),
      'INVALID_ARGUMENT',
      'each parameter once',
    );
    await expectEngineError(
      () => engine.step([{ param: p, grad: g, gradDtype: 'fp64' as never }]),
      'INVALID_ARGUMENT',
      'dtype',
    );
    check((await fingerprint(p)) === before, 'a refused step changed the parameter or its state');
  });

  it('writes and reads outside the parameter, and partial elements', async () => {
    const before = await fingerprint(p);
    const four = Buffer.alloc(8);
    four.writeFloatLE(0.5, 0);
    four.writeFloatLE(-0.25, 4);
    await expectEngineError(() => p.write(n - 1, four, 'fp32'), 'INVALID_ARGUMENT', 'count');
    await expectEngineError(() => p.write(-1, four, 'fp32'), 'INVALID_ARGUMENT', 'offset');
    await expectEngineError(() => p.write(0, four.subarray(0, 3), 'fp16'), 'INVALID_ARGUMENT', 'data.length');
    await expectEngineError(() => p.read(n, 1), 'INVALID_ARGUMENT', 'count');
    await expectEngineError(() => p.read(1.5, 1), 'INVALID_ARGUMENT', 'offset');
    check((await fingerprint(p)) === before, 'a refused write changed the parameter or its state');
  });

  it('readInto writes exactly the bytes read() returns, where asked, and refuses what does not fit', async () => {
    for (const dtype of ['fp32', 'fp16', 'bf16'] as const) {
      const width = dtype === 'fp32' ? 4 : 2;
      const want = await p.read(17, 200, dtype);
      const dst = Buffer.alloc(want.length + 3 * width, 0xa5);
      await p.readInto(dst, width, 17, 200, dtype);
      check(dst.subarray(width, width + want.length).equals(want), `${dtype}: readInto differs from read`);
      check(
        dst.subarray(0, width).every((b) => b === 0xa5) && dst.subarray(width + want.length).every((b) => b === 0xa5),
        `${dtype}: readInto wrote outside [dstOffset, dstOffset + bytes)`,
      );
    }
    const dst = Buffer.alloc(16, 0x5a);
    await expectEngineError(() => p.readInto(dst, 0, 0, 5, 'fp32'), 'INVALID_ARGUMENT', 'dstOffset');
    await expectEngineError(() => p.readInto(dst, 10, 0, 2, 'fp32'), 'INVALID_ARGUMENT', 'dstOffset');
    await expectEngineError(() => p.readInto(dst, 0, n, 1), 'INVALID_ARGUMENT', 'count');
    await expectEngineError(() => p.readInto(new Uint8Array(16) as Buffer, 0, 0, 1), 'INVALID_ARGUMENT', 'dst');
    check(
      dst.every((b) => b === 0x5a),
      'a refused readInto wrote into the destination',
    );
  });

  it('a freed parameter answers FREED', async () => {
    const q = engine.createParam({ name: 'gone', shape: [16], dtype: 'fp32', config: { name: 'sgd' } });
    q.free();
    await expectEngineError(() => q.read(), 'FREED', 'gone');
    await expectEngineError(() => q.readInto(Buffer.alloc(64), 0), 'FREED', 'gone');
  });
});
