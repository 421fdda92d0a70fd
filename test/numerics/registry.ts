// One registry of optimizer specs (house style 18, after PyTorch's OptimizerInfo): per optimizer, named valid
// configs that the section 16 protocol runs against the float64 reference, and named invalid configs with the
// error they must raise. Later work extends this file; the suites iterate over it and never list optimizers
// themselves. Every optimizer has a weight-decay > 0 case in every mode and dtype, and a gradient-scaling
// (percentile clipping) case in every mode.
import type { DType, EngineErrorCode, OptimizerConfig, OptimizerName, StateMode } from '../../native/lib';

/** A state mode as the protocol runs it (docs/math.md D2) and the section 16 criteria that judge it. */
export interface ModeSpec {
  id: 'fp32' | 'blockwise8-256' | 'blockwise8-2048' | 'static8';
  mode: StateMode;
  blockSize: number;
  /** The layout keys that select the mode. */
  layout: Pick<OptimizerConfig, 'optimBits' | 'blockWise' | 'blockSize'>;
  /** Section 16 criteria: 16.1 (fp32 state), 16.2 (blockwise 256), 16.3 (2048 and static). */
  criteria: '16.1' | '16.2' | '16.3';
  steps: number;
  /** 0-based loop indices after whose update the state is saved and loaded into a fresh parameter. */
  saveAt: number[];
}

export const MODES: readonly ModeSpec[] = [
  {
    id: 'fp32',
    mode: 'fp32',
    blockSize: 256,
    layout: { optimBits: 32 },
    criteria: '16.1',
    steps: 20,
    saveAt: [4, 8, 12, 16],
  },
  {
    id: 'blockwise8-256',
    mode: 'blockwise8',
    blockSize: 256,
    layout: { optimBits: 8, blockWise: true, blockSize: 256 },
    criteria: '16.2',
    steps: 50,
    saveAt: [10, 20, 30, 40],
  },
  {
    id: 'blockwise8-2048',
    mode: 'blockwise8',
    blockSize: 2048,
    layout: { optimBits: 8, blockWise: true, blockSize: 2048 },
    criteria: '16.3',
    steps: 50,
    saveAt: [10, 20, 30, 40],
  },
  {
    id: 'static8',
    mode: 'static8',
    blockSize: 256,
    layout: { optimBits: 8, blockWise: false },
    criteria: '16.3',
    steps: 50,
    saveAt: [10, 20, 30, 40],
  },
];

export const DTYPES: readonly DType[] = ['fp32', 'fp16', 'bf16'];

/**
 * Shapes of the main cases: 1024 x {32, 65} (multiples of 256; with 2048-blocks 1024x65 ends on a half-full block)
 * and 4097 (the last block holds one element). Secondary cases use SMALL_SHAPES: 4097 and 3 x 2000 (partial last
 * block for both block sizes), above the default min_8bit_size so that 8-bit layouts apply.
 */
export const SHAPES: readonly number[][] = [[1024, 32], [1024, 65], [4097]];
export const SMALL_SHAPES: readonly number[][] = [[4097], [3, 2000]];

/**
 * Run-time budget (the numerics suite must finish in about 3 minutes on 2 shared cores): 8-bit runs on tensors of
 * more than LARGE_NUMEL elements take 20 steps with save/load after 0-based steps 4, 8, 12, 16 instead of the
 * 50 steps of docs/math.md §16.2 (10, 20, 30, 40). Under the re-synchronizing protocol each step is an independent one-step
 * comparison, so the 50-step 4097-element runs and the secondary cases keep the long-horizon behaviour (bias
 * correction, schedulers, percentile history) covered.
 */
export const LARGE_NUMEL = 8192;
export const LARGE_8BIT_STEPS = 20;
export const LARGE_8BIT_SAVE_AT: readonly number[] = [4, 8, 12, 16];

/** Gradient of step t (1-based): randn * scale * (1 + growth*(t-1)) rounded to the dtype. */
export interface GradSpec {
  scale: number;
  /** Growth per step, so that percentile clipping has something to clip (gnorm scale well below 1). */
  growth?: number;
}

export type CaseConfig = Omit<OptimizerConfig, 'name' | 'optimBits' | 'blockWise' | 'blockSize'>;

