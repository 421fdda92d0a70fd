// State export/import beyond the round trips of the registry runs (docs/math.md §15, T12, D9): a block-size mismatch is
// refused with STATE_MISMATCH (both the honest case and a snapshot whose header lies about its block size), as are
// mode, size and optimizer-family mismatches and malformed tensors; a rejected import changes nothing; and maps
// travel with the state and are used as stored.
import type { Engine, OptimizerConfig, Param, StateSnapshot } from '../../native/lib';
import { assertBytesEqual, assertClose, check } from '../helpers/compare';
import { decode, encode, f32Array, u8Array } from '../helpers/dtype';
import { expectEngineError, openCpuEngine } from '../helpers/engine';
import { rngFor } from '../helpers/random';
import { newRefState, refStep, SIGNED_MAP, stateQuantizer, UNSIGNED_MAP } from '../reference';
import { refHyperOf } from './protocol';

async function stepped(
  engine: Engine,
  config: OptimizerConfig,
  shape: number[],
  steps: number,
  seed: string,
): Promise<Param> {
  const rng = rngFor(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const p = engine.createParam({ name: seed, shape, dtype: 'fp32', config });
  await p.write(0, encode(rng.randn(n, 0.1), 'fp32'), 'fp32');
  for (let t = 0; t < steps; t++) {
    await engine.step([{ param: p, grad: encode(rng.randn(n, 0.01), 'fp32'), gradDtype: 'fp32' }], 'error');
  }
  return p;
}

async function expectRejectedUnchanged(label: string, p: Param, s: StateSnapshot, codes: string[]): Promise<void> {
  const before = await p.exportState();
  const step = p.step;
  let code = 'none';
  try {
    await p.importState(s);
  } catch (e) {
    code = (e as { code?: string }).code ?? String(e);
  }
  check(codes.includes(code), `${label}: import ended with ${code}, expected ${codes.join(' or ')}`);
  const after = await p.exportState();
  check(p.step === step && after.step === before.step, `${label}: step counter changed by a rejected import`);
  for (const [k, v] of Object.entries(before.tensors)) {
    assertBytesEqual(`${label}: ${k} after a rejected import`, u8Array(after.tensors[k].data), u8Array(v.data));
  }
}

function clone(s: StateSnapshot): StateSnapshot {
  const tensors: StateSnapshot['tensors'] = {};
  for (const [k, v] of Object.entries(s.tensors))
    tensors[k] = { dtype: v.dtype, shape: [...v.shape], data: Buffer.from(v.data) };
  return { ...s, tensors };
}

describe('state import checks and stored maps (docs/math.md §15, T12, D9)', () => {
  let engine: Engine;
  before(() => {
    engine = openCpuEngine();
  });

  it('refuses a 2048-block state in a 256-block parameter and the reverse (STATE_MISMATCH), changing nothing', async () => {
    const a = await stepped(engine, { name: 'adam', optimBits: 8, blockSize: 2048 }, [4097], 3, 'bs2048');
    const b = await stepped(engine, { name: 'adam', optimBits: 8, blockSize: 256 }, [4097], 2, 'bs256');
    try {
      const sa = await a.exportState();
      const sb = await b.exportState();
      await expectEngineError(() => b.importState(sa), 'STATE_MISMATCH', 'block size');
      await expectEngineError(() => a.importState(sb), 'STATE_MISMATCH', 'block size');
      await expectRejectedUnchanged('2048 -> 256', b, sa, ['STATE_MISMATCH']);
      // A snapshot whose header claims 256 but whose scales are laid out for 2048 (3 blocks, not 17).
      const liar = clone(sa);
      liar.blockSize = 256;
      await expectRejectedUnchanged('2048 scales under a 256 header', b, liar, ['STATE_MISMATCH', 'INVALID_ARGUMENT']);
    } finally {
      a.free();
      b.free();
    }
  });

  it('refuses mode, size and optimizer-family mismatches and malformed tensors, changing nothing', async () => {
    const target = await stepped(engine, { name: 'adam', optimBits: 8 }, [4097], 2, 'target');
    const fp32 = await stepped(engine, { name: 'adam' }, [4097], 2, 'fp32 adam');
    const stat = await stepped(engine, { name: 'adam', optimBits: 8, blockWise: false }, [4097], 2, 'static adam');
    const bigger = await stepped(engine, { name: 'adam', optimBits: 8 }, [4098], 2, 'bigger');
    const lion = await stepped(engine, { name: 'lion', optimBits: 8 }, [4097], 2, 'lion');
    try {
      await expectRejectedUnchanged('fp32 state into blockwise8', target, await fp32.exportState(), ['STATE_MISMATCH']);
      await expectRejectedUnchanged('static8 state into blockwise8', target, await stat.exportState(), [
        'STATE_MISMATCH',
      ]);
      await expectRejectedUnchanged('4098-element state', target, await bigger.exportState(), ['STATE_MISMATCH']);
      await expectRejectedUnchanged('lion state into adam', target, await lion.exportState(), ['STATE_MISMATCH']);
      const own = await target.exportState();
      const short = clone(own);
      short.tensors.state1.data = short.tensors.state1.data.subarray(0, 4000);
      await expectRejectedUnchanged('truncated codes', target, short, ['STATE_MISMATCH', 'INVALID_ARGUMENT']);
      const noScales = clone(own);
      delete noScales.tensors.absmax2;
      await expectRejectedUnchanged('missing absmax2', target, noScales, ['STATE_MISMATCH', 'INVALID_ARGUMENT']);
      const wrongType = clone(own);
      wrongType.tensors.absmax1 = { dtype: 'u8', shape: [17 * 4], data: own.tensors.absmax1.data };
      await expectRejectedUnchanged('absmax1 as u8', target, wrongType, ['STATE_MISMATCH', 'INVALID_ARGUMENT']);
    } finally {
      for (const p of [target, fp32, stat, bigger, lion]) p.free();
    }
  });

  it('uses the maps stored with the state (D9): a checkpoint with a different qmap1 decodes and re-encodes with it', async () => {
    const rng = rngFor('stored maps');
    const n = 4096;
    const config: OptimizerConfig = { name: 'adam', optimBits: 8, weightDecay: 0.01 };
    const src = await stepped(engine, config, [n], 3, 'stored maps src');
    const dst = engine.createParam({ name: 'dst', shape: [n], dtype: 'fp32', config });
    try {
      const snap = clone(await src.exportState());
      // A different signed map: every entry halved except the ends (still sorted, still ending at +1).
      const mod = Float32Array.from(SIGNED_MAP, (v, i) => (i === 0 || i === 255 ? v : Math.fround(v * 0.5)));
      snap.tensors.qmap1.data = Buffer.from(mod.buffer.slice(0));
      const p0 = decode(await src.read(0, n, 'fp32'), 'fp32');
      await dst.write(0, encode(p0, 'fp32'), 'fp32');
      await dst.importState(snap);
      assertBytesEqual(
        'qmap1 after import',
        u8Array((await dst.exportState()).tensors.qmap1.data),
        new Uint8Array(mod.buffer),
      );
      // One step from the stored state, decoded with the stored maps, against the reference.
      const codes1 = u8Array(snap.tensors.state1.data);
      const codes2 = u8Array(snap.tensors.state2.data);
      const abs1 = f32Array(snap.tensors.absmax1.data);
      const abs2 = f32Array(snap.tensors.absmax2.data);
      const st = newRefState('adam', n, 100);
      st.step = snap.step;
      for (let i = 0; i < n; i++) {
        st.s1[i] = Math.fround(mod[codes1[i]] * abs1[i >> 8]);
        st.s2![i] = Math.fround(UNSIGNED_MAP[codes2[i]] * abs2[i >> 8]);
      }
      const g = rng.randn(n, 0.01).map(Math.fround);
      const pRef = p0.slice();
      refStep('adam', pRef, g, st, refHyperOf(config));
      await engine.step([{ param: dst, grad: encode(g, 'fp32'), gradDtype: 'fp32' }], 'error');
      assertClose(
        'parameters one step after importing a custom map',
        decode(await dst.read(0, n, 'fp32'), 'fp32'),
        pRef,
        1e-6,
        1e-5,
      );
      const after = await dst.exportState();
      const q = stateQuantizer(mod, true);
      const newCodes = u8Array(after.tensors.state1.data);
      const newAbs = f32Array(after.tensors.absmax1.data);
      let off = 0;
      for (let i = 0; i < n; i++) {
        const d = Math.abs(q(st.s1[i], newAbs[i >> 8]) - newCodes[i]);
        check(d <= 1, `state1 code[${i}] = ${newCodes[i]} is not the stored map's nearest code`);
        off += d;
      }
      check(off <= 4, `${off} state1 codes differ by one from the stored map's nearest code`);
    } finally {
      src.free();
      dst.free();
    }
  });
});
