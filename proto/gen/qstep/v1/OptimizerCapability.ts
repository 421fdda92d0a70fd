// Original file: proto/qstep/v1/info.proto

import type { Optimizer as _qstep_v1_Optimizer, Optimizer__Output as _qstep_v1_Optimizer__Output } from '../../qstep/v1/Optimizer';
import type { StateMode as _qstep_v1_StateMode, StateMode__Output as _qstep_v1_StateMode__Output } from '../../qstep/v1/StateMode';
import type { DType as _qstep_v1_DType, DType__Output as _qstep_v1_DType__Output } from '../../qstep/v1/DType';
import type { Hyperparameters as _qstep_v1_Hyperparameters, Hyperparameters__Output as _qstep_v1_Hyperparameters__Output } from '../../qstep/v1/Hyperparameters';
import type { Layout as _qstep_v1_Layout, Layout__Output as _qstep_v1_Layout__Output } from '../../qstep/v1/Layout';

export interface OptimizerCapability {
  'optimizer'?: (_qstep_v1_Optimizer);
  'stateModes'?: (_qstep_v1_StateMode)[];
  'dtypes'?: (_qstep_v1_DType)[];
  'defaults'?: (_qstep_v1_Hyperparameters | null);
  'layoutDefaults'?: (_qstep_v1_Layout | null);
  'betas'?: (string)[];
  'fields'?: (string)[];
}

export interface OptimizerCapability__Output {
  'optimizer': (_qstep_v1_Optimizer__Output);
  'stateModes': (_qstep_v1_StateMode__Output)[];
  'dtypes': (_qstep_v1_DType__Output)[];
  'defaults': (_qstep_v1_Hyperparameters__Output | null);
  'layoutDefaults': (_qstep_v1_Layout__Output | null);
  'betas': (string)[];
  'fields': (string)[];
}