export interface ValidCase {
  id: string;
  note: string;
  /** Hyperparameters and layout keys other than the mode's; may depend on the mode (scheduler horizons). */
  config: CaseConfig | ((m: ModeSpec) => CaseConfig);
  grad?: GradSpec;
  /** 'every-dtype': each mode x each dtype. 'rotate-dtype': each mode once, dtypes taken in turn. */
  coverage: 'every-dtype' | 'rotate-dtype';
  /** Restrict to these modes (default: all). */
  modes?: ModeSpec['id'][];
  /** Restrict to these dtypes (default: all). */
  dtypes?: DType[];
  /** Every one of these shapes per mode x dtype (default: one shape, rotating over SHAPES or SMALL_SHAPES). */
  shapes?: number[][];
}

export interface InvalidCase {
  id: string;
  config: Omit<OptimizerConfig, 'name'>;
  code: EngineErrorCode;
  /** The offending key, which the message must name. */
  mentions: string;
}

export interface OptimizerInfo {
  name: OptimizerName;
  /** Exported state tensors holding optimizer state (docs/math.md §3.3). */
  states: ('state1' | 'state2')[];
  /** state1 rows (AdEMAMix holds m1 and m2). */
  rows: number;
  trustRatio: boolean;
  valid: ValidCase[];
  invalid: InvalidCase[];
}

/** docs/math.md §2 defaults (the math-relevant ones), written from docs/math.md for the reference's use. */
export const SPEC_DEFAULTS: Record<
  OptimizerName,
  { lr: number; betas: number[]; eps: number; weightDecay: number; alpha: number; maxUnorm: number }
> = {
  adam: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, alpha: 0, maxUnorm: 0 },
  adamw: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, alpha: 0, maxUnorm: 0 },
  lamb: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, alpha: 0, maxUnorm: 1.0 },
  lion: { lr: 1e-4, betas: [0.9, 0.99], eps: 0, weightDecay: 0, alpha: 0, maxUnorm: 0 },
  sgd: { lr: 1e-2, betas: [0.9], eps: 0, weightDecay: 0, alpha: 0, maxUnorm: 0 },
  lars: { lr: 1e-2, betas: [0.9], eps: 0, weightDecay: 0, alpha: 0, maxUnorm: 0.02 },
  rmsprop: { lr: 1e-2, betas: [0.99], eps: 1e-8, weightDecay: 0, alpha: 0, maxUnorm: 0 },
  adagrad: { lr: 1e-2, betas: [], eps: 1e-10, weightDecay: 0, alpha: 0, maxUnorm: 0 },
  ademamix: { lr: 1e-3, betas: [0.9, 0.999, 0.9999], eps: 1e-8, weightDecay: 1e-2, alpha: 5, maxUnorm: 0 },
};

/** docs/math.md §16: parameters randn*0.1, gradients randn*0.01. */
export const DEFAULT_GRAD: GradSpec = { scale: 0.01 };
/** Percentile 5 on growing gradients: from step 2 on the norm exceeds the 5th percentile of the history. */
const CLIP_GRAD: GradSpec = { scale: 0.01, growth: 0.1 };

function clipCase(extra: CaseConfig): ValidCase {
  return {
    id: 'clip',
    note: 'percentile clipping 5 (gnorm scale < 1) with weight decay',
    coverage: 'rotate-dtype',
    config: { ...extra, percentileClipping: 5 },
    grad: CLIP_GRAD,
  };
}

const COMMON_INVALID: InvalidCase[] = [
  { id: 'negative-lr', config: { lr: -1 }, code: 'INVALID_ARGUMENT', mentions: 'lr' },
  { id: 'nan-eps', config: { eps: NaN }, code: 'INVALID_ARGUMENT', mentions: 'eps' },
  { id: 'negative-weight-decay', config: { weightDecay: -0.01 }, code: 'INVALID_ARGUMENT', mentions: 'weightDecay' },
  { id: 'infinite-weight-decay', config: { weightDecay: Infinity }, code: 'INVALID_ARGUMENT', mentions: 'weightDecay' },
  { id: 'optim-bits-16', config: { optimBits: 16 as 8 }, code: 'INVALID_ARGUMENT', mentions: 'optimBits' },
  { id: 'block-size-512', config: { optimBits: 8, blockSize: 512 }, code: 'INVALID_ARGUMENT', mentions: 'blockSize' },
  {
    id: 'percentile-101',
    config: { percentileClipping: 101 },
    code: 'INVALID_ARGUMENT',
    mentions: 'percentileClipping',
  },
  {
    id: 'percentile-fraction',
    config: { percentileClipping: 5.5 },
    code: 'INVALID_ARGUMENT',
    mentions: 'percentileClipping',
  },
  { id: 'negative-min8bit', config: { min8bitSize: -1 }, code: 'INVALID_ARGUMENT', mentions: 'min8bitSize' },
];

