// The oracle checked against the numbers of docs/math.md (no engine needed): the Appendix A tables against the 4.1
// construction and the 4.2 self-check values, the nearest-code rule of 5.1 and the sign fix of 5.2 against the
// worked examples of Appendix B, and the two nearest-code implementations against each other.
import { expect } from 'chai';
import { f32Bits } from '../helpers/dtype';
import { rngFor } from '../helpers/random';
import {
  createDynamicMap,
  fastNearest,
  midpoints,
  nearestCode,
  nearestLinear,
  quantizeStateValue,
  SIGNED_MAP,
  signFix,
  stateQuantizer,
  UNSIGNED_MAP,
} from '../reference';

const sig9 = (x: number): number => Number(x.toPrecision(9));

describe('reference: quantization maps (docs/math.md §4, Appendix A)', () => {
  it('Appendix A equals create_dynamic_map with the fused linspace of 4.3 (and the unfused one differs in 42/31)', () => {
    for (const signed of [true, false]) {
      const table = signed ? SIGNED_MAP : UNSIGNED_MAP;
      const fused = createDynamicMap(signed, true);
      const unfused = createDynamicMap(signed, false);
      let dFused = 0;
      let dUnfused = 0;
      for (let i = 0; i < 256; i++) {
        if (f32Bits(fused[i]) !== f32Bits(table[i])) dFused++;
        if (f32Bits(unfused[i]) !== f32Bits(table[i])) dUnfused++;
      }
      expect(dFused, `${signed ? 'signed' : 'unsigned'} fused construction vs Appendix A`).to.equal(0);
      expect(dUnfused, `${signed ? 'signed' : 'unsigned'} unfused construction`).to.equal(signed ? 42 : 31);
    }
  });

  it('matches the self-check values of 4.2', () => {
    const s = Array.from(SIGNED_MAP, sig9);
    const u = Array.from(UNSIGNED_MAP, sig9);
    expect(s.slice(0, 5)).to.deep.equal([-0.992968738, -0.978906274, -0.96484375, -0.950781226, -0.936718762]);
    expect(s.slice(251)).to.deep.equal([0.950781226, 0.96484375, 0.978906274, 0.992968738, 1]);
    expect(s.slice(124, 130)).to.deep.equal([
      -7.7499999e-6, -3.25000019e-6, -5.50000038e-7, 0, 5.50000038e-7, 3.25000019e-6,
    ]);
    expect(u.slice(0, 5)).to.deep.equal([0, 3.2500003e-7, 7.7499999e-7, 2.12499981e-6, 4.37499966e-6]);
    expect(u.slice(251)).to.deep.equal([0.975390673, 0.982421875, 0.989453077, 0.996484399, 1]);
    expect([s[63], s[127], s[191]]).to.deep.equal([-0.107031256, 0, 0.107031256]);
    expect([u[63], u[127], u[191]]).to.deep.equal([0.010703126, 0.103515625, 0.553515673]);
    expect(f32Bits(SIGNED_MAP[0]).toString(16)).to.equal('bf7e3333');
  });

  it('has the counts, sum, order and symmetry of 4.1/4.2', () => {
    const count = (m: Float32Array, f: (x: number) => boolean): number => Array.from(m).filter(f).length;
    expect([
      count(SIGNED_MAP, (x) => x < 0),
      count(SIGNED_MAP, (x) => x === 0),
      count(SIGNED_MAP, (x) => x > 0),
    ]).to.deep.equal([127, 1, 128]);
    expect([count(UNSIGNED_MAP, (x) => x === 0), count(UNSIGNED_MAP, (x) => x > 0)]).to.deep.equal([1, 255]);
    expect(Array.from(SIGNED_MAP).reduce((a, b) => a + b, 0)).to.equal(1);
    for (const m of [SIGNED_MAP, UNSIGNED_MAP]) for (let i = 1; i < 256; i++) expect(m[i]).to.be.greaterThan(m[i - 1]);
    for (let i = 0; i <= 126; i++) expect(SIGNED_MAP[254 - i]).to.equal(-SIGNED_MAP[i]);
    expect(SIGNED_MAP[255]).to.equal(1);
    expect(UNSIGNED_MAP[255]).to.equal(1);
  });
});

