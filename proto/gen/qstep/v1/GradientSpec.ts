// Original file: proto/qstep/v1/step.proto

import type { DType as _qstep_v1_DType, DType__Output as _qstep_v1_DType__Output } from '../../qstep/v1/DType';

export interface GradientSpec {
  'param'?: (string);
  'dtype'?: (_qstep_v1_DType);
}

export interface GradientSpec__Output {
  'param': (string);
  'dtype': (_qstep_v1_DType__Output);
}
