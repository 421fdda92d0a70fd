// The engine's public vocabulary: what a caller (server/domain, tests, benchmarks) names and receives.
// Numbers that have one definition in C++ (block sizes, map size, limits) are read from the addon at load time
// (see constants.ts); this file only declares shapes.

/** Storage dtype of a parameter or gradient. fp16/bf16 travel as their raw 16-bit patterns. */
export type DType = 'fp32' | 'fp16' | 'bf16';

/**
 * How optimizer state is held (docs/math.md D2): `fp32` 32-bit state; `blockwise8` 8-bit codes with one absmax per block
 * (256 by default, 2048 for bnb <= 0.43 checkpoints); `static8` 8-bit codes with one max per tensor (docs/math.md §8.1).
 */
export type StateMode = 'fp32' | 'blockwise8' | 'static8';

/** Optimizer names as users know them (docs/math.md §2). adam/adamw/lamb share the Adam math, sgd/lars Momentum. */
export type OptimizerName = 'adam' | 'adamw' | 'lion' | 'sgd' | 'rmsprop' | 'adagrad' | 'lamb' | 'lars' | 'ademamix';

/** What to do when a step's gradients hold NaN or Inf (docs/math.md D4). */
export type NonFinitePolicy = 'skip' | 'error';

export type BackendName = 'cpu' | 'cuda';

/**
 * Hyperparameters read at every step (docs/math.md §3.2). Every field is optional in a config; defaults come from the
 * optimizer (docs/math.md §2). `betas` holds exactly as many numbers as the optimizer's table row names
 * (optimizers.ts): adam/adamw/lamb/lion 2, ademamix 3, sgd/lars 1 (momentum), rmsprop 1 (alpha), adagrad none.
 */
export interface Hyperparameters {
  lr: number;
  betas: number[];
  eps: number;
  weightDecay: number;
  /** AdEMAMix mixing coefficient (docs/math.md §12). */
  alpha: number;
  /** AdEMAMix schedulers (docs/math.md §12); 0 = off. */
  tAlpha: number;
  tBeta3: number;
  /** skip_zeros (docs/math.md D5): elements whose raw gradient is exactly 0 keep their parameter and state. */
  skipZeros: boolean;
  /**
   * 8-bit zero-second-moment guard (docs/math.md §19): in 8-bit modes, where an element's second moment decoded
   * to 0, the momentum its update uses is capped at the bound 32-bit state always satisfies. Default on for the
   * optimizers whose table row allows it; off is bit-identical to bitsandbytes.
   */
  zeroVGuard: boolean;
}

/** Layout decisions, consulted only when a parameter's state is created (docs/math.md §3.2). */
export interface LayoutConfig {
  /** 8 or 32 (bnb's optim_bits). */
  optimBits: 8 | 32;
  /** With optimBits 8: blockwise (default) or static (legacy, one max per tensor). */
  blockWise: boolean;
  /** 256 (default) or 2048. */
  blockSize: number;
  /** Tensors with fewer elements (strict <) get fp32 state (docs/math.md §3.3, T19). Default 4096. */
  min8bitSize: number;
  /** 0..99 = index into the sorted history of squared gradient norms; 100 = off (docs/math.md §9). */
  percentileClipping: number;
  /** LAMB/LARS update-norm clipping (docs/math.md §11); 0 = off. */
  maxUnorm: number;
  /** Paged state (docs/math.md §14, D11) for tensors >= 100000 elements. */
  paged: boolean;
}

/** A model-wide optimizer configuration; any key may be overridden per parameter name (docs/math.md §13, D10). */
export interface OptimizerConfig extends Partial<Hyperparameters>, Partial<LayoutConfig> {
  name: OptimizerName;
}

/** Per-parameter overrides: any key of Hyperparameters or LayoutConfig. */
export type ParamOverride = Partial<Hyperparameters> & Partial<LayoutConfig>;

/** Bytes held for one parameter, by kind. */
export interface MemoryInfo {
  param: number;
  state: number;
  scales: number;
  maps: number;
  percentileHistory: number;
  /** Bytes of `state` that live in paged memory (a file-backed map on the CPU backend). */
  paged: number;
  /** Of `paged`, the bytes resident in fast memory now (RAM on the CPU backend, device memory on CUDA). */
  pagedResident: number;
  /** What fp32 state would take for this parameter (the comparison users want to see). */
  fp32StateEquivalent: number;
}

/**
 * Every state tensor of one parameter, raw (restorable bit-exactly). Layout follows bnb's state dict (docs/math.md §15):
 * state1 is (rows x n) with rows = 2 for AdEMAMix (m1, m2), state2 exists for 2-state optimizers; codes are uint8
 * in 8-bit modes, fp32 otherwise; absmax1 is (rows x blocks) in blockwise8; max1/max2 are the static8 scales.
 */
export interface StateSnapshot {
  optimizer: OptimizerName;
  mode: StateMode;
  blockSize: number;
  numel: number;
  step: number;
  tensors: Record<string, { dtype: 'f32' | 'u8'; shape: number[]; data: Buffer }>;
}

export interface ParamStepResult {
  /** The parameter's step counter after this step (unchanged when the step was skipped). */
  step: number;
  /** Percentile-clipping scale applied to the gradient (1 when clipping is off or did not trigger). */
  gnormScale: number;
  /** LAMB/LARS trust-ratio scale applied to the update (1 when max_unorm is off or did not trigger). */
  updateScale: number;
}

export interface StepOutcome {
  /** True when the step changed nothing because a gradient was non-finite (policy 'skip'). */
  skipped: boolean;
  /** Indices (into the items array) of the items whose gradient held NaN or Inf. */
  nonFinite: number[];
  results: ParamStepResult[];
}
