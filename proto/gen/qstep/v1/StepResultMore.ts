// Original file: proto/qstep/v1/step.proto

import type { ParamResult as _qstep_v1_ParamResult, ParamResult__Output as _qstep_v1_ParamResult__Output } from '../../qstep/v1/ParamResult';

export interface StepResultMore {
  'nonFinite'?: (string)[];
  'params'?: (_qstep_v1_ParamResult)[];
}

export interface StepResultMore__Output {
  'nonFinite': (string)[];
  'params': (_qstep_v1_ParamResult__Output)[];
}
