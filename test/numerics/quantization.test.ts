// The engine's quantization primitives against the reference (docs/math.md §4, 5, 16.4, Appendices A and B): the shipped
// maps bit for bit, the nearest-code rule with its tie, NaN, saturation and -0 rules, the sign fix, and standalone
// blockwise quantize/dequantize for every block size and input dtype with codes equal to the reference's and the
// round-trip error limits of 16.4. The standalone quantizer multiplies by the fp32 reciprocal (5.3), exactly as the
// reference does, so codes and scales must be identical, not merely close.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'chai';
import type { DType } from '../../native/lib';
import { assertBytesEqual, assertClose, check, meanErrors } from '../helpers/compare';
import { BYTES, decode, encode, f32Array, f32Bits, roundArray, u8Array } from '../helpers/dtype';
import { expectEngineError, qstep } from '../helpers/engine';
import { rngFor } from '../helpers/random';
import {
  dequantizeBlockwiseRef,
  fastNearest,
  midpoints,
  nearestCode,
  normalizeState,
  quantizeBlockwiseRef,
  quantizeStateValue,
  SIGNED_MAP,
  signFix,
  UNSIGNED_MAP,
} from '../reference';

const DTYPES: DType[] = ['fp32', 'fp16', 'bf16'];
const mapBytes = (m: Float32Array): Uint8Array => new Uint8Array(m.buffer, m.byteOffset, m.byteLength);

