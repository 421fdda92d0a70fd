// Original file: proto/qstep/v1/common.proto

import type { DType as _qstep_v1_DType, DType__Output as _qstep_v1_DType__Output } from '../../qstep/v1/DType';
import type { Long } from '@grpc/proto-loader';

export interface ParameterSpec {
  'name'?: (string);
  'shape'?: (number | string | Long)[];
  'dtype'?: (_qstep_v1_DType);
}

export interface ParameterSpec__Output {
  'name': (string);
  'shape': (number)[];
  'dtype': (_qstep_v1_DType__Output);
}