const NO_UNORM: InvalidCase = {
  id: 'max-unorm-not-lamb-lars',
  config: { maxUnorm: 1 },
  code: 'INVALID_ARGUMENT',
  mentions: 'maxUnorm',
};

function adamInvalid(): InvalidCase[] {
  return [
    ...COMMON_INVALID,
    NO_UNORM,
    { id: 'beta1-one', config: { betas: [1, 0.999] }, code: 'INVALID_ARGUMENT', mentions: 'betas[0]' },
    { id: 'beta2-negative', config: { betas: [0.9, -0.1] }, code: 'INVALID_ARGUMENT', mentions: 'betas[1]' },
    { id: 'three-betas', config: { betas: [0.9, 0.99, 0.999] }, code: 'INVALID_ARGUMENT', mentions: 'betas' },
  ];
}

export const REGISTRY: readonly OptimizerInfo[] = [
  {
    name: 'adam',
    states: ['state1', 'state2'],
    rows: 1,
    trustRatio: false,
    valid: [
      {
        id: 'wd',
        note: 'Adam with decoupled decay after the step (T1)',
        coverage: 'every-dtype',
        config: { lr: 1e-3, weightDecay: 0.01 },
      },
      { id: 'plain', note: 'no weight decay', coverage: 'rotate-dtype', config: { lr: 2e-3 } },
      clipCase({ weightDecay: 0.01 }),
    ],
    invalid: adamInvalid(),
  },
  {
    name: 'adamw',
    states: ['state1', 'state2'],
    rows: 1,
    trustRatio: false,
    valid: [
      { id: 'default', note: 'AdamW defaults (wd 1e-2)', coverage: 'every-dtype', config: {} },
      { id: 'wd0.1', note: 'strong decay', coverage: 'rotate-dtype', config: { lr: 2e-3, weightDecay: 0.1 } },
      clipCase({ weightDecay: 0.01 }),
    ],
    invalid: adamInvalid(),
  },
  {
    name: 'lamb',
    states: ['state1', 'state2'],
    rows: 1,
    trustRatio: true,
    valid: [
      {
        id: 'wd',
        note: 'max_unorm 1.0 (trust ratio triggers: ||u|| ~ 10 ||p||), decoupled decay',
        coverage: 'every-dtype',
        config: { lr: 1e-3, weightDecay: 0.01 },
      },
      {
        id: 'tight',
        note: 'max_unorm 0.05, larger lr',
        coverage: 'rotate-dtype',
        config: { lr: 1e-2, maxUnorm: 0.05, weightDecay: 0.01 },
      },
      {
        id: 'no-unorm',
        note: 'max_unorm 0: plain Adam',
        coverage: 'rotate-dtype',
        config: { maxUnorm: 0, weightDecay: 0.01 },
      },
      clipCase({ weightDecay: 0.01 }),
    ],
    invalid: [
      ...COMMON_INVALID,
      { id: 'negative-max-unorm', config: { maxUnorm: -1 }, code: 'INVALID_ARGUMENT', mentions: 'maxUnorm' },
      { id: 'beta1-one', config: { betas: [1, 0.999] }, code: 'INVALID_ARGUMENT', mentions: 'betas[0]' },
    ],
  },
  {
    name: 'lars',
    states: ['state1'],
    rows: 1,
    trustRatio: true,
    valid: [
      {
        id: 'wd',
        note: 'momentum 0.9, max_unorm 0.02 (triggers), coupled decay',
        coverage: 'every-dtype',
        config: { lr: 0.01, betas: [0.9], weightDecay: 0.01 },
      },
      {
        id: 'no-unorm',
        note: 'max_unorm 0: plain momentum',
        coverage: 'rotate-dtype',
        config: { lr: 0.01, betas: [0.9], weightDecay: 0.01, maxUnorm: 0 },
      },
      clipCase({ lr: 0.01, betas: [0.9], weightDecay: 0.01 }),
    ],
    invalid: [
      ...COMMON_INVALID,
      { id: 'zero-momentum', config: { betas: [0] }, code: 'INVALID_ARGUMENT', mentions: 'momentum' },
      { id: 'negative-max-unorm', config: { maxUnorm: -0.5 }, code: 'INVALID_ARGUMENT', mentions: 'maxUnorm' },
    ],
  },
  {
    name: 'lion',
    states: ['state1'],
    rows: 1,
    trustRatio: false,
    valid: [
      {
        id: 'wd',
        note: 'decoupled decay before the sign step (0.50)',
        coverage: 'every-dtype',
        config: { lr: 1e-4, weightDecay: 0.01 },
      },
      {
        id: 'decay-test',
        note: 'docs/math.md §16.1 test_lion32bit_weight_decay: wd 0.1, 20 steps',
        coverage: 'every-dtype',
        modes: ['fp32'],
        shapes: [[1024, 32]],
        config: { lr: 1e-4, weightDecay: 0.1 },
      },
      {
        id: 'decay-test-1M',
        note: 'docs/math.md §16.1 test_lion32bit_weight_decay on 1024 x 1024 (fp32 only: run time)',
        coverage: 'every-dtype',
        modes: ['fp32'],
        dtypes: ['fp32'],
        shapes: [[1024, 1024]],
        config: { lr: 1e-4, weightDecay: 0.1 },
      },
      clipCase({ lr: 3e-4, weightDecay: 0.01 }),
    ],
    invalid: [
      ...COMMON_INVALID,
      NO_UNORM,
      { id: 'beta2-one', config: { betas: [0.9, 1] }, code: 'INVALID_ARGUMENT', mentions: 'betas[1]' },
    ],
  },
  {
    name: 'sgd',
    states: ['state1'],
    rows: 1,
    trustRatio: false,
    valid: [
      {
        id: 'wd',
        note: 'momentum 0.9, coupled decay',
        coverage: 'every-dtype',
        config: { lr: 0.01, betas: [0.9], weightDecay: 0.01 },
      },
      { id: 'plain', note: 'momentum 0.5, no decay', coverage: 'rotate-dtype', config: { lr: 0.02, betas: [0.5] } },
      clipCase({ lr: 0.01, betas: [0.9], weightDecay: 0.01 }),
    ],
    invalid: [
      ...COMMON_INVALID,
      NO_UNORM,
      { id: 'zero-momentum', config: { betas: [0] }, code: 'INVALID_ARGUMENT', mentions: 'momentum' },
    ],
  },
  {
    name: 'rmsprop',
    states: ['state1'],
    rows: 1,
    trustRatio: false,
    valid: [
      {
        id: 'wd',
        note: 'alpha 0.9, coupled decay in state and numerator (D8)',
        coverage: 'every-dtype',
        config: { lr: 0.01, betas: [0.9], eps: 1e-8, weightDecay: 0.01 },
      },
      { id: 'plain', note: 'default alpha 0.99, no decay', coverage: 'rotate-dtype', config: { lr: 0.003 } },
      clipCase({ lr: 0.01, betas: [0.9], weightDecay: 0.01 }),
    ],
    invalid: [
      ...COMMON_INVALID,
      NO_UNORM,
      { id: 'zero-alpha', config: { betas: [0] }, code: 'INVALID_ARGUMENT', mentions: 'alpha' },
    ],
  },
  {
    name: 'adagrad',
    states: ['state1'],
    rows: 1,
    trustRatio: false,
    valid: [
      {
        id: 'wd',
        note: 'eps 1e-10, coupled decay in state and numerator (D8)',
        coverage: 'every-dtype',
        config: { lr: 0.01, weightDecay: 0.01 },
      },
      { id: 'plain', note: 'no decay, eps 1e-8', coverage: 'rotate-dtype', config: { lr: 0.02, eps: 1e-8 } },
      clipCase({ lr: 0.01, weightDecay: 0.01 }),
    ],
    invalid: [...COMMON_INVALID, NO_UNORM],
  },
  {
    name: 'ademamix',
    states: ['state1', 'state2'],
    rows: 2,
    trustRatio: false,
    valid: [
      {
        id: 'default',
        note: 'AdEMAMix defaults (alpha 5, beta3 0.9999, wd 1e-2), unscheduled',
        coverage: 'every-dtype',
        config: {},
      },
      {
        id: 'scheduled',
        note: 't_alpha = t_beta3 = 20 (fp32 state) or 100 (8-bit), as docs/math.md §16.1/16.2',
        coverage: 'every-dtype',
        shapes: [[4097]],
        config: (m) => (m.mode === 'fp32' ? { tAlpha: 20, tBeta3: 20 } : { tAlpha: 100, tBeta3: 100 }),
      },
      clipCase({ weightDecay: 0.01 }),
    ],
    invalid: [
      ...COMMON_INVALID,
      NO_UNORM,
      { id: 'two-betas', config: { betas: [0.9, 0.999] }, code: 'INVALID_ARGUMENT', mentions: 'betas' },
      { id: 'beta3-one', config: { betas: [0.9, 0.999, 1] }, code: 'INVALID_ARGUMENT', mentions: 'betas[2]' },
      { id: 'negative-alpha', config: { alpha: -1 }, code: 'INVALID_ARGUMENT', mentions: 'alpha' },
      { id: 'negative-t-alpha', config: { tAlpha: -5 }, code: 'INVALID_ARGUMENT', mentions: 'tAlpha' },
    ],
  },
];

