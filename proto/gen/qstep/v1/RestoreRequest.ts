// Original file: proto/qstep/v1/snapshot.proto

import type { RestoreHeader as _qstep_v1_RestoreHeader, RestoreHeader__Output as _qstep_v1_RestoreHeader__Output } from '../../qstep/v1/RestoreHeader';
import type { TensorData as _qstep_v1_TensorData, TensorData__Output as _qstep_v1_TensorData__Output } from '../../qstep/v1/TensorData';
import type { SnapshotHeaderMore as _qstep_v1_SnapshotHeaderMore, SnapshotHeaderMore__Output as _qstep_v1_SnapshotHeaderMore__Output } from '../../qstep/v1/SnapshotHeaderMore';

export interface RestoreRequest {
  'header'?: (_qstep_v1_RestoreHeader | null);
  'data'?: (_qstep_v1_TensorData | null);
  'headerMore'?: (_qstep_v1_SnapshotHeaderMore | null);
  'kind'?: "header"|"data"|"headerMore";
}

export interface RestoreRequest__Output {
  'header'?: (_qstep_v1_RestoreHeader__Output | null);
  'data'?: (_qstep_v1_TensorData__Output | null);
  'headerMore'?: (_qstep_v1_SnapshotHeaderMore__Output | null);
  'kind'?: "header"|"data"|"headerMore";
}
