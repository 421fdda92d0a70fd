// Optimizer configuration: defaults and applicability from the optimizer table (optimizers.ts, docs/math.md §2),
// validation of the ranges bnb's constructors enforce, and resolution of a model-wide config plus per-parameter
// overrides keyed by name (docs/math.md §3.2, §13, D10). Hyperparameters are resolved at every step; layout keys
// only when a parameter's state is created. A key that does not apply to the chosen optimizer is refused, naming
// the key and what to use instead: a setting must never be accepted and then ignored.

import { constants } from './constants';
import { EngineError, invalid } from './errors';
import { OPTIMIZERS, ZERO_V_GUARD_DEFAULT, isOptimizerName, optimizerRow, type OptimizerRow } from './optimizers';
import type { Hyperparameters, LayoutConfig, OptimizerConfig, OptimizerName, ParamOverride, StateMode } from './types';
import { CONFIG_KEYS, HYPER_KEYS, LAYOUT_KEYS } from './vocab';

export { CONFIG_KEYS, OPTIMIZERS, isOptimizerName };

/** The optimizer's defaults, with exactly as many betas as the optimizer takes (its table row). */
export function hyperDefaults(name: OptimizerName): Hyperparameters {
  const row = optimizerRow(name);
  const d = row.defaults;
  return {
    lr: d.lr,
    betas: [...d.betas],
    eps: d.eps,
    weightDecay: d.weightDecay,
    alpha: d.alpha,
    tAlpha: 0,
    tBeta3: 0,
    skipZeros: false,
    zeroVGuard: row.zeroVGuard ? ZERO_V_GUARD_DEFAULT : false,
  };
}

export function layoutDefaults(name: OptimizerName): LayoutConfig {
  return {
    optimBits: 32,
    blockWise: true,
    blockSize: constants.defaultBlockSize,
    min8bitSize: constants.defaultMin8bitSize,
    percentileClipping: 100,
    maxUnorm: optimizerRow(name).trust?.maxUnorm ?? 0,
    paged: false,
  };
}

function finiteNumber(name: string, v: unknown, lo: number, hi: number, hiOpen = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || (hiOpen ? v >= hi : v > hi)) {
    throw invalid(name, `a finite number in [${lo}, ${hi}${hiOpen ? ')' : ']'}`, v);
  }
  return v;
}

function betasShape(row: OptimizerRow): string {
  const n = row.betas.length;
  return n === 0 ? 'no betas' : `${n} number${n === 1 ? '' : 's'} (${row.betas.join(', ')})`;
}

/** The defaults of the keys that apply to `name`: what ServerInfo shows (alpha only where it is a key of its own). */
export function applicableDefaults(name: OptimizerName): Partial<Hyperparameters> {
  const row = optimizerRow(name);
  const d: Partial<Hyperparameters> = hyperDefaults(name);
  for (const k of Object.keys(row.refuses)) delete (d as Record<string, unknown>)[k];
  if (row.alphaIsBeta0) delete d.alpha;
  return d;
}

/** Validates a complete Hyperparameters record for `name` (ranges of docs/math.md §2). Returns it unchanged. */
export function validateHyper(name: OptimizerName, h: Hyperparameters): Hyperparameters {
  const row = optimizerRow(name);
  finiteNumber('lr', h.lr, 0, Number.MAX_VALUE);
  finiteNumber('eps', h.eps, 0, Number.MAX_VALUE);
  finiteNumber('weightDecay', h.weightDecay, 0, Number.MAX_VALUE);
  if (!Array.isArray(h.betas) || h.betas.length !== row.betas.length) {
    // The count is shown unquoted ("got 2 numbers"), a non-array as itself.
    if (!Array.isArray(h.betas)) throw invalid(`betas of ${name}`, betasShape(row), h.betas);
    const n = h.betas.length;
    throw new EngineError(
      'INVALID_ARGUMENT',
      `expected ${betasShape(row)} for betas of ${name}, got ${n} number${n === 1 ? '' : 's'}`,
    );
  }
  h.betas.forEach((b, i) => finiteNumber(`betas[${i}] (${row.betas[i]})`, b, 0, 1, true));
  for (const i of row.betasNonZero) {
    if (h.betas[i] === 0)
      throw invalid(`betas[${i}] (${row.betas[i]})`, `a value != 0 for ${name} (bnb requires it)`, 0);
  }
  finiteNumber('alpha', h.alpha, 0, Number.MAX_VALUE);
  finiteNumber('tAlpha', h.tAlpha, 0, 2 ** 31 - 1);
  finiteNumber('tBeta3', h.tBeta3, 0, 2 ** 31 - 1);
  if (typeof h.skipZeros !== 'boolean') throw invalid('skipZeros', 'a boolean', h.skipZeros);
  if (typeof h.zeroVGuard !== 'boolean') throw invalid('zeroVGuard', 'a boolean', h.zeroVGuard);
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
  if (l.maxUnorm > 0 && !optimizerRow(name).trust) {
    throw invalid('maxUnorm', '0 unless the optimizer is lamb or lars', l.maxUnorm);
  }
  if (typeof l.paged !== 'boolean') throw invalid('paged', 'a boolean', l.paged);
  return l;
}

