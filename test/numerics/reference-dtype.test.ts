// The fp16/bf16 helpers the suites use to build inputs and to model docs/math.md §10's rounding points, checked against
// IEEE facts (no engine): exact round trips of every 16-bit pattern, ties to even, subnormals, overflow.
import { expect } from 'chai';
import { bf16BitsOf, bf16Value, f16BitsOf, f16Value, roundTo } from '../helpers/dtype';

describe('reference: fp16 / bf16 round to nearest even', () => {
  it('round-trips every finite fp16 and bf16 bit pattern exactly', () => {
    for (let h = 0; h < 0x10000; h++) {
      const e16 = (h >>> 10) & 0x1f;
      if (e16 !== 0x1f && f16BitsOf(f16Value(h)) !== h) expect.fail(`fp16 ${h.toString(16)} does not round-trip`);
      const e8 = (h >>> 7) & 0xff;
      if (e8 !== 0xff && bf16BitsOf(bf16Value(h)) !== h) expect.fail(`bf16 ${h.toString(16)} does not round-trip`);
    }
  });

  it('rounds exact halfway points to the even neighbour and everything else to the nearest', () => {
    for (let h = 1; h < 0x7bff; h += 7) {
      const lo = f16Value(h);
      const hi = f16Value(h + 1);
      const mid = (lo + hi) / 2; // exact in fp32: one more mantissa bit
      const even = h % 2 === 0 ? h : h + 1;
      expect(f16BitsOf(mid), `fp16 midpoint after ${h.toString(16)}`).to.equal(even);
      expect(f16BitsOf(lo + (hi - lo) * 0.25)).to.equal(h);
      expect(f16BitsOf(lo + (hi - lo) * 0.75)).to.equal(h + 1);
    }
    for (let h = 1; h < 0x7f7f; h += 13) {
      const lo = bf16Value(h);
      const hi = bf16Value(h + 1);
      expect(bf16BitsOf((lo + hi) / 2), `bf16 midpoint after ${h.toString(16)}`).to.equal(h % 2 === 0 ? h : h + 1);
    }
  });

  it('knows the landmarks: 1, 0.1, max, overflow, subnormals, signs, NaN', () => {
    expect(f16BitsOf(1)).to.equal(0x3c00);
    expect(f16BitsOf(0.1)).to.equal(0x2e66);
    expect(f16BitsOf(65504)).to.equal(0x7bff);
    expect(f16BitsOf(65519)).to.equal(0x7bff);
    expect(f16BitsOf(65520)).to.equal(0x7c00);
    expect(f16BitsOf(2 ** -24)).to.equal(0x0001);
    expect(f16BitsOf(2 ** -25)).to.equal(0x0000);
    expect(f16BitsOf(3 * 2 ** -26)).to.equal(0x0001);
    expect(f16BitsOf(-0)).to.equal(0x8000);
    expect(f16BitsOf(-2)).to.equal(0xc000);
    expect(Number.isNaN(f16Value(f16BitsOf(NaN)))).to.equal(true);
    expect(bf16BitsOf(1)).to.equal(0x3f80);
    expect(bf16BitsOf(0.1)).to.equal(0x3dcd);
    expect(bf16BitsOf(1 + 2 ** -8)).to.equal(0x3f80);
    expect(bf16BitsOf(1 + 3 * 2 ** -8)).to.equal(0x3f82);
    expect(bf16BitsOf(3.4e38)).to.equal(0x7f80);
    expect(Number.isNaN(bf16Value(bf16BitsOf(NaN)))).to.equal(true);
    expect(roundTo('fp32', 0.1)).to.equal(Math.fround(0.1));
    expect(roundTo('bf16', 0.1)).to.equal(0.10009765625);
  });
});
