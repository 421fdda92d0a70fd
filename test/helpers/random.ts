// Seeded randomness for the numeric suites: fresh inputs every run (house style 20), reproducible on demand.
// The suite seed comes from Math.random unless QSTEP_TEST_SEED is set; every failure message names it so that a
// failing run can be replayed exactly. Each test derives its own stream from the suite seed and its label, so
// tests stay independent of execution order.

function parseSeed(v: string | undefined): number | null {
  if (v === undefined || v === '') return null;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32) throw new Error(`QSTEP_TEST_SEED must be a uint32, got ${v}`);
  return n;
}

/** The seed of this run (uint32). */
export const SUITE_SEED: number = parseSeed(process.env.QSTEP_TEST_SEED) ?? Math.floor(Math.random() * 2 ** 32);

/** Appended to assertion messages: how to replay this exact run. */
export const SEED_NOTE = `(suite seed ${SUITE_SEED}; replay with QSTEP_TEST_SEED=${SUITE_SEED})`;

/** FNV-1a over the label's UTF-16 units: a stable per-test stream id. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** xoshiro128** (Blackman and Vigna), seeded through splitmix32. Plenty for test data; not for cryptography. */
export class Rng {
  // int32 state (a typed array keeps the words unboxed; uint32 class fields would be heap doubles)
  private readonly s = new Int32Array(4);
  private spare: number | null = null;

  constructor(seed: number) {
    let x = seed | 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.s[i] = z ^ (z >>> 16);
    }
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1;
  }

  /** Uniform uint32. */
  u32(): number {
    const s = this.s;
    const m = Math.imul(s[1], 5);
    const result = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 11) | (s[3] >>> 21);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.u32() >>> 5;
    const lo = this.u32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, k). */
  int(k: number): number {
    return Math.floor(this.uniform() * k);
  }

  /** Standard normal (Box-Muller, both values used). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** n draws of N(0, scale^2). */
  randn(n: number, scale = 1): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal() * scale;
    return out;
  }

  /** n draws of U[0, 1). */
  rand(n: number): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = this.uniform();
    return out;
  }
}

/** The random stream of one test: suite seed combined with the test's label. */
export function rngFor(label: string): Rng {
  return new Rng((SUITE_SEED ^ hashLabel(label)) >>> 0);
}
