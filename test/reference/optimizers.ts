// The float64 optimizer reference (house style 8): one plain step function per optimizer family, written from
// docs/math.md §6 (the fp32-state formulas) with the qstep decisions of the preface:
//   * weight decay (T2, D8): Adam/AdamW/LAMB/AdEMAMix decoupled after the step, p = (p - lr*u)(1 - lr*wd);
//     Lion decoupled before the sign step; SGD/LARS/RMSprop/Adagrad coupled, g = g + wd*p, in the state and in the
//     RMSprop/Adagrad numerator, in every mode;
//   * skip_zeros (D5, D13): an element whose gradient as it arrived is +-0 keeps its parameter and its state (no
//     decay), for every optimizer, AdEMAMix included, and adds nothing to a LAMB/LARS update norm;
//   * percentile clipping (9, D3) scales the gradient before everything else; LAMB/LARS trust ratio (11, D7);
//   * momentum's buffer is the first (scaled, decayed) gradient at t = 1 (T3); AdEMAMix schedulers (12).
// 8-bit modes use the same function: under the protocol of docs/math.md §16.2 the reference state is re-synchronized to the
// engine's dequantized state before every step, so the reference computes the one-step update from it.
// The only concession to 16-bit parameters is `Rounding`: where docs/math.md §10 rounds a value to the parameter dtype T.
import type { OptimizerName } from '../../native/lib/types';
import { HISTORY_LENGTH, norm2, percentileScale, trustScale } from './clipping';

export interface RefHyper {
  lr: number;
  betas: number[];
  eps: number;
  weightDecay: number;
  alpha: number;
  tAlpha: number;
  tBeta3: number;
  skipZeros: boolean;
  /** LAMB/LARS update-norm clipping, 0 = off (docs/math.md §11). */
  maxUnorm: number;
  /** 0..99, 100 = off (docs/math.md §9). */
  percentile: number;
  /** The betas and alpha as the caller gave them, for AdEMAMix's double-precision schedule (§12); default: above. */
  schedule?: { betas: number[]; alpha: number };
}

export interface RefState {
  /** Number of applied steps. */
  step: number;
  /** First state: m (Adam family), momentum buffer, Lion EMA, RMSprop/Adagrad accumulator; AdEMAMix m1 then m2. */
  s1: Float64Array;
  /** Second state: v (Adam family), nu (AdEMAMix); null for 1-state optimizers. */
  s2: Float64Array | null;
  /** Squared gradient norms (docs/math.md §9), when percentile clipping is on. */
  hist: Float64Array | null;
  /** Last squared update norm (LAMB/LARS). */
  unorm: number;
}

/** Where docs/math.md §10 rounds to the parameter dtype; identity everywhere for a pure float64 run. */
export interface Rounding {
  /** 32-bit kernels store the scaled and the decayed gradient back to T. */
  grad: (x: number) => number;
  /** Every write of a parameter. */
  param: (x: number) => number;
  /** 8-bit Lion stores lr*sign(...) in T before subtracting it. */
  lionStep: (x: number) => number;
}

const identity = (x: number): number => x;
export const EXACT: Rounding = { grad: identity, param: identity, lionStep: identity };

export interface RefStepInfo {
  t: number;
  gnormScale: number;
  updateScale: number;
  /** Squared update norm (LAMB/LARS with max_unorm > 0), else 0. */
  unorm: number;
  /** Scheduled AdEMAMix values used this step. */
  alpha: number;
  beta3: number;
}

export function twoStates(name: OptimizerName): boolean {
  return name === 'adam' || name === 'adamw' || name === 'lamb' || name === 'ademamix';
}

export function newRefState(name: OptimizerName, n: number, percentile: number): RefState {
  return {
    step: 0,
    s1: new Float64Array(name === 'ademamix' ? 2 * n : n),
    s2: twoStates(name) ? new Float64Array(n) : null,
    hist: percentile < 100 ? new Float64Array(HISTORY_LENGTH) : null,
    unorm: 0,
  };
}

/**
 * docs/math.md §12: the scheduled alpha and beta3 of AdEMAMix at step t (each only when its horizon is set), computed in
 * double precision on the host and handed to the kernel as fp32.
 */
