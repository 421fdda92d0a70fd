// Reference quantization primitives, written from docs/math.md §5 as plainly as possible (house style 8):
//   5.1 nearest code: the boundary between c[i] and c[i+1] is mid_i = f32(f32(c[i] + c[i+1]) * 0.5); strictly
//       above goes up, strictly below goes down, an exact tie goes to the even index; NaN gives 0; values beyond
//       the ends saturate; -0 compares equal to +0.
//   5.2 sign fix (signed optimizer state only): if the sign bit of c[q] differs from the sign bit of s,
//       q = q + 1 when s > 0, else q - 1, with 8-bit wrap-around.
//   5.3 standalone blockwise quantization: absmax per block, x = a * f32(1 / absmax), nearest code, no sign fix.
//   7.2 step 5 / 8.1 step 3 (optimizer state, as qstep decides it): x = s * f32(1 / scale), the reciprocal of the
//       block scale taken once like bnb's kernels; when that reciprocal is not finite (scale 0, NaN, or a
//       subnormal below 2^-128) the exact quotient f32(s / scale).
// Two nearest-code implementations (linear scan and binary search over the midpoints) check each other.
import { f32SignBit } from '../helpers/dtype';

const midCache = new WeakMap<Float32Array, Float32Array>();

/** The 255 fp32 decision boundaries of a sorted 256-entry code. */
export function midpoints(code: Float32Array): Float32Array {
  let m = midCache.get(code);
  if (!m) {
    m = new Float32Array(255);
    for (let i = 0; i < 255; i++) m[i] = Math.fround(Math.fround(code[i] + code[i + 1]) * 0.5);
    midCache.set(code, m);
  }
  return m;
}

/** 5.1 by linear scan: walk up while x lies strictly above the next boundary. `x` must be an fp32 value. */
export function nearestLinear(x: number, code: Float32Array): number {
  if (Number.isNaN(x)) return 0;
  const mids = midpoints(code);
  let q = 0;
  for (let i = 0; i < 255; i++) {
    if (x > mids[i]) q = i + 1;
    else {
      if (x === mids[i]) q = i % 2 === 0 ? i : i + 1;
      break;
    }
  }
  return q;
}

