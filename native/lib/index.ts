// Public entry of the engine for server/domain, tests and benchmarks.
export * from './types';
export { Engine, Param } from './engine';
export { DTYPE_BYTES, dtypeCode, isDType } from './dtypes';
export { GradientBuffer } from './gradient-buffer';
export type { EngineOptions, ParamSpec, StepItem } from './engine';
export { EngineError } from './errors';
export type { EngineErrorCode } from './errors';
export type { CpuIsa } from './native';
export { constants } from './constants';
export { engineVersion, cudaBuilt, setHeapTrimThreshold } from './info';
export { applicableDefaults, hyperDefaults, layoutDefaults, resolveHyper, resolveLayout } from './config';
export { OPTIMIZERS, OPTIMIZER_TABLE, isOptimizerName, optimizerRow } from './optimizers';
export type { OptimizerRow, OpFamily } from './optimizers';
export { CONFIG_KEYS, DTYPES, HYPER_KEYS, LAYOUT_KEYS, STATE_MODES } from './vocab';
export { qmap, nearestCodes, quantizeStates, decodeStates, quantizeBlockwise, dequantizeBlockwise } from './quantize';
