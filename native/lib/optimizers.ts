// The optimizer table: every fact about an optimizer that the TypeScript side needs, in one row per name
// (docs/math.md §2). Validation and defaults (config.ts), the engine's kernel choice (engine.ts), ServerInfo's
// capabilities and the proto conversion all read it; nothing else lists optimizers. The kernel-side facts of each
// family (streams, rows, trust-ratio form, schedules) are traits of its Op header in native/kernels/; the addon
// exports them and engine.ts checks this table against them when the addon loads.
// This module never loads the addon (the client and proto/convert.ts import it).

import type { OptimizerName } from './types';

/** Kernel families: the C++ Op headers, by the name each exports (native/kernels/*.h, `kName`). */
export type OpFamily = 'adam' | 'lion' | 'momentum' | 'rmsprop' | 'adagrad' | 'ademamix';

/** Keys a config may set only for some optimizers; every other config key applies to all of them. */
export type OptionalKey = 'betas' | 'eps' | 'alpha' | 'tAlpha' | 'tBeta3' | 'maxUnorm' | 'zeroVGuard';

export interface OptimizerRow {
  name: OptimizerName;
  /** The kernel family that runs it (LAMB = Adam + trust ratio, LARS = Momentum + trust ratio). */
  op: OpFamily;
  /** Exported state tensors (docs/math.md §3.3): state2 exists for two-tensor layouts. */
  states: readonly ('state1' | 'state2')[];
  /** Rows of state1 (AdEMAMix keeps m1 and m2 there). */
  rows1: number;
  /** What each of the user's betas means, in order; its length is the one betas count of this optimizer. */
  betas: readonly string[];
  /** Indices into betas that must not be 0 (bnb refuses momentum 0 and RMSprop alpha 0). */
  betasNonZero: readonly number[];
  defaults: { lr: number; betas: readonly number[]; eps: number; weightDecay: number; alpha: number };
  /** Applies the LAMB/LARS capped trust ratio (docs/math.md §11); its max_unorm default. */
  trust: { maxUnorm: number } | null;
  /** AdEMAMix's alpha/beta3 warm-up schedulers (docs/math.md §12). */
  schedules: boolean;
  /** The update divides a stored momentum by an 8-bit second moment: the zero-v guard applies (§19). */
  zeroVGuard: boolean;
  /** `alpha` is accepted as another name of betas[0] (RMSprop's smoothing constant, torch's name for it). */
  alphaIsBeta0: boolean;
  /** Optional keys that do not apply, each with what to use instead (the INVALID_ARGUMENT message). */
  refuses: Partial<Record<OptionalKey, string>>;
}

const NO_ALPHA = "alpha is AdEMAMix's mixing coefficient; leave it unset";
const NO_SCHEDULE = 'only ademamix schedules alpha and beta3; leave it unset';
const NO_UNORM = 'only lamb and lars clip the update norm; leave it unset or use lamb/lars';
const NO_EPS = 'this update has no eps (bnb passes 0); leave it unset';
const GUARD_BOUNDED =
  "the update divides this step's gradient by a second moment that already holds its square, so it is bounded " +
  'without a guard; leave it unset';
const GUARD_NO_V = 'this optimizer keeps no second moment; leave it unset';

const ADAM_BETAS = ['beta1 (first-moment decay)', 'beta2 (second-moment decay)'] as const;
const MOMENTUM_BETAS = ['momentum'] as const;