/** 5.1 by binary search: q = number of boundaries strictly below x, then the even-index tie rule. */
export function nearestCode(x: number, code: Float32Array): number {
  if (Number.isNaN(x)) return 0;
  const mids = midpoints(code);
  let lo = 0;
  let hi = 255;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (mids[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  if (lo < 255 && mids[lo] === x && lo % 2 === 1) return lo + 1;
  return lo;
}

/** 5.2: keeps a negative state value from decoding to zero or a positive value. `s` is the fp32 state value. */
export function signFix(q: number, s: number, code: Float32Array): number {
  if (f32SignBit(code[q]) !== f32SignBit(s)) q = s > 0 ? q + 1 : q - 1;
  return q & 0xff;
}

/**
 * Bucket bounds for a fast nearest-code lookup: for every 16-bit prefix of an fp32 value (sign, exponent, 7
 * mantissa bits) the smallest and largest nearest code over the bucket's finite values, both found with the plain
 * binary search. A bucket spans 2^-7 relative, narrower than the spacing of the dynamic maps' codes, so a lookup
 * walks at most a step or two from the lower bound.
 */
function bucketBounds(code: Float32Array): { lo: Uint8Array; hi: Uint8Array } {
  let b = boundCache.get(code);
  if (!b) {
    const lo = new Uint8Array(65536);
    const hi = new Uint8Array(65536);
    const f = new Float32Array(2);
    const u = new Uint32Array(f.buffer);
    for (let h = 0; h < 65536; h++) {
      u[0] = (h << 16) >>> 0;
      u[1] = ((h << 16) | 0xffff) >>> 0;
      if ((h & 0x7f80) === 0x7f80) {
        const q = nearestCode(h & 0x8000 ? -Infinity : Infinity, code); // Inf; NaN is handled before the lookup
        lo[h] = q;
        hi[h] = q;
        continue;
      }
      const a = nearestCode(f[0], code);
      const c = nearestCode(f[1], code);
      lo[h] = Math.min(a, c);
      hi[h] = Math.max(a, c);
    }
    b = { lo, hi };
    boundCache.set(code, b);
  }
  return b;
}

const boundCache = new WeakMap<Float32Array, { lo: Uint8Array; hi: Uint8Array }>();

/**
 * nearestCode for whole tensors (x is rounded to fp32 first): the same rule, found through bucketBounds instead of a
 * binary search. Checked against the plain form in the reference self-tests.
 */
export function fastNearest(code: Float32Array): (x: number) => number {
  const mids = midpoints(code);
  const { lo, hi } = bucketBounds(code);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  return (xIn: number): number => {
    f[0] = xIn;
    const x = f[0];
    if (x !== x) return 0;
    const h = u[0] >>> 16;
    let q = lo[h];
    const top = hi[h];
    while (q < top && (x > mids[q] || (x === mids[q] && (q & 1) === 1))) q++;
    return q;
  };
}

/**
 * quantizeStateValue for whole tensors: the same rule (5.1 boundaries with the even tie, NaN -> 0, sign fix 5.2 for
 * signed state), found through bucketBounds instead of a binary search. Checked against the plain form in the
 * reference self-tests.
 */
export function stateQuantizer(code: Float32Array, signed: boolean): (s: number, scale: number) => number {
  const nearest = fastNearest(code);
  const neg = Uint8Array.from(code, (c) => (f32SignBit(c) ? 1 : 0));
  return (s: number, scale: number): number => {
    const sf = Math.fround(s);
    let q = nearest(normalizeState(sf, scale));
    if (!signed) return q;
    const sNeg = sf < 0 || (sf === 0 && 1 / sf < 0) || (sf !== sf && f32SignBit(sf));
    if ((neg[q] === 1) !== sNeg) q = (sf > 0 ? q + 1 : q - 1) & 0xff;
    return q;
  };
}

/** The normalized state value x for fp32 `s` against block scale `scale` (see the header: 7.2 step 5). */
export function normalizeState(s: number, scale: number): number {
  const sf = Math.fround(s);
  const scf = Math.fround(scale);
  const inv = Math.fround(1 / scf);
  return Number.isFinite(inv) ? Math.fround(sf * inv) : Math.fround(sf / scf);
}

/** Code of one optimizer state value `s` (fp32) normalized by `scale` (docs/math.md §7.2, 8.1; normalizeState). */
export function quantizeStateValue(s: number, scale: number, code: Float32Array, signed: boolean): number {
  const x = normalizeState(s, scale);
  const q = nearestCode(x, code);
  return signed ? signFix(q, Math.fround(s), code) : q;
}

/**
 * 5.3 standalone blockwise quantization of fp32 values (already widened from the input dtype). `nearest` defaults
 * to the plain binary search; large inputs may pass fastNearest(code).
 */
export function quantizeBlockwiseRef(
  values: ArrayLike<number>,
  blockSize: number,
  code: Float32Array,
  nearest: (x: number) => number = (x) => nearestCode(x, code),
): { codes: Uint8Array; absmax: Float32Array } {
  const n = values.length;
  const blocks = Math.ceil(n / blockSize);
  const codes = new Uint8Array(n);
  const absmax = new Float32Array(blocks);
  for (let b = 0; b < blocks; b++) {
    const lo = b * blockSize;
    const hi = Math.min(n, lo + blockSize);
    let m = 0;
    for (let i = lo; i < hi; i++) m = Math.max(m, Math.abs(values[i]));
    absmax[b] = m;
    const inv = Math.fround(1 / Math.fround(m)); // +Inf for an all-zero block: 0 * Inf = NaN -> code 0
    for (let i = lo; i < hi; i++) codes[i] = nearest(Math.fround(Math.fround(values[i]) * inv));
  }
  return { codes, absmax };
}

/** out_i = f32(c[q_i] * absmax[i div B]) (then rounded to the output dtype by the caller). */
export function dequantizeBlockwiseRef(
  codes: ArrayLike<number>,
  absmax: ArrayLike<number>,
  blockSize: number,
  code: Float32Array,
): Float64Array {
  const out = new Float64Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = Math.fround(code[codes[i]] * absmax[Math.floor(i / blockSize)]);
  return out;
}
