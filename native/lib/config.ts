// Optimizer configuration: defaults per optimizer (spec section 2), validation of the ranges bnb's constructors
// enforce, and resolution of a model-wide config plus per-parameter overrides keyed by name (spec 3.2, 13, D10).
// Hyperparameters are resolved at every step; layout keys only when a parameter's state is created.

import { invalid } from './errors';
import type {
  Hyperparameters,
  LayoutConfig,
  OptimizerConfig,
  OptimizerName,
  ParamOverride,
  StateMode,
} from './types';
import { constants } from './constants';

export const OPTIMIZERS: readonly OptimizerName[] = [
  'adam', 'adamw', 'lion', 'sgd', 'rmsprop', 'adagrad', 'lamb', 'lars', 'ademamix',
];

const HYPER_DEFAULTS: Record<OptimizerName, Omit<Hyperparameters, 'skipZeros' | 'tAlpha' | 'tBeta3' | 'alpha'> &
  Partial<Hyperparameters>> = {
  adam: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 },
  adamw: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2 },
  lamb: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 },
  // Lion, SGD and LARS pass eps = 0 to the kernels (spec T4).
  lion: { lr: 1e-4, betas: [0.9, 0.99], eps: 0, weightDecay: 0 },
  // SGD/LARS: lr and momentum are required by bnb; the service still needs a value, so these are documented
  // defaults (torch's common 0.01 / 0.9) that a config is expected to set.
  sgd: { lr: 1e-2, betas: [0.9, 0], eps: 0, weightDecay: 0 },
  lars: { lr: 1e-2, betas: [0.9, 0], eps: 0, weightDecay: 0 },
  rmsprop: { lr: 1e-2, betas: [0.99, 0], eps: 1e-8, weightDecay: 0 },
  adagrad: { lr: 1e-2, betas: [0, 0], eps: 1e-10, weightDecay: 0 },
  ademamix: { lr: 1e-3, betas: [0.9, 0.999, 0.9999], eps: 1e-8, weightDecay: 1e-2, alpha: 5 },
};

/** Number of betas each optimizer takes from a user (the rest are fixed). */
const BETA_COUNT: Record<OptimizerName, number> = {
  adam: 2, adamw: 2, lamb: 2, lion: 2, sgd: 1, lars: 1, rmsprop: 1, adagrad: 0, ademamix: 3,
};

export function hyperDefaults(name: OptimizerName): Hyperparameters {
  const d = HYPER_DEFAULTS[name];
  return {
    lr: d.lr,
    betas: [...d.betas],
    eps: d.eps,
    weightDecay: d.weightDecay,
    alpha: d.alpha ?? 0,
    tAlpha: 0,
    tBeta3: 0,
    skipZeros: false,
  };
}

export function layoutDefaults(name: OptimizerName): LayoutConfig {
  return {
    optimBits: 32,
    blockWise: true,
    blockSize: constants.defaultBlockSize,
    min8bitSize: constants.defaultMin8bitSize,
    percentileClipping: 100,
    maxUnorm: name === 'lamb' ? 1.0 : name === 'lars' ? 0.02 : 0,
    paged: false,
  };
}

export function isOptimizerName(x: unknown): x is OptimizerName {
  return typeof x === 'string' && (OPTIMIZERS as readonly string[]).includes(x);
}

function finiteNumber(name: string, v: unknown, lo: number, hi: number, hiOpen = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || (hiOpen ? v >= hi : v > hi)) {
    throw invalid(name, `a finite number in [${lo}, ${hi}${hiOpen ? ')' : ']'}`, v);
  }
  return v;
}

/** Validates a complete Hyperparameters record for `name` (ranges of spec section 2). Returns it unchanged. */
export function validateHyper(name: OptimizerName, h: Hyperparameters): Hyperparameters {
  finiteNumber('lr', h.lr, 0, Number.MAX_VALUE);
  finiteNumber('eps', h.eps, 0, Number.MAX_VALUE);
  finiteNumber('weightDecay', h.weightDecay, 0, Number.MAX_VALUE);
  const need = name === 'ademamix' ? 3 : 2;
  if (!Array.isArray(h.betas) || h.betas.length !== need) {
    throw invalid('betas', `${need} numbers`, Array.isArray(h.betas) ? `${h.betas.length} numbers` : h.betas);
  }
  h.betas.forEach((b, i) => finiteNumber(`betas[${i}]`, b, 0, 1, true));
  if ((name === 'sgd' || name === 'lars') && h.betas[0] === 0) {
    throw invalid('betas[0] (momentum)', 'a momentum != 0 (bnb requires it)', 0);
  }
  if (name === 'rmsprop' && h.betas[0] === 0) throw invalid('betas[0] (alpha)', 'an alpha != 0', 0);
  finiteNumber('alpha', h.alpha, 0, Number.MAX_VALUE);
  finiteNumber('tAlpha', h.tAlpha, 0, 2 ** 31 - 1);
  finiteNumber('tBeta3', h.tBeta3, 0, 2 ** 31 - 1);
  if (typeof h.skipZeros !== 'boolean') throw invalid('skipZeros', 'a boolean', h.skipZeros);
  return h;
}

