// Original file: proto/qstep/v1/info.proto

import type { OptimizerCapability as _qstep_v1_OptimizerCapability, OptimizerCapability__Output as _qstep_v1_OptimizerCapability__Output } from '../../qstep/v1/OptimizerCapability';
import type { DType as _qstep_v1_DType, DType__Output as _qstep_v1_DType__Output } from '../../qstep/v1/DType';
import type { StateFormat as _qstep_v1_StateFormat, StateFormat__Output as _qstep_v1_StateFormat__Output } from '../../qstep/v1/StateFormat';

export interface Capabilities {
  'optimizers'?: (_qstep_v1_OptimizerCapability)[];
  'gradDtypes'?: (_qstep_v1_DType)[];
  'blockSizes'?: (number)[];
  'snapshotStateFormats'?: (_qstep_v1_StateFormat)[];
}

export interface Capabilities__Output {
  'optimizers': (_qstep_v1_OptimizerCapability__Output)[];
  'gradDtypes': (_qstep_v1_DType__Output)[];
  'blockSizes': (number)[];
  'snapshotStateFormats': (_qstep_v1_StateFormat__Output)[];
}
