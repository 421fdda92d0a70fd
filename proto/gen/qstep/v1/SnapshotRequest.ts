// Original file: proto/qstep/v1/snapshot.proto

import type { DType as _qstep_v1_DType, DType__Output as _qstep_v1_DType__Output } from '../../qstep/v1/DType';
import type { StateFormat as _qstep_v1_StateFormat, StateFormat__Output as _qstep_v1_StateFormat__Output } from '../../qstep/v1/StateFormat';

export interface SnapshotRequest {
  'model'?: (string);
  'params'?: (string)[];
  'weights'?: (boolean);
  'weightsDtype'?: (_qstep_v1_DType);
  'state'?: (_qstep_v1_StateFormat);
}

export interface SnapshotRequest__Output {
  'model': (string);
  'params': (string)[];
  'weights': (boolean);
  'weightsDtype': (_qstep_v1_DType__Output);
  'state': (_qstep_v1_StateFormat__Output);
}
