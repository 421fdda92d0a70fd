// Reference quantization primitives, written from spec 5 as plainly as possible (house style 8):
//   5.1 nearest code: the boundary between c[i] and c[i+1] is mid_i = f32(f32(c[i] + c[i+1]) * 0.5); strictly
//       above goes up, strictly below goes down, an exact tie goes to the even index; NaN gives 0; values beyond
//       the ends saturate; -0 compares equal to +0.
//   5.2 sign fix (signed optimizer state only): if the sign bit of c[q] differs from the sign bit of s,
//       q = q + 1 when s > 0, else q - 1, with 8-bit wrap-around.
//   5.3 standalone blockwise quantization: absmax per block, x = a * f32(1 / absmax), nearest code, no sign fix.
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

/** Code of one optimizer state value `s` (fp32) normalized by `scale` with an exact fp32 division (spec 7.2, 8.1). */
export function quantizeStateValue(s: number, scale: number, code: Float32Array, signed: boolean): number {
  const x = Math.fround(Math.fround(s) / Math.fround(scale));
  const q = nearestCode(x, code);
  return signed ? signFix(q, Math.fround(s), code) : q;
}

/** 5.3 standalone blockwise quantization of fp32 values (already widened from the input dtype). */
export function quantizeBlockwiseRef(values: ArrayLike<number>, blockSize: number,
  code: Float32Array): { codes: Uint8Array; absmax: Float32Array } {
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
    for (let i = lo; i < hi; i++) codes[i] = nearestCode(Math.fround(Math.fround(values[i]) * inv), code);
  }
  return { codes, absmax };
}

/** out_i = f32(c[q_i] * absmax[i div B]) (then rounded to the output dtype by the caller). */
export function dequantizeBlockwiseRef(codes: ArrayLike<number>, absmax: ArrayLike<number>, blockSize: number,
  code: Float32Array): Float64Array {
  const out = new Float64Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = Math.fround(code[codes[i]] * absmax[Math.floor(i / blockSize)]);
  return out;
}
