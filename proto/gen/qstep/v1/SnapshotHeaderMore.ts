// Original file: proto/qstep/v1/snapshot.proto

import type { ParamSnapshot as _qstep_v1_ParamSnapshot, ParamSnapshot__Output as _qstep_v1_ParamSnapshot__Output } from '../../qstep/v1/ParamSnapshot';
import type { TensorDescriptor as _qstep_v1_TensorDescriptor, TensorDescriptor__Output as _qstep_v1_TensorDescriptor__Output } from '../../qstep/v1/TensorDescriptor';

export interface SnapshotHeaderMore {
  'params'?: (_qstep_v1_ParamSnapshot)[];
  'tensors'?: (_qstep_v1_TensorDescriptor)[];
}

export interface SnapshotHeaderMore__Output {
  'params': (_qstep_v1_ParamSnapshot__Output)[];
  'tensors': (_qstep_v1_TensorDescriptor__Output)[];
}
