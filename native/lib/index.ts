// Public entry of the engine for server/domain, tests and benchmarks.
export * from './types';
export { Engine, Param } from './engine';
export { DTYPE_BYTES, dtypeCode, isDType } from './dtypes';
export { GradientBuffer } from './gradient-buffer';
export type { EngineOptions, ParamSpec } from './engine';
export { EngineError } from './errors';
export type { EngineErrorCode } from './errors';
export type { CpuIsa } from './native';
export { constants } from './constants';
export { engineVersion, cudaBuilt } from './info';
export { OPTIMIZERS, hyperDefaults, layoutDefaults, resolveHyper, resolveLayout, isOptimizerName } from './config';
export { qmap, nearestCodes, quantizeStates, decodeStates, quantizeBlockwise, dequantizeBlockwise } from './quantize';
