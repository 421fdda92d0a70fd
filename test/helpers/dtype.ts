// fp16 / bf16 conversions written independently of the engine (IEEE 754 binary16 and bfloat16, round to nearest
// even, docs/math.md §0 `toT`), and the Buffer encodings the engine's API takes. The optimizer reference uses `roundTo` to
// model the 16-bit rounding points of docs/math.md §10, and the tests use the encoders to hand parameters and gradients
// to the engine.
import type { DType } from '../../native/lib/types';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const i32 = new Int32Array(f32.buffer); // int32 view: small integers stay unboxed in the hot conversions

/** Bits of the fp32 value nearest to x. */
export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0];
}

export function f32FromBits(b: number): number {
  u32[0] = b >>> 0;
  return f32[0];
}

/** True when the fp32 rounding of x has its sign bit set (distinguishes -0 and negative NaNs). */
export function f32SignBit(x: number): boolean {
  return f32Bits(x) >>> 31 === 1;
}

/** binary16 bits of the fp32 value nearest to x, rounded to nearest even (subnormals kept, overflow to Inf). */
export function f16BitsOf(x: number): number {
  f32[0] = x;
  const b = i32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e; // 13 bits dropped for a normal half plus (1 - e) for the subnormal shift
    const half = 2 ** (shift - 1);
    const rem = mant % 2 ** shift;
    let h = Math.floor(mant / 2 ** shift);
    if (rem > half || (rem === half && (h & 1) === 1)) h++;
    return sign | h; // a carry into the exponent field gives the smallest normal, as it should
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // may carry up to Inf: correct
  return sign | h;
}

function f16Decode(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant !== 0 ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

// Every 16-bit pattern decoded once: the suites convert millions of values per run.
let F16_TABLE: Float64Array | null = null;
let BF16_TABLE: Float64Array | null = null;

function f16Table(): Float64Array {
  if (!F16_TABLE) F16_TABLE = Float64Array.from({ length: 65536 }, (_, h) => f16Decode(h));
  return F16_TABLE;
}

function bf16Table(): Float64Array {
  if (!BF16_TABLE) {
    BF16_TABLE = new Float64Array(65536);
    for (let h = 0; h < 65536; h++) BF16_TABLE[h] = f32FromBits(h << 16);
  }
  return BF16_TABLE;
}

export function f16Value(h: number): number {
  return f16Table()[h & 0xffff];
}

/** bfloat16 bits of the fp32 value nearest to x, rounded to nearest even. */
export function bf16BitsOf(x: number): number {
  f32[0] = x;
  const b = i32[0];
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return ((b >>> 16) | 0x40) & 0xffff;
  const lsb = (b >>> 16) & 1;
  return ((b + 0x7fff + lsb) >>> 16) & 0xffff; // ToUint32 wraps the sum exactly as uint32 arithmetic would
}

export function bf16Value(h: number): number {
  return bf16Table()[h & 0xffff];
}

/** toT(f32(x)): the value a parameter of `dtype` holds after the engine stores x (docs/math.md §0, 10). */
export function roundTo(dtype: DType, x: number): number {
  switch (dtype) {
    case 'fp32':
      return Math.fround(x);
    case 'fp16':
      return f16Value(f16BitsOf(x));
    case 'bf16':
      return bf16Value(bf16BitsOf(x));
  }
}

/** roundTo as a closure for hot loops (calls stay inside this module, no re-export getters on the way). */
export function rounder(dtype: DType): (x: number) => number {
  if (dtype === 'fp32') return Math.fround;
  if (dtype === 'fp16') {
    const tab = f16Table();
    return (x: number) => tab[f16BitsOf(x)];
  }
  const tab = bf16Table();
  return (x: number) => tab[bf16BitsOf(x)];
}

/** Elementwise roundTo, in place. */
export function roundArray(dtype: DType, a: Float64Array): Float64Array {
  if (dtype === 'fp32') {
    for (let i = 0; i < a.length; i++) a[i] = Math.fround(a[i]);
  } else if (dtype === 'fp16') {
    const tab = f16Table();
    for (let i = 0; i < a.length; i++) a[i] = tab[f16BitsOf(a[i])];
  } else {
    const tab = bf16Table();
    for (let i = 0; i < a.length; i++) a[i] = tab[bf16BitsOf(a[i])];
  }
  return a;
}

export const BYTES: Record<DType, number> = { fp32: 4, fp16: 2, bf16: 2 };

/** Little-endian raw bytes of `values` stored as `dtype` (each value rounded to nearest even). */
export function encode(values: ArrayLike<number>, dtype: DType): Buffer {
  const n = values.length;
  if (dtype === 'fp32') {
    const a = Float32Array.from(values as ArrayLike<number>);
    return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  }
  const a = new Uint16Array(n);
  const conv = dtype === 'fp16' ? f16BitsOf : bf16BitsOf;
  for (let i = 0; i < n; i++) a[i] = conv(values[i]);
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** An aligned copy of a Buffer's bytes (engine Buffers may start at any offset). */
function aligned(buf: Buffer): ArrayBuffer {
  const out = new ArrayBuffer(buf.length);
  new Uint8Array(out).set(buf);
  return out;
}

/** Values of a raw little-endian `dtype` Buffer, widened exactly to float64. */
export function decode(buf: Buffer, dtype: DType): Float64Array {
  if (buf.length % BYTES[dtype] !== 0) throw new Error(`decode: ${buf.length} bytes is not whole ${dtype} elements`);
  if (dtype === 'fp32') return Float64Array.from(new Float32Array(aligned(buf)));
  const a = new Uint16Array(aligned(buf));
  const out = new Float64Array(a.length);
  const tab = dtype === 'fp16' ? f16Table() : bf16Table();
  for (let i = 0; i < a.length; i++) out[i] = tab[a[i]];
  return out;
}

/** fp32 values of a raw f32 Buffer. */
export function f32Array(buf: Buffer): Float32Array {
  if (buf.length % 4 !== 0) throw new Error(`f32Array: ${buf.length} bytes is not whole fp32 elements`);
  return new Float32Array(aligned(buf));
}

export function u8Array(buf: Buffer): Uint8Array {
  return new Uint8Array(aligned(buf));
}
