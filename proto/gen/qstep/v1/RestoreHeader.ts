// Original file: proto/qstep/v1/snapshot.proto

import type { SnapshotHeader as _qstep_v1_SnapshotHeader, SnapshotHeader__Output as _qstep_v1_SnapshotHeader__Output } from '../../qstep/v1/SnapshotHeader';

export interface RestoreHeader {
  'model'?: (string);
  'snapshot'?: (_qstep_v1_SnapshotHeader | null);
}

export interface RestoreHeader__Output {
  'model': (string);
  'snapshot': (_qstep_v1_SnapshotHeader__Output | null);
}