describe('reference: nearest code and sign fix (docs/math.md §5.1, 5.2, Appendix B)', () => {
  it('reproduces the signed worked example of Appendix B', () => {
    const s = [0.5, -0.25, 0.001, -1e-9, 0.0, -0.0, 2.0, -2.0].map(Math.fround);
    const x = s.map((v) => Math.fround(v / 2));
    const raw = x.map((v) => nearestCode(v, SIGNED_MAP));
    expect(raw).to.deep.equal([201, 62, 138, 127, 127, 127, 255, 0]);
    const fixed = raw.map((q, i) => signFix(q, s[i], SIGNED_MAP));
    expect(fixed).to.deep.equal([201, 62, 138, 126, 127, 126, 255, 0]);
    const decoded = fixed.map((q) => Math.fround(SIGNED_MAP[q] * 2));
    const want = [0.4953125, -0.2421875, 0.0009875, -1.1e-6, 0, -1.1e-6, 2.0, -1.9859375];
    decoded.forEach((d, i) => expect(d).to.be.closeTo(want[i], Math.abs(want[i]) * 1e-6, `decoded[${i}]`));
  });

  it('reproduces the unsigned worked example of Appendix B', () => {
    const v = [4.0, 1e-4, 0, 3e-7, 1.0, 0.5, 2.0, 3.9999].map(Math.fround);
    const q = v.map((a) => nearestCode(Math.fround(a / 4), UNSIGNED_MAP));
    expect(q).to.deep.equal([255, 8, 0, 0, 148, 130, 183, 255]);
    const want = [4.0, 1.075e-4, 0, 0, 1.0046874, 0.4984375, 1.9890624, 4.0];
    q.forEach((c, i) => expect(Math.fround(UNSIGNED_MAP[c] * 4)).to.be.closeTo(want[i], want[i] * 1e-6, `[${i}]`));
  });

  it('sends exact midpoint ties to the even index (200/201 -> 200, 201/202 -> 202)', () => {
    const m = midpoints(SIGNED_MAP);
    expect(sig9(m[200])).to.equal(0.240624994);
    expect(sig9(m[201])).to.equal(0.254687488);
    expect(nearestCode(m[200], SIGNED_MAP)).to.equal(200);
    expect(nearestCode(m[201], SIGNED_MAP)).to.equal(202);
  });

  it('maps NaN to 0, saturates beyond the ends and treats -0 as +0 before the sign fix', () => {
    for (const map of [SIGNED_MAP, UNSIGNED_MAP]) {
      expect(nearestCode(NaN, map)).to.equal(0);
      expect(nearestCode(Infinity, map)).to.equal(255);
      expect(nearestCode(-Infinity, map)).to.equal(0);
      expect(nearestCode(7.5, map)).to.equal(255);
      expect(nearestCode(-3, map)).to.equal(0);
    }
    expect(nearestCode(-0, SIGNED_MAP)).to.equal(127);
    expect(nearestCode(-0, UNSIGNED_MAP)).to.equal(0);
    expect(signFix(127, -0, SIGNED_MAP)).to.equal(126);
    // 5.2: an all-zero block gives x = 0/0 = NaN -> index 0, s = +0, signs differ, s > 0 false -> 255.
    expect(signFix(nearestCode(0 / 0, SIGNED_MAP), 0, SIGNED_MAP)).to.equal(255);
  });

  it('binary search and linear scan agree on every code, midpoint and their fp32 neighbours', () => {
    const rng = rngFor('reference nearest agreement');
    for (const map of [SIGNED_MAP, UNSIGNED_MAP]) {
      const probes: number[] = [];
      const next = (x: number, dir: 1 | -1): number => {
        const b = new Float32Array([x]);
        const u = new Int32Array(b.buffer);
        if (x === 0) return dir * 1.4e-45;
        u[0] += x > 0 === dir > 0 ? 1 : -1;
        return b[0];
      };
      for (const v of [...Array.from(map), ...Array.from(midpoints(map))]) probes.push(v, next(v, 1), next(v, -1));
      for (let i = 0; i < 20000; i++) probes.push(Math.fround((rng.uniform() * 2 - 1) * 10 ** -rng.int(8)));
      for (const x of probes) {
        const a = nearestCode(x, map);
        const b = nearestLinear(x, map);
        if (a !== b) expect.fail(`nearest(${x}) binary ${a} vs linear ${b}`);
        // The chosen code is a nearest one: no neighbour is closer by more than the rounding of the fp32
        // midpoint (at an exact fp32 tie the even index wins even if the real midpoint lies a half-ulp away).
        if (x >= map[0] && x <= map[255]) {
          const d = Math.abs(x - map[a]) - Math.abs(x) * 2 ** -23;
          if (a > 0 && Math.abs(x - map[a - 1]) < d) expect.fail(`code ${a - 1} is closer to ${x} than ${a}`);
          if (a < 255 && Math.abs(x - map[a + 1]) < d) expect.fail(`code ${a + 1} is closer to ${x} than ${a}`);
        }
      }
    }
  });

  it('the bucketed lookup (fastNearest, stateQuantizer) gives exactly the plain rule on every probe', () => {
    const rng = rngFor('reference fast nearest');
    for (const map of [SIGNED_MAP, UNSIGNED_MAP]) {
      const fast = fastNearest(map);
      const probes = [
        ...Array.from(map),
        ...Array.from(midpoints(map)),
        NaN,
        Infinity,
        -Infinity,
        0,
        -0,
        1e-40,
        -1e-40,
        3.4e38,
        -3.4e38,
      ];
      for (const v of Array.from(midpoints(map))) {
        const b = new Float32Array([v, v]);
        const u = new Int32Array(b.buffer);
        u[0] += 1;
        u[1] -= 1;
        probes.push(b[0], b[1]);
      }
      for (let i = 0; i < 50000; i++) probes.push((rng.uniform() * 2.2 - 1.1) * 10 ** -rng.int(9));
      for (const x of probes) {
        const xf = Math.fround(x);
        if (fast(xf) !== nearestCode(xf, map))
          expect.fail(`fastNearest(${xf}) = ${fast(xf)}, plain ${nearestCode(xf, map)}`);
      }
      for (const signed of [true, false]) {
        const q = stateQuantizer(map, signed);
        for (let i = 0; i < 20000; i++) {
          const s = (rng.uniform() * 2 - 1) * 10 ** -rng.int(9);
          const scale = Math.fround(rng.uniform() * 10 ** -rng.int(6));
          if (q(s, scale) !== quantizeStateValue(s, scale, map, signed)) expect.fail(`stateQuantizer(${s}, ${scale})`);
        }
        for (const s of [0, -0, NaN, 1e-30, -1e-30]) {
          for (const scale of [0, 1, 1e-3]) {
            const a = q(s, scale);
            const b = quantizeStateValue(s, scale, map, signed);
            if (a !== b) expect.fail(`stateQuantizer(${s}, ${scale}) = ${a}, plain ${b}`);
          }
        }
      }
    }
  });

  it('never decodes a negative value to zero or a positive code after the sign fix', () => {
    const rng = rngFor('reference sign fix');
    for (let i = 0; i < 20000; i++) {
      const s = Math.fround(-rng.uniform() * 10 ** -rng.int(10));
      const q = signFix(nearestCode(s, SIGNED_MAP), s, SIGNED_MAP);
      expect(SIGNED_MAP[q], `s = ${s}`).to.be.lessThan(0);
    }
  });
});