export const OPTIMIZER_TABLE: readonly OptimizerRow[] = [
  {
    name: 'adam',
    op: 'adam',
    states: ['state1', 'state2'],
    rows1: 1,
    betas: ADAM_BETAS,
    betasNonZero: [],
    defaults: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, alpha: 0 },
    trust: null,
    schedules: false,
    zeroVGuard: true,
    alphaIsBeta0: false,
    refuses: { alpha: NO_ALPHA, tAlpha: NO_SCHEDULE, tBeta3: NO_SCHEDULE, maxUnorm: NO_UNORM },
  },
  {
    name: 'adamw',
    op: 'adam',
    states: ['state1', 'state2'],
    rows1: 1,
    betas: ADAM_BETAS,
    betasNonZero: [],
    defaults: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, alpha: 0 },
    trust: null,
    schedules: false,
    zeroVGuard: true,
    alphaIsBeta0: false,
    refuses: { alpha: NO_ALPHA, tAlpha: NO_SCHEDULE, tBeta3: NO_SCHEDULE, maxUnorm: NO_UNORM },
  },
  {
    name: 'lamb',
    op: 'adam',
    states: ['state1', 'state2'],
    rows1: 1,
    betas: ADAM_BETAS,
    betasNonZero: [],
    defaults: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, alpha: 0 },
    trust: { maxUnorm: 1.0 },
    schedules: false,
    zeroVGuard: true,
    alphaIsBeta0: false,
    refuses: { alpha: NO_ALPHA, tAlpha: NO_SCHEDULE, tBeta3: NO_SCHEDULE },
  },
  {
    name: 'lion',
    op: 'lion',
    states: ['state1'],
    rows1: 1,
    betas: ['beta1 (step interpolation)', 'beta2 (momentum decay)'],
    betasNonZero: [],
    defaults: { lr: 1e-4, betas: [0.9, 0.99], eps: 0, weightDecay: 0, alpha: 0 },
    trust: null,
    schedules: false,
    zeroVGuard: false,
    alphaIsBeta0: false,
    refuses: {
      eps: "Lion's update is a sign and has no eps; leave it unset",
      alpha: NO_ALPHA,
      tAlpha: NO_SCHEDULE,
      tBeta3: NO_SCHEDULE,
      maxUnorm: NO_UNORM,
      zeroVGuard: GUARD_NO_V,
    },
  },
  // SGD/LARS: bnb requires lr and momentum; the service still needs values, so these are documented defaults
  // (torch's common 0.01 / 0.9) that a config is expected to set.
  {
    name: 'sgd',
    op: 'momentum',
    states: ['state1'],
    rows1: 1,
    betas: MOMENTUM_BETAS,
    betasNonZero: [0],
    defaults: { lr: 1e-2, betas: [0.9], eps: 0, weightDecay: 0, alpha: 0 },
    trust: null,
    schedules: false,
    zeroVGuard: false,
    alphaIsBeta0: false,
    refuses: {
      eps: NO_EPS,
      alpha: NO_ALPHA,
      tAlpha: NO_SCHEDULE,
      tBeta3: NO_SCHEDULE,
      maxUnorm: NO_UNORM,
      zeroVGuard: GUARD_NO_V,
    },
  },
  {
    name: 'lars',
    op: 'momentum',
    states: ['state1'],
    rows1: 1,
    betas: MOMENTUM_BETAS,
    betasNonZero: [0],
    defaults: { lr: 1e-2, betas: [0.9], eps: 0, weightDecay: 0, alpha: 0 },
    trust: { maxUnorm: 0.02 },
    schedules: false,
    zeroVGuard: false,
    alphaIsBeta0: false,
    refuses: { eps: NO_EPS, alpha: NO_ALPHA, tAlpha: NO_SCHEDULE, tBeta3: NO_SCHEDULE, zeroVGuard: GUARD_NO_V },
  },
  // RMSprop's smoothing constant is betas[0]; `alpha` is accepted as its torch name (config.ts, §6.5).
  {
    name: 'rmsprop',
    op: 'rmsprop',
    states: ['state1'],
    rows1: 1,
    betas: ['alpha (smoothing constant)'],
    betasNonZero: [0],
    defaults: { lr: 1e-2, betas: [0.99], eps: 1e-8, weightDecay: 0, alpha: 0 },
    trust: null,
    schedules: false,
    zeroVGuard: false,
    alphaIsBeta0: true,
    refuses: { tAlpha: NO_SCHEDULE, tBeta3: NO_SCHEDULE, maxUnorm: NO_UNORM, zeroVGuard: GUARD_BOUNDED },
  },
  {
    name: 'adagrad',
    op: 'adagrad',
    states: ['state1'],
    rows1: 1,
    betas: [],
    betasNonZero: [],
    defaults: { lr: 1e-2, betas: [], eps: 1e-10, weightDecay: 0, alpha: 0 },
    trust: null,
    schedules: false,
    zeroVGuard: false,
    alphaIsBeta0: false,
    refuses: {
      betas: 'Adagrad has no betas (its sum of squares never decays); leave betas unset',
      alpha: NO_ALPHA,
      tAlpha: NO_SCHEDULE,
      tBeta3: NO_SCHEDULE,
      maxUnorm: NO_UNORM,
      zeroVGuard: GUARD_BOUNDED,
    },
  },
  {
    name: 'ademamix',
    op: 'ademamix',
    states: ['state1', 'state2'],
    rows1: 2,
    betas: ['beta1 (fast EMA decay)', 'beta2 (second-moment decay)', 'beta3 (slow EMA decay)'],
    betasNonZero: [],
    defaults: { lr: 1e-3, betas: [0.9, 0.999, 0.9999], eps: 1e-8, weightDecay: 1e-2, alpha: 5 },
    trust: null,
    schedules: true,
    zeroVGuard: true,
    alphaIsBeta0: false,
    refuses: { maxUnorm: NO_UNORM },
  },
];

export const OPTIMIZERS: readonly OptimizerName[] = OPTIMIZER_TABLE.map((r) => r.name);

const BY_NAME = new Map<string, OptimizerRow>(OPTIMIZER_TABLE.map((r) => [r.name, r]));

export function isOptimizerName(x: unknown): x is OptimizerName {
  return typeof x === 'string' && BY_NAME.has(x);
}

/** The row of a known optimizer name. */
export function optimizerRow(name: OptimizerName): OptimizerRow {
  const r = BY_NAME.get(name);
  if (!r) throw new Error(`optimizer ${name} is not in the table`);
  return r;
}

/**
 * Default of the zero-v guard for the optimizers it applies to (docs/math.md §19). On: measured with the
 * reproduction and the digits task (test/numerics/zero-v-guard.test.ts), 8-bit Adam/AdEMAMix without it end with
 * weights of magnitude ~110-190 where fp32 state ends at ~1.4-1.5, and with it within a few percent of fp32; it
 * acts only where a second moment decoded to 0 (elsewhere the bits are bnb's, and every §16 tolerance suite passes
 * with it on), and it never changes stored state. `zeroVGuard: false` gives bnb's arithmetic bit for bit.
 */
export const ZERO_V_GUARD_DEFAULT = true;
