// What the many-parameter tests share: parameter names, an SGD-with-momentum reference in float64 (docs/math.md
// §6.3) and a closeness check against it.

import { expect } from 'chai';

export const N = 100_000;
export const NUMEL = 4;
export const LR = 0.01;
export const MOMENTUM = 0.9;

export const names = Array.from({ length: N }, (_, i) => `blocks.${Math.floor(i / 128)}.experts.${i % 128}.w`);

/** SGD with momentum in float64 (docs/math.md §6.3: the buffer is the gradient at t = 1). */
export class SgdReference {
  readonly p: Float64Array[];
  readonly buf: Float64Array[];
  t = 0;

  constructor(init: Float32Array[]) {
    this.p = init.map((a) => Float64Array.from(a));
    this.buf = init.map((a) => new Float64Array(a.length));
  }

  step(grads: Float32Array[]): void {
    this.t++;
    for (let i = 0; i < grads.length; i++) {
      const p = this.p[i];
      const b = this.buf[i];
      const g = grads[i];
      for (let j = 0; j < g.length; j++) {
        b[j] = this.t === 1 ? g[j] : b[j] * MOMENTUM + g[j];
        p[j] -= LR * b[j];
      }
    }
  }
}

export function expectClose(got: Buffer | undefined, want: Float64Array, what: string): void {
  expect(got, what).to.not.equal(undefined);
  const v = new Float32Array(got!.buffer, got!.byteOffset, got!.length / 4);
  expect(v.length, what).to.equal(want.length);
  for (let j = 0; j < v.length; j++) {
    if (Math.abs(v[j] - want[j]) > 1e-5 * (1 + Math.abs(want[j]))) {
      expect.fail(`${what}[${j}]: got ${v[j]}, want ${want[j]}`);
    }
  }
}

export function tensors(list: Float32Array[]): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  list.forEach((a, i) => (out[names[i]] = a));
  return out;
}

export const ms = (t0: number) => Math.round(performance.now() - t0);