export function validateLayout(name: OptimizerName, l: LayoutConfig): LayoutConfig {
  if (l.optimBits !== 8 && l.optimBits !== 32) throw invalid('optimBits', '8 or 32', l.optimBits);
  if (typeof l.blockWise !== 'boolean') throw invalid('blockWise', 'a boolean', l.blockWise);
  if (!constants.optimizerBlockSizes.includes(l.blockSize)) {
    throw invalid('blockSize', constants.optimizerBlockSizes.join(' or '), l.blockSize);
  }
  if (!Number.isSafeInteger(l.min8bitSize) || l.min8bitSize < 0) {
    throw invalid('min8bitSize', 'a non-negative integer', l.min8bitSize);
  }
  if (!Number.isInteger(l.percentileClipping) || l.percentileClipping < 0 || l.percentileClipping > 100) {
    throw invalid('percentileClipping', 'an integer in [0, 100] (100 = off)', l.percentileClipping);
  }
  finiteNumber('maxUnorm', l.maxUnorm, 0, Number.MAX_VALUE);
  if (l.maxUnorm > 0 && name !== 'lamb' && name !== 'lars') {
    throw invalid('maxUnorm', '0 unless the optimizer is lamb or lars', l.maxUnorm);
  }
  if (typeof l.paged !== 'boolean') throw invalid('paged', 'a boolean', l.paged);
  return l;
}

const HYPER_KEYS = ['lr', 'betas', 'eps', 'weightDecay', 'alpha', 'tAlpha', 'tBeta3', 'skipZeros'] as const;
const LAYOUT_KEYS = [
  'optimBits', 'blockWise', 'blockSize', 'min8bitSize', 'percentileClipping', 'maxUnorm', 'paged',
] as const;
export const CONFIG_KEYS: readonly string[] = [...HYPER_KEYS, ...LAYOUT_KEYS];

/** Rejects keys that no optimizer knows (a typo must not silently do nothing). */
export function checkKeys(where: string, obj: object, allowName: boolean): void {
  for (const k of Object.keys(obj)) {
    if (allowName && k === 'name') continue;
    if (!CONFIG_KEYS.includes(k)) throw invalid(`${where}.${k}`, `one of ${CONFIG_KEYS.join(', ')}`, k);
  }
}

function pick<K extends string>(keys: readonly K[], ...layers: (object | undefined)[]): Partial<Record<K, unknown>> {
  const out: Partial<Record<K, unknown>> = {};
  for (const layer of layers) {
    if (!layer) continue;
    for (const k of keys) {
      const v = (layer as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = v;
    }
  }
  return out;
}

/**
 * Hyperparameters for one parameter at one step: defaults < model config < override by name < per-step changes.
 * Validated; throws INVALID_ARGUMENT naming the offending key.
 */
export function resolveHyper(
  config: OptimizerConfig,
  override?: ParamOverride,
  perStep?: Partial<Hyperparameters>,
): Hyperparameters {
  const base = hyperDefaults(config.name);
  const merged = { ...base, ...pick(HYPER_KEYS, config, override, perStep) } as Hyperparameters;
  // Optimizers with fixed betas (sgd: momentum only, adagrad: none) accept the short form too.
  const userCount = BETA_COUNT[config.name];
  if (Array.isArray(merged.betas) && merged.betas.length === userCount && userCount < base.betas.length) {
    merged.betas = [...merged.betas, ...base.betas.slice(userCount)];
  }
  return validateHyper(config.name, merged);
}

/** The layout for a parameter of `numel` elements, and the state mode it implies (spec 3.3, D10). */
export function resolveLayout(
  config: OptimizerConfig,
  override: ParamOverride | undefined,
  numel: number,
): LayoutConfig & { mode: StateMode } {
  const layout = validateLayout(config.name, {
    ...layoutDefaults(config.name),
    ...pick(LAYOUT_KEYS, config, override),
  } as LayoutConfig);
  let mode: StateMode = 'fp32';
  if (layout.optimBits === 8 && numel >= layout.min8bitSize) mode = layout.blockWise ? 'blockwise8' : 'static8';
  return { ...layout, mode };
}
