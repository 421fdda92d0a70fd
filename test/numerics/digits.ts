// A small real training task for the 8-bit zero-v guard (docs/math.md §19): a 64-32-10 tanh MLP on sklearn's
// digits (1797 8x8 images, test/numerics/fixtures/digits.bin: 1797*64 pixel bytes 0..16, then 1797 label bytes;
// dumped once with sklearn.datasets.load_digits). Forward and backward run here in float64; the engine steps the
// four parameters, each large enough or forced (min8bitSize 0) into the mode under test.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine, OptimizerConfig, Param } from '../../native/lib';
import { decode, encode } from '../helpers/dtype';
import type { Rng } from '../helpers/random';

export const DIGITS_N = 1797;
const IN = 64;
const HID = 32;
const OUT = 10;

export function loadDigits(): { x: Float64Array; y: Uint8Array } {
  const raw = readFileSync(join(__dirname, 'fixtures/digits.bin'));
  if (raw.length !== DIGITS_N * (IN + 1)) throw new Error(`digits.bin: ${raw.length} bytes`);
  const x = new Float64Array(DIGITS_N * IN);
  for (let i = 0; i < x.length; i++) x[i] = raw[i] / 16;
  return { x, y: Uint8Array.from(raw.subarray(DIGITS_N * IN)) };
}

export interface TrainResult {
  /** Largest |w| over every parameter at the end. */
  maxAbs: number;
  /** Weights whose magnitude ends above 1. */
  above1: number;
  /** Training accuracy at the end. */
  accuracy: number;
}

/**
 * Trains `epochs` epochs of minibatches of 32 (order from `rng`, the same for every config given the same seed)
 * and reports the weights' magnitudes. Initial weights: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)).
 */
export async function trainDigits(
  engine: Engine,
  config: OptimizerConfig,
  rng: Rng,
  epochs: number,
): Promise<TrainResult> {
  const { x, y } = loadDigits();
  const shapes: [string, number][] = [
    ['w1', IN * HID],
    ['b1', HID],
    ['w2', HID * OUT],
    ['b2', OUT],
  ];
  const init = shapes.map(([name, n]) => {
    const fan = name.startsWith('w') ? (name === 'w1' ? IN : HID) : name === 'b1' ? IN : HID;
    const a = new Float64Array(n);
    for (let i = 0; i < n; i++) a[i] = (2 * rng.uniform() - 1) / Math.sqrt(fan);
    return a;
  });
  const params: Param[] = shapes.map(([name, n]) => engine.createParam({ name, shape: [n], dtype: 'fp32', config }));
  try {
    for (let i = 0; i < params.length; i++) await params[i].write(0, encode(init[i], 'fp32'), 'fp32');
    const w: Float64Array[] = init.map((a) => Float64Array.from(a));
    const order = Array.from({ length: DIGITS_N }, (_, i) => i);
    const B = 32;
    const h = new Float64Array(B * HID);
    const logits = new Float64Array(OUT);
    for (let e = 0; e < epochs; e++) {
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
      for (let s = 0; s + B <= DIGITS_N; s += B) {
        const g = shapes.map(([, n]) => new Float64Array(n));
        for (let b = 0; b < B; b++) {
          const k = order[s + b];
          for (let j = 0; j < HID; j++) {
            let z = w[1][j];
            for (let i = 0; i < IN; i++) z += x[k * IN + i] * w[0][i * HID + j];
            h[b * HID + j] = Math.tanh(z);
          }
          let mx = -Infinity;
          for (let o = 0; o < OUT; o++) {
            let z = w[3][o];
            for (let j = 0; j < HID; j++) z += h[b * HID + j] * w[2][j * OUT + o];
            logits[o] = z;
            mx = Math.max(mx, z);
          }
          let sum = 0;
          for (let o = 0; o < OUT; o++) sum += logits[o] = Math.exp(logits[o] - mx);
          const dh = new Float64Array(HID);
          for (let o = 0; o < OUT; o++) {
            const d = (logits[o] / sum - (o === y[k] ? 1 : 0)) / B;
            g[3][o] += d;
            for (let j = 0; j < HID; j++) {
              g[2][j * OUT + o] += d * h[b * HID + j];
              dh[j] += d * w[2][j * OUT + o];
            }
          }
          for (let j = 0; j < HID; j++) {
            const dz = dh[j] * (1 - h[b * HID + j] ** 2);
            g[1][j] += dz;
            for (let i = 0; i < IN; i++) g[0][i * HID + j] += dz * x[k * IN + i];
          }
        }
        await engine.step(params.map((p, i) => ({ param: p, grad: encode(g[i], 'fp32'), gradDtype: 'fp32' as const })));
        for (let i = 0; i < params.length; i++) w[i] = decode(await params[i].read(), 'fp32');
      }
    }
    let maxAbs = 0;
    let above1 = 0;
    for (const a of w)
      for (const v of a) {
        maxAbs = Math.max(maxAbs, Math.abs(v));
        if (Math.abs(v) > 1) above1++;
      }
    let correct = 0;
    for (let k = 0; k < DIGITS_N; k++) {
      let best = -1;
      let bestZ = -Infinity;
      const hk = new Float64Array(HID);
      for (let j = 0; j < HID; j++) {
        let z = w[1][j];
        for (let i = 0; i < IN; i++) z += x[k * IN + i] * w[0][i * HID + j];
        hk[j] = Math.tanh(z);
      }
      for (let o = 0; o < OUT; o++) {
        let z = w[3][o];
        for (let j = 0; j < HID; j++) z += hk[j] * w[2][j * OUT + o];
        if (z > bestZ) [bestZ, best] = [z, o];
      }
      if (best === y[k]) correct++;
    }
    return { maxAbs, above1, accuracy: correct / DIGITS_N };
  } finally {
    for (const p of params) p.free();
  }
}