/** Rejects keys that no optimizer knows (a typo must not silently do nothing). */
export function checkKeys(where: string, obj: object, allowName: boolean): void {
  for (const k of Object.keys(obj)) {
    if (allowName && k === 'name') continue;
    if (!(CONFIG_KEYS as readonly string[]).includes(k)) {
      throw invalid(`${where}.${k}`, `one of ${CONFIG_KEYS.join(', ')}`, k);
    }
  }
}

function isSet(k: string, v: unknown): boolean {
  return v !== undefined && !(k === 'betas' && Array.isArray(v) && v.length === 0);
}

/**
 * Refuses keys of one config layer that do not apply to `name` (INVALID_ARGUMENT naming the key and what to use
 * instead), and returns the layer with RMSprop's torch-style `alpha` moved to betas[0] (its one meaning there).
 * `where` prefixes the key in messages ('' for a model config, 'override.' or 'hyper.' for the others).
 */
export function applicableLayer<L extends object>(
  name: OptimizerName,
  where: string,
  layer: L | undefined,
): L | undefined {
  if (!layer) return layer;
  const row = optimizerRow(name);
  const rec = layer as Record<string, unknown>;
  for (const [k, instead] of Object.entries(row.refuses)) {
    if (isSet(k, rec[k])) {
      throw new EngineError('INVALID_ARGUMENT', `${where}${k} does not apply to ${name}: ${instead}`);
    }
  }
  if (row.alphaIsBeta0 && isSet('alpha', rec.alpha)) {
    const alpha = rec.alpha;
    const betas = rec.betas;
    if (isSet('betas', betas)) {
      if (!Array.isArray(betas) || betas[0] !== alpha) {
        throw new EngineError(
          'INVALID_ARGUMENT',
          `${where}alpha (${String(alpha).slice(0, 32)}) conflicts with ${where}betas[0]: for ${name} both name ` +
            `${row.betas[0]}; set either alpha (torch's name) or betas = [alpha]`,
        );
      }
    }
    const out = { ...rec, betas: [alpha] } as Record<string, unknown>;
    delete out.alpha;
    return out as L;
  }
  return layer;
}

function pick<K extends string>(keys: readonly K[], ...layers: (object | undefined)[]): Partial<Record<K, unknown>> {
  const out: Partial<Record<K, unknown>> = {};
  for (const layer of layers) {
    if (!layer) continue;
    for (const k of keys) {
      const v = (layer as Record<string, unknown>)[k];
      if (isSet(k, v)) out[k] = v;
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
  const name = config.name;
  const layers = [
    applicableLayer(name, '', config),
    applicableLayer(name, 'override.', override),
    applicableLayer(name, 'hyper.', perStep),
  ];
  const merged = { ...hyperDefaults(name), ...pick(HYPER_KEYS, ...layers) } as Hyperparameters;
  return validateHyper(name, merged);
}

/** The layout for a parameter of `numel` elements, and the state mode it implies (docs/math.md §3.3, D10). */
export function resolveLayout(
  config: OptimizerConfig,
  override: ParamOverride | undefined,
  numel: number,
): LayoutConfig & { mode: StateMode } {
  const name = config.name;
  const layout = validateLayout(name, {
    ...layoutDefaults(name),
    ...pick(LAYOUT_KEYS, applicableLayer(name, '', config), applicableLayer(name, 'override.', override)),
  } as LayoutConfig);
  let mode: StateMode = 'fp32';
  if (layout.optimBits === 8 && numel >= layout.min8bitSize) mode = layout.blockWise ? 'blockwise8' : 'static8';
  return { ...layout, mode };
}