export function infoOf(name: OptimizerName): OptimizerInfo {
  const i = REGISTRY.find((r) => r.name === name);
  if (!i) throw new Error(`optimizer ${name} is not in the registry`);
  return i;
}

/** One protocol run planned from the registry. */
export interface PlannedRun {
  info: OptimizerInfo;
  vcase: ValidCase;
  mode: ModeSpec;
  dtype: DType;
  shape: number[];
  config: OptimizerConfig;
  steps: number;
  saveAt: readonly number[];
  label: string;
}

/**
 * Every run the registry asks for, in a fixed order. Main ('every-dtype') cases rotate over SHAPES so that each
 * optimizer meets each shape; 'rotate-dtype' cases take the dtypes in turn across the modes and rotate over
 * SMALL_SHAPES; a case's own `shapes` are all run.
 */
export function plan(filter?: (r: PlannedRun) => boolean): PlannedRun[] {
  const out: PlannedRun[] = [];
  REGISTRY.forEach((info, oi) => {
    info.valid.forEach((vcase, ci) => {
      const modes = MODES.filter((m) => !vcase.modes || vcase.modes.includes(m.id));
      modes.forEach((mode, mi) => {
        const allowed = DTYPES.filter((d) => !vcase.dtypes || vcase.dtypes.includes(d));
        const dtypes = vcase.coverage === 'every-dtype' ? allowed : [allowed[(oi + ci + mi) % allowed.length]];
        dtypes.forEach((dtype, di) => {
          const pool = vcase.coverage === 'every-dtype' ? SHAPES : SMALL_SHAPES;
          const shapes = vcase.shapes ?? [pool[(oi + ci + mi + di) % pool.length]];
          for (const shape of shapes) {
            const caseConfig = typeof vcase.config === 'function' ? vcase.config(mode) : vcase.config;
            const config: OptimizerConfig = { name: info.name, ...caseConfig, ...mode.layout };
            const numel = shape.reduce((a, b) => a * b, 1);
            const large = mode.mode !== 'fp32' && numel > LARGE_NUMEL;
            const steps = large ? LARGE_8BIT_STEPS : mode.steps;
            const saveAt = large ? LARGE_8BIT_SAVE_AT : mode.saveAt;
            const label = `${info.name}/${vcase.id} ${mode.id} ${dtype} [${shape.join('x')}]`;
            const r: PlannedRun = { info, vcase, mode, dtype, shape, config, steps, saveAt, label };
            if (!filter || filter(r)) out.push(r);
          }
        });
      });
    });
  });
  return out;
}
