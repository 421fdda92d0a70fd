// The engine's vocabulary as plain data: dtypes and their widths, state modes, and the config keys. This module
// never loads the addon, so proto/convert.ts, the client and the optimizer table read the same facts without
// native code. The addon's own codes for these names (constants.dtypes, constants.stateModes) are checked
// against these lists when it loads (native/lib/constants.ts).

import type { DType, StateMode } from './types';

export const DTYPES: readonly DType[] = ['fp32', 'fp16', 'bf16'];

/** Bytes per element of each dtype (fp16/bf16 travel as their raw 16-bit patterns). */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = { fp32: 4, fp16: 2, bf16: 2 };

export const STATE_MODES: readonly StateMode[] = ['fp32', 'blockwise8', 'static8'];

export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && (DTYPES as readonly string[]).includes(x);
}

/** Hyperparameters: read at every step (docs/math.md §3.2). Also the proto Hyperparameters field names. */
export const HYPER_KEYS = [
  'lr',
  'betas',
  'eps',
  'weightDecay',
  'alpha',
  'tAlpha',
  'tBeta3',
  'skipZeros',
  'zeroVGuard',
] as const;
/** Layout keys: consulted once, when a parameter's state is created. Also the proto Layout field names. */
export const LAYOUT_KEYS = [
  'optimBits',
  'blockWise',
  'blockSize',
  'min8bitSize',
  'percentileClipping',
  'maxUnorm',
  'paged',
] as const;
export type HyperKey = (typeof HYPER_KEYS)[number];
export type LayoutKey = (typeof LAYOUT_KEYS)[number];
export type ConfigKey = HyperKey | LayoutKey;
export const CONFIG_KEYS: readonly ConfigKey[] = [...HYPER_KEYS, ...LAYOUT_KEYS];
