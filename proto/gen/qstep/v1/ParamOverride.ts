// Original file: proto/qstep/v1/common.proto

import type { Hyperparameters as _qstep_v1_Hyperparameters, Hyperparameters__Output as _qstep_v1_Hyperparameters__Output } from '../../qstep/v1/Hyperparameters';
import type { Layout as _qstep_v1_Layout, Layout__Output as _qstep_v1_Layout__Output } from '../../qstep/v1/Layout';

export interface ParamOverride {
  'hyper'?: (_qstep_v1_Hyperparameters | null);
  'layout'?: (_qstep_v1_Layout | null);
}

export interface ParamOverride__Output {
  'hyper': (_qstep_v1_Hyperparameters__Output | null);
  'layout': (_qstep_v1_Layout__Output | null);
}
