// Original file: proto/qstep/v1/model.proto

import type { Optimizer as _qstep_v1_Optimizer, Optimizer__Output as _qstep_v1_Optimizer__Output } from '../../qstep/v1/Optimizer';
import type { Long } from '@grpc/proto-loader';

export interface ModelSummary {
  'name'?: (string);
  'optimizer'?: (_qstep_v1_Optimizer);
  'paramCount'?: (number);
  'numel'?: (number | string | Long);
  'ready'?: (boolean);
  'modelStep'?: (number | string | Long);
  'memoryBytes'?: (number | string | Long);
}

export interface ModelSummary__Output {
  'name': (string);
  'optimizer': (_qstep_v1_Optimizer__Output);
  'paramCount': (number);
  'numel': (number);
  'ready': (boolean);
  'modelStep': (number);
  'memoryBytes': (number);
}
