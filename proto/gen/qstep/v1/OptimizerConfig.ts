// Original file: proto/qstep/v1/common.proto

import type { Optimizer as _qstep_v1_Optimizer, Optimizer__Output as _qstep_v1_Optimizer__Output } from '../../qstep/v1/Optimizer';
import type { Hyperparameters as _qstep_v1_Hyperparameters, Hyperparameters__Output as _qstep_v1_Hyperparameters__Output } from '../../qstep/v1/Hyperparameters';
import type { Layout as _qstep_v1_Layout, Layout__Output as _qstep_v1_Layout__Output } from '../../qstep/v1/Layout';
import type { NonFinitePolicy as _qstep_v1_NonFinitePolicy, NonFinitePolicy__Output as _qstep_v1_NonFinitePolicy__Output } from '../../qstep/v1/NonFinitePolicy';

export interface OptimizerConfig {
  'optimizer'?: (_qstep_v1_Optimizer);
  'hyper'?: (_qstep_v1_Hyperparameters | null);
  'layout'?: (_qstep_v1_Layout | null);
  'nonFinite'?: (_qstep_v1_NonFinitePolicy);
}

export interface OptimizerConfig__Output {
  'optimizer': (_qstep_v1_Optimizer__Output);
  'hyper': (_qstep_v1_Hyperparameters__Output | null);
  'layout': (_qstep_v1_Layout__Output | null);
  'nonFinite': (_qstep_v1_NonFinitePolicy__Output);
}