describe('engine quantization maps and nearest-code rule (docs/math.md §4, 5.1, 5.2)', () => {
  it('ships the Appendix A maps bit for bit, as fresh copies', () => {
    const { qmap } = qstep();
    assertBytesEqual('qmap(signed)', mapBytes(qmap(true)), mapBytes(SIGNED_MAP));
    assertBytesEqual('qmap(unsigned)', mapBytes(qmap(false)), mapBytes(UNSIGNED_MAP));
    const a = qmap(true);
    a[0] = 42;
    expect(qmap(true)[0]).to.equal(SIGNED_MAP[0]);
  });

  // The CPU block encoder (a step table folding in the tie rule and the sign fix, 8 or 16 values at a time, in each
  // form the CPU can run) against the plain reference rule: quotients at and around every midpoint and code, hit
  // exactly (s is searched so that s * f32(1/scale) is the probe), for many scales, with NaN, +-0, an all-zero block,
  // non-finite and tiny scales (those take the scalar rule) and every tail length of a partial vector.
  for (const isa of ['avx2', 'avx512'] as const) {
    it(`the state block encoder (${isa}) stores the reference byte at every boundary, any scale, specials, tails`, function () {
      const { quantizeStates, constants } = qstep();
      if (!constants.cpuIsa.available.includes(isa)) this.skip(); // the form needs CPU features this machine lacks
      const rng = rngFor(`engine state encoder ${isa}`);
      const f = new Float32Array(1);
      const u = new Int32Array(f.buffer);
      const step = (x: number, d: number): number => {
        f[0] = x;
        u[0] += d;
        return f[0];
      };
      for (const signed of [true, false]) {
        const map = signed ? SIGNED_MAP : UNSIGNED_MAP;
        const quotients: number[] = [];
        for (const v of [...Array.from(map), ...Array.from(midpoints(map))]) {
          for (const d of [-3, -2, -1, 0, 1, 2, 3]) {
            const q = v === 0 ? 0 : step(v, d);
            quotients.push(q, -q);
          }
        }
        const scales = [1, 0.5, 3, 1e-30, 7e25, 0, Infinity, NaN, 2 ** -127, 1e-40];
        for (let i = 0; i < 12; i++) scales.push(Math.fround(Math.exp(rng.normal() * 8)));
        let exact = 0;
        for (const scale of scales) {
          const s = new Float32Array(quotients.length + 2003);
          const finite = Number.isFinite(scale) && scale > 0;
          quotients.forEach((x, i) => {
            let v = Math.fround(x * (finite ? scale : 1));
            for (const d of [0, -1, 1, -2, 2]) {
              if (finite && normalizeState(step(v, d), scale) === x) {
                v = step(v, d);
                exact++;
                break;
              }
            }
            s[i] = v;
          });
          for (let i = quotients.length; i < s.length; i++) s[i] = rng.normal() * (finite ? scale : 1) * 0.3;
          for (let i = 0; i < 40; i++) s[rng.int(s.length)] = [NaN, 0, -0][i % 3];
          for (const len of [s.length, 1, 2, 7, 15, 17, 31, 33]) {
            const part = s.subarray(0, len);
            const got = quantizeStates(part, scale, signed, isa);
            for (let i = 0; i < len; i++) {
              const want = quantizeStateValue(part[i], scale, map, signed);
              if (got[i] !== want) {
                expect.fail(
                  `${signed ? 'signed' : 'unsigned'} map, scale ${scale}, length ${len}: s = ${part[i]} ` +
                    `(bits ${f32Bits(part[i]).toString(16)}) -> encoder ${got[i]}, reference ${want}`,
                );
              }
            }
          }
        }
        check(exact > quotients.length * 10, `only ${exact} probes hit their quotient exactly`);
        const zeros = Float32Array.from({ length: 37 }, (_, i) => (i % 3 === 0 ? -0 : 0));
        const want = Array.from(zeros, (z) => quantizeStateValue(z, 0, map, signed));
        expect(Array.from(quantizeStates(zeros, 0, signed, isa)), 'all-zero block, scale 0').to.deep.equal(want);
        // NaN states keep their sign bit through the normalisation (5.2): a positive NaN takes index 0 and, in the
        // signed map, the sign fix moves it to 255; a negative NaN stays at 0. JS numbers cannot carry a NaN's
        // sign, so these are written as bits and the expected bytes are spelt out.
        const nan = new Float32Array(40).map(() => rng.normal());
        const bits = new Uint32Array(nan.buffer);
        const pattern = [0x7fc00000, 0xffc00000, 0x7f800001, 0xff812345];
        for (let i = 0; i < nan.length; i += 3) bits[i] = pattern[(i / 3) % 4];
        const got = quantizeStates(nan, 1, signed, isa);
        for (let i = 0; i < nan.length; i++) {
          if (nan[i] === nan[i]) continue;
          const want = signed && bits[i] >>> 31 === 0 ? 255 : 0;
          check(
            got[i] === want,
            `${signed ? 'signed' : 'unsigned'} NaN bits ${bits[i].toString(16)} -> ${got[i]}, ` +
              `docs/math.md §5.2 gives ${want}`,
          );
        }
      }
    });
  }

  it('the state block decoder gives code[q] * scale in every form, every length, any scale', () => {
    const { decodeStates, constants } = qstep();
    const rng = rngFor('engine state decoder');
    const codes = new Uint8Array(2048 + 61);
    for (let i = 0; i < codes.length; i++) codes[i] = i < 256 ? i : rng.int(256);
    for (const isa of constants.cpuIsa.available) {
      for (const signed of [true, false]) {
        const map = signed ? SIGNED_MAP : UNSIGNED_MAP;
        for (const scale of [1, 0, -0, 3.5, 1e-30, 2 ** -140, 7e25, Math.fround(Math.exp(rng.normal() * 5))]) {
          for (const len of [codes.length, 256, 64, 63, 65, 1, 17]) {
            const part = codes.subarray(codes.length - len);
            const got = decodeStates(part, scale, signed, isa);
            for (let i = 0; i < len; i++) {
              const want = Math.fround(map[part[i]] * Math.fround(scale));
              if (!Object.is(got[i], want)) {
                expect.fail(
                  `${isa}, ${signed ? 'signed' : 'unsigned'}, scale ${scale}, length ${len}: code ` +
                    `${part[i]} -> ${got[i]}, want ${want}`,
                );
              }
            }
          }
        }
      }
    }
  });

  it('refuses an unknown or unavailable encoder form with INVALID_ARGUMENT', async () => {
    const { quantizeStates, decodeStates, constants } = qstep();
    const v = new Float32Array([0.5]);
    await expectEngineError(async () => quantizeStates(v, 1, true, 'sse2' as never), 'INVALID_ARGUMENT', 'isa');
    await expectEngineError(
      async () => decodeStates(new Uint8Array(1), 1, true, 'neon' as never),
      'INVALID_ARGUMENT',
      'isa',
    );
    expect(constants.cpuIsa.available).to.include('avx2');
    expect(constants.cpuIsa.available).to.include(constants.cpuIsa.default);
  });

  it('refuses to load with a QSTEP_CPU_ISA naming no form of this CPU, and loads with each form it has', function () {
    this.timeout(60_000);
    const root = join(__dirname, '..', '..');
    const load = (value: string) =>
      spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          '-e',
          "const { constants } = require('./native/lib'); process.stdout.write(constants.cpuIsa.default)",
        ],
        { cwd: root, env: { ...process.env, QSTEP_CPU_ISA: value }, encoding: 'utf8' },
      );
    const { constants } = qstep();
    for (const bad of [
      'sse2',
      'AVX2',
      'avx512 ',
      ...['avx2', 'avx512'].filter((f) => !constants.cpuIsa.available.includes(f as never)),
    ]) {
      const r = load(bad);
      expect(r.status, `QSTEP_CPU_ISA=${JSON.stringify(bad)} must fail the load`).to.not.equal(0);
      expect(r.stderr).to.include('INVALID_ARGUMENT').and.include('QSTEP_CPU_ISA').and.include(JSON.stringify(bad));
    }
    for (const good of constants.cpuIsa.available) {
      const r = load(good);
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout).to.equal(good);
    }
  });

  it('gives the reference code for every code value, midpoint, their neighbours, specials and random values', () => {
    const { nearestCodes } = qstep();
    const rng = rngFor('engine nearest codes');
    for (const signed of [true, false]) {
      const map = signed ? SIGNED_MAP : UNSIGNED_MAP;
      const probes: number[] = [NaN, Infinity, -Infinity, 0, -0, 1.5, -1.5, 1e-45, -1e-45, 3.4e38, -3.4e38];
      const f = new Float32Array(1);
      const u = new Int32Array(f.buffer);
      for (const v of [...Array.from(map), ...Array.from(midpoints(map))]) {
        for (const d of [-2, -1, 0, 1, 2]) {
          f[0] = v;
          if (v !== 0) u[0] += d;
          probes.push(f[0], -f[0]);
        }
      }
      for (let i = 0; i < 100000; i++) probes.push((rng.uniform() * 2.2 - 1.1) * 10 ** -rng.int(9));
      const values = Float32Array.from(probes);
      for (const fix of [false, true]) {
        const got = nearestCodes(values, signed, fix);
        check(got.length === values.length, `nearestCodes returned ${got.length} codes for ${values.length} values`);
        for (let i = 0; i < values.length; i++) {
          let want = nearestCode(values[i], map);
          if (fix) want = signFix(want, values[i], map);
          if (got[i] !== want) {
            expect.fail(
              `${signed ? 'signed' : 'unsigned'}${fix ? '+signfix' : ''}: x = ${values[i]} ` +
                `(bits ${f32Bits(values[i]).toString(16)}) -> engine ${got[i]}, reference ${want}`,
            );
          }
        }
      }
    }
  });

  it('reproduces the worked examples of Appendix B, the tie rule, NaN, saturation and -0', () => {
    const { nearestCodes } = qstep();
    const s = Float32Array.from([0.5, -0.25, 0.001, -1e-9, 0.0, -0.0, 2.0, -2.0]);
    const x = s.map((v) => v / 2);
    expect(Array.from(nearestCodes(x, true, false))).to.deep.equal([201, 62, 138, 127, 127, 127, 255, 0]);
    const fixed = nearestCodes(x, true, true);
    expect(Array.from(fixed)).to.deep.equal([201, 62, 138, 126, 127, 126, 255, 0]);
    const want = [0.4953125, -0.2421875, 0.0009875, -1.1e-6, 0, -1.1e-6, 2.0, -1.9859375];
    Array.from(fixed).forEach((q, i) =>
      expect(Math.fround(SIGNED_MAP[q] * 2)).to.be.closeTo(want[i], Math.abs(want[i]) * 1e-6),
    );
    const v = Float32Array.from([4.0, 1e-4, 0, 3e-7, 1.0, 0.5, 2.0, 3.9999]).map((a) => a / 4);
    expect(Array.from(nearestCodes(v, false, false))).to.deep.equal([255, 8, 0, 0, 148, 130, 183, 255]);
    const mids = midpoints(SIGNED_MAP);
    expect(Array.from(nearestCodes(Float32Array.from([mids[200], mids[201]]), true, false))).to.deep.equal([200, 202]);
    expect(Array.from(nearestCodes(Float32Array.from([NaN, 2, -2, Infinity]), true, false))).to.deep.equal([
      0, 255, 0, 255,
    ]);
    expect(Array.from(nearestCodes(Float32Array.from([NaN, 2, -5]), false, false))).to.deep.equal([0, 255, 0]);
    expect(Array.from(nearestCodes(Float32Array.from([-0, 0]), true, false))).to.deep.equal([127, 127]);
    expect(Array.from(nearestCodes(Float32Array.from([-0, 0]), true, true))).to.deep.equal([126, 127]);
  });
});

