// docs/math.md §4.1 / 4.3: bnb's create_dynamic_map(signed, max_exponent_bits = 7, total_bits = 8), emulated in fp32 with
// the fused multiply-add of PyTorch's CPU linspace (or without it, to show why the tables are shipped as
// constants). Used only to check Appendix A against the construction it claims to come from.

/** torch.linspace(0.1, 1, k) in fp32 (4.3); `fused` = single rounding of start + step*j. */
function linspace(k: number, fused: boolean): number[] {
  const start = Math.fround(0.1);
  const end = Math.fround(1.0);
  const step = Math.fround(Math.fround(end - start) / (k - 1));
  const half = Math.floor(k / 2);
  const out: number[] = [];
  for (let j = 0; j < k; j++) {
    // step*j is exact in float64 (24 + 8 bits) and so is the sum, so fround(sum) is a single (fused) rounding.
    const prod = fused ? step * j : Math.fround(step * j);
    const prodHi = fused ? step * (k - 1 - j) : Math.fround(step * (k - 1 - j));
    out.push(j < half ? Math.fround(start + prod) : Math.fround(end - prodHi));
  }
  return out;
}

export function createDynamicMap(signed: boolean, fused = true): Float32Array {
  const maxExponentBits = 7;
  const totalBits = 8;
  const nsb = totalBits - 1;
  const values: number[] = [];
  for (let i = 0; i < maxExponentBits; i++) {
    const k = signed ? 2 ** (i + nsb - maxExponentBits) + 1 : 2 ** (i + nsb - maxExponentBits + 1) + 1;
    const b = linspace(k, fused);
    const scale = Math.fround(Number(`1e${i - (maxExponentBits - 1)}`));
    for (let j = 0; j < k - 1; j++) {
      const m = Math.fround(Math.fround(b[j] + b[j + 1]) / 2);
      const v = Math.fround(scale * m);
      values.push(v);
      if (signed) values.push(-v);
    }
  }
  values.push(0, 1);
  while (values.length < 2 ** totalBits) values.push(0);
  return Float32Array.from(values).sort();
}
