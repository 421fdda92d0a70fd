// Original file: proto/qstep/v1/snapshot.proto

import type { RestoreHeader as _qstep_v1_RestoreHeader, RestoreHeader__Output as _qstep_v1_RestoreHeader__Output } from '../../qstep/v1/RestoreHeader';
import type { TensorData as _qstep_v1_TensorData, TensorData__Output as _qstep_v1_TensorData__Output } from '../../qstep/v1/TensorData';

export interface RestoreRequest {
  'header'?: (_qstep_v1_RestoreHeader | null);
  'data'?: (_qstep_v1_TensorData | null);
  'kind'?: "header"|"data";
}

export interface RestoreRequest__Output {
  'header'?: (_qstep_v1_RestoreHeader__Output | null);
  'data'?: (_qstep_v1_TensorData__Output | null);
  'kind'?: "header"|"data";
}