describe('engine standalone blockwise quantization (docs/math.md §5.3, 16.4)', () => {
  const n = 1024 * 1024;

  for (const dtype of DTYPES) {
    it(`randn 1024x1024 ${dtype}: codes and absmax equal the reference for every block size; 16.4 error limits`, async () => {
      const { quantizeBlockwise, dequantizeBlockwise, constants } = qstep();
      const rng = rngFor(`standalone randn ${dtype}`);
      const a = roundArray(dtype, rng.randn(n));
      const input = encode(a, dtype);
      const nearest = fastNearest(SIGNED_MAP);
      expect(constants.quantizeBlockSizes).to.deep.equal([64, 128, 256, 512, 1024, 2048, 4096]);
      for (const bs of constants.quantizeBlockSizes) {
        const label = `randn ${dtype} block ${bs}`;
        const q = await quantizeBlockwise(input, dtype, bs);
        const ref = quantizeBlockwiseRef(a, bs, SIGNED_MAP, nearest);
        assertBytesEqual(`${label}: absmax`, mapBytes(q.absmax), mapBytes(ref.absmax));
        assertBytesEqual(`${label}: codes`, u8Array(q.codes), ref.codes);
        const out = await dequantizeBlockwise(q.codes, q.absmax, bs, dtype);
        check(
          out.length === n * BYTES[dtype],
          `${label}: dequantized ${out.length} bytes, want ${n * BYTES[dtype]} (${dtype})`,
        );
        const back = decode(out, dtype);
        assertClose(
          `${label}: dequantized values`,
          back,
          roundArray(dtype, dequantizeBlockwiseRef(ref.codes, ref.absmax, bs, SIGNED_MAP)),
          0,
          0,
        );
        const e = meanErrors(back, a, 1e-8);
        check(e.abs < 0.011 && e.rel < 0.018, `${label}: mean abs ${e.abs} (< 0.011), mean rel ${e.rel} (< 0.018)`);
      }
    });
  }

  it('uniform [0,1) with explicit signed and unsigned maps: equal codes and the 16.4 limits', async () => {
    const { quantizeBlockwise, dequantizeBlockwise, qmap } = qstep();
    const rng = rngFor('standalone uniform');
    const a = roundArray('fp32', rng.rand(n));
    for (const signed of [true, false]) {
      const map = signed ? SIGNED_MAP : UNSIGNED_MAP;
      const [absLim, relLim] = signed ? [0.0036, 0.015] : [0.0023, 0.012];
      for (const bs of [256, 4096]) {
        const label = `uniform ${signed ? 'signed' : 'unsigned'} block ${bs}`;
        const q = await quantizeBlockwise(encode(a, 'fp32'), 'fp32', bs, qmap(signed));
        const ref = quantizeBlockwiseRef(a, bs, map, fastNearest(map));
        assertBytesEqual(`${label}: codes`, u8Array(q.codes), ref.codes);
        const back = decode(await dequantizeBlockwise(q.codes, q.absmax, bs, 'fp32', qmap(signed)), 'fp32');
        const e = meanErrors(back, a, 1e-8);
        check(
          e.abs < absLim && e.rel < relLim,
          `${label}: mean abs ${e.abs} (< ${absLim}), mean rel ${e.rel} (< ${relLim})`,
        );
      }
    }
  });

  it('all-zero block -> code 0 decoding to -0.0; negative block maximum; partial last block', async () => {
    const { quantizeBlockwise, dequantizeBlockwise } = qstep();
    const rng = rngFor('standalone edges');
    const a = roundArray('fp32', rng.randn(4097));
    a.fill(0, 64, 128); // block 1 of 64 all zero
    a[130] = -5; // block 2: negative maximum
    const q = await quantizeBlockwise(encode(a, 'fp32'), 'fp32', 64);
    const ref = quantizeBlockwiseRef(a, 64, SIGNED_MAP);
    assertBytesEqual('edges: codes', u8Array(q.codes), ref.codes);
    expect(q.absmax.length).to.equal(65);
    expect(q.absmax[1]).to.equal(0);
    expect(Array.from(u8Array(q.codes).subarray(64, 128)).every((c) => c === 0)).to.equal(true);
    const out = await dequantizeBlockwise(q.codes, q.absmax, 64, 'fp32');
    const bits = f32Array(out);
    expect(f32Bits(bits[64]).toString(16), 'decoded zero block is -0.0').to.equal('80000000');
    expect(q.absmax[2]).to.equal(5);
    expect(u8Array(q.codes)[130]).to.equal(0);
    expect(bits[130]).to.equal(Math.fround(SIGNED_MAP[0] * 5));
    expect(q.absmax[64]).to.equal(Math.abs(Math.fround(a[4096])));
  });

  it('rejects bad block sizes, maps, lengths and scale vectors with INVALID_ARGUMENT', async () => {
    const { quantizeBlockwise, dequantizeBlockwise } = qstep();
    const buf = encode(new Float64Array(300).fill(0.5), 'fp32');
    await expectEngineError(() => quantizeBlockwise(buf, 'fp32', 100), 'INVALID_ARGUMENT', 'blockSize');
    await expectEngineError(
      () => quantizeBlockwise(buf, 'fp32', 64, new Float32Array(255)),
      'INVALID_ARGUMENT',
      'code',
    );
    await expectEngineError(() => quantizeBlockwise(Buffer.alloc(3), 'fp16', 64), 'INVALID_ARGUMENT', 'input');
    const q = await quantizeBlockwise(buf, 'fp32', 64);
    await expectEngineError(
      () => dequantizeBlockwise(q.codes, new Float32Array(4), 64, 'fp32'),
      'INVALID_ARGUMENT',
      'absmax',
    );
  });
});