export function ademamixSchedule(h: RefHyper, t: number): { alpha: number; beta3: number } {
  const [b1, , b3] = h.schedule?.betas ?? h.betas;
  const a = h.schedule?.alpha ?? h.alpha;
  const alpha = h.tAlpha > 0 ? Math.min((t * a) / h.tAlpha, a) : a;
  let beta3 = b3;
  if (h.tBeta3 > 0) {
    const s = t / h.tBeta3;
    const lb1 = Math.log(b1);
    const lb3 = Math.log(b3);
    beta3 = Math.min(Math.exp((lb1 * lb3) / ((1 - s) * lb3 + s * lb1)), b3);
  }
  return { alpha: Math.fround(alpha), beta3: Math.fround(beta3) };
}

const sign = (x: number): number => (x > 0 ? 1 : x < 0 ? -1 : 0);

interface Ctx {
  p: Float64Array;
  g: ArrayLike<number>;
  st: RefState;
  h: RefHyper;
  r: Rounding;
  t: number;
  gs: number;
  skip: (i: number) => boolean;
  trust: boolean;
}

/** Adam, AdamW and LAMB (docs/math.md §6.1, 11): LAMB is Adam plus the trust ratio on the lr-free direction u. */
function adamFamily(c: Ctx): { updateScale: number; unorm: number } {
  const { p, g, st, h, r, t, gs } = c;
  const [b1, b2] = h.betas;
  const c1 = 1 - b1 ** t;
  const c2 = Math.sqrt(1 - b2 ** t);
  const m = st.s1;
  const v = st.s2!;
  const u = new Float64Array(p.length);
  let unorm = 0;
  for (let i = 0; i < p.length; i++) {
    const gi = r.grad(gs * g[i]);
    const mi = b1 * m[i] + (1 - b1) * gi;
    const vi = b2 * v[i] + (1 - b2) * gi * gi;
    u[i] = mi / c1 / (Math.sqrt(vi) / c2 + h.eps);
    if (c.skip(i)) continue; // D13: a skipped element adds nothing to the update norm
    unorm += u[i] * u[i];
    m[i] = mi;
    v[i] = vi;
  }
  const us = c.trust ? trustScale(unorm, norm2(p), h.maxUnorm, 0) : 1;
  for (let i = 0; i < p.length; i++) {
    if (c.skip(i)) continue;
    let x = r.param(p[i] - us * h.lr * u[i]);
    if (h.weightDecay > 0) x = r.param(x * (1 - h.lr * h.weightDecay));
    p[i] = x;
  }
  return { updateScale: us, unorm: c.trust ? unorm : 0 };
}

/** SGD and LARS (docs/math.md §6.3, 11): the trust-ratio norm uses the buffer computed without the decay term. */
function momentumFamily(c: Ctx): { updateScale: number; unorm: number } {
  const { p, g, st, h, r, t, gs } = c;
  const b1 = h.betas[0];
  const s = st.s1;
  let unorm = 0;
  for (let i = 0; i < p.length; i++) {
    const g0 = r.grad(gs * g[i]);
    if (c.skip(i)) continue; // D13: a skipped element adds nothing to the update norm
    if (c.trust) {
      // docs/math.md §11: the norm term is the buffer computed without the decay term.
      const u = t === 1 ? g0 : b1 * s[i] + g0;
      unorm += u * u;
    }
    const gi = h.weightDecay > 0 ? r.grad(g0 + h.weightDecay * p[i]) : g0;
    s[i] = t === 1 ? gi : b1 * s[i] + gi;
  }
  const us = c.trust ? trustScale(unorm, norm2(p), h.maxUnorm, h.eps) : 1;
  for (let i = 0; i < p.length; i++) {
    if (c.skip(i)) continue;
    p[i] = r.param(p[i] - us * h.lr * s[i]);
  }
  return { updateScale: us, unorm };
}

/** Lion (docs/math.md §6.4 / 7.5): decoupled decay first, then the sign step, then the EMA with beta2. */
function lion(c: Ctx): void {
  const { p, g, st, h, r, gs } = c;
  const [b1, b2] = h.betas;
  const s = st.s1;
  for (let i = 0; i < p.length; i++) {
    if (c.skip(i)) continue;
    const gi = r.grad(gs * g[i]);
    let x = p[i];
    if (h.weightDecay > 0) x = r.param(x * (1 - h.lr * h.weightDecay));
    x = r.param(x - r.lionStep(h.lr * sign(b1 * s[i] + (1 - b1) * gi)));
    s[i] = b2 * s[i] + (1 - b2) * gi;
    p[i] = x;
  }
}

