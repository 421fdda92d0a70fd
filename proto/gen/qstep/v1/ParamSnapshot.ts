// Original file: proto/qstep/v1/snapshot.proto

import type { DType as _qstep_v1_DType, DType__Output as _qstep_v1_DType__Output } from '../../qstep/v1/DType';
import type { Optimizer as _qstep_v1_Optimizer, Optimizer__Output as _qstep_v1_Optimizer__Output } from '../../qstep/v1/Optimizer';
import type { StateMode as _qstep_v1_StateMode, StateMode__Output as _qstep_v1_StateMode__Output } from '../../qstep/v1/StateMode';
import type { Long } from '@grpc/proto-loader';

export interface ParamSnapshot {
  'name'?: (string);
  'shape'?: (number | string | Long)[];
  'dtype'?: (_qstep_v1_DType);
  'optimizer'?: (_qstep_v1_Optimizer);
  'stateMode'?: (_qstep_v1_StateMode);
  'blockSize'?: (number);
  'step'?: (number | string | Long);
}

export interface ParamSnapshot__Output {
  'name': (string);
  'shape': (number)[];
  'dtype': (_qstep_v1_DType__Output);
  'optimizer': (_qstep_v1_Optimizer__Output);
  'stateMode': (_qstep_v1_StateMode__Output);
  'blockSize': (number);
  'step': (number);
}
