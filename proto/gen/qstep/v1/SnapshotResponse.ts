// Original file: proto/qstep/v1/snapshot.proto

import type { SnapshotHeader as _qstep_v1_SnapshotHeader, SnapshotHeader__Output as _qstep_v1_SnapshotHeader__Output } from '../../qstep/v1/SnapshotHeader';
import type { TensorData as _qstep_v1_TensorData, TensorData__Output as _qstep_v1_TensorData__Output } from '../../qstep/v1/TensorData';
import type { SnapshotHeaderMore as _qstep_v1_SnapshotHeaderMore, SnapshotHeaderMore__Output as _qstep_v1_SnapshotHeaderMore__Output } from '../../qstep/v1/SnapshotHeaderMore';

export interface SnapshotResponse {
  'header'?: (_qstep_v1_SnapshotHeader | null);
  'data'?: (_qstep_v1_TensorData | null);
  'headerMore'?: (_qstep_v1_SnapshotHeaderMore | null);
  'kind'?: "header"|"data"|"headerMore";
}

export interface SnapshotResponse__Output {
  'header'?: (_qstep_v1_SnapshotHeader__Output | null);
  'data'?: (_qstep_v1_TensorData__Output | null);
  'headerMore'?: (_qstep_v1_SnapshotHeaderMore__Output | null);
  'kind'?: "header"|"data"|"headerMore";
}