/** RMSprop (6.5) and Adagrad (6.6): coupled decay in the state and in the numerator (D8). */
function rmspropOrAdagrad(c: Ctx, adagrad: boolean): void {
  const { p, g, st, h, r, gs } = c;
  const b1 = h.betas[0];
  const s = st.s1;
  for (let i = 0; i < p.length; i++) {
    if (c.skip(i)) continue;
    let gi = r.grad(gs * g[i]);
    if (h.weightDecay > 0) gi = r.grad(gi + h.weightDecay * p[i]);
    s[i] = adagrad ? s[i] + gi * gi : b1 * s[i] + (1 - b1) * gi * gi;
    p[i] = r.param(p[i] - h.lr * (gi / (Math.sqrt(s[i]) + h.eps)));
  }
}

/** AdEMAMix (6.2, 12): fast EMA m1, slow EMA m2 (no bias correction), nu; decoupled decay after the step. */
function ademamix(c: Ctx, alpha: number, beta3: number): void {
  const { p, g, st, h, r, t, gs } = c;
  const [b1, b2] = h.betas;
  const n = p.length;
  const c1 = 1 - b1 ** t;
  const c2 = Math.sqrt(1 - b2 ** t);
  const m = st.s1;
  const nu = st.s2!;
  for (let i = 0; i < n; i++) {
    if (c.skip(i)) continue;
    const gi = r.grad(gs * g[i]);
    m[i] = b1 * m[i] + (1 - b1) * gi;
    m[n + i] = beta3 * m[n + i] + (1 - beta3) * gi;
    nu[i] = b2 * nu[i] + (1 - b2) * gi * gi;
    let x = r.param(p[i] - h.lr * ((m[i] / c1 + alpha * m[n + i]) / (Math.sqrt(nu[i]) / c2 + h.eps)));
    if (h.weightDecay > 0) x = r.param(x * (1 - h.lr * h.weightDecay));
    p[i] = x;
  }
}

export interface RefStepHooks {
  /**
   * Receives the reference's percentile-clipping scale and returns the one to apply. A comparison harness can check
   * the engine's fp32 scale against the reference's and then apply the engine's, so that the per-element comparison
   * is not dominated by the norm's accumulation order where a state nearly cancels.
   */
  gnormScale?: (reference: number) => number;
}

/**
 * One optimizer step in float64: updates `p` and `st` in place. `g` holds the gradient values as the parameter
 * dtype stores them. Returns the scales the engine reports for the step.
 */
export function refStep(
  name: OptimizerName,
  p: Float64Array,
  g: ArrayLike<number>,
  st: RefState,
  h: RefHyper,
  r: Rounding = EXACT,
  hooks: RefStepHooks = {},
): RefStepInfo {
  if (g.length !== p.length) throw new Error(`refStep: ${g.length} gradients for ${p.length} parameters`);
  const t = ++st.step;
  const gsRef = st.hist ? percentileScale(st.hist, t, g, h.percentile) : 1;
  const gs = st.hist && hooks.gnormScale ? hooks.gnormScale(gsRef) : gsRef;
  const skips = h.skipZeros;
  const ctx: Ctx = {
    p,
    g,
    st,
    h,
    r,
    t,
    gs,
    skip: skips ? (i) => g[i] === 0 : () => false,
    trust: (name === 'lamb' || name === 'lars') && h.maxUnorm > 0,
  };
  const info: RefStepInfo = { t, gnormScale: gsRef, updateScale: 1, unorm: 0, alpha: h.alpha, beta3: h.betas[2] ?? 0 };
  switch (name) {
    case 'adam':
    case 'adamw':
    case 'lamb': {
      const o = adamFamily(ctx);
      info.updateScale = o.updateScale;
      info.unorm = o.unorm;
      break;
    }
    case 'sgd':
    case 'lars': {
      const o = momentumFamily(ctx);
      info.updateScale = o.updateScale;
      info.unorm = o.unorm;
      break;
    }
    case 'lion':
      lion(ctx);
      break;
    case 'rmsprop':
      rmspropOrAdagrad(ctx, false);
      break;
    case 'adagrad':
      rmspropOrAdagrad(ctx, true);
      break;
    case 'ademamix': {
      const sch = ademamixSchedule(h, t);
      info.alpha = sch.alpha;
      info.beta3 = sch.beta3;
      ademamix(ctx, sch.alpha, sch.beta3);
      break;
    }
  }
  if (ctx.trust) st.unorm = info.unorm;
  return info;
}
