// Original file: proto/qstep/v1/snapshot.proto

import type { OptimizerConfig as _qstep_v1_OptimizerConfig, OptimizerConfig__Output as _qstep_v1_OptimizerConfig__Output } from '../../qstep/v1/OptimizerConfig';
import type { StateFormat as _qstep_v1_StateFormat, StateFormat__Output as _qstep_v1_StateFormat__Output } from '../../qstep/v1/StateFormat';
import type { ParamSnapshot as _qstep_v1_ParamSnapshot, ParamSnapshot__Output as _qstep_v1_ParamSnapshot__Output } from '../../qstep/v1/ParamSnapshot';
import type { TensorDescriptor as _qstep_v1_TensorDescriptor, TensorDescriptor__Output as _qstep_v1_TensorDescriptor__Output } from '../../qstep/v1/TensorDescriptor';
import type { Long } from '@grpc/proto-loader';

export interface SnapshotHeader {
  'formatVersion'?: (number);
  'model'?: (string);
  'optimizer'?: (_qstep_v1_OptimizerConfig | null);
  'modelStep'?: (number | string | Long);
  'state'?: (_qstep_v1_StateFormat);
  'params'?: (_qstep_v1_ParamSnapshot)[];
  'tensors'?: (_qstep_v1_TensorDescriptor)[];
  'totalBytes'?: (number | string | Long);
  'headerParts'?: (number);
}

export interface SnapshotHeader__Output {
  'formatVersion': (number);
  'model': (string);
  'optimizer': (_qstep_v1_OptimizerConfig__Output | null);
  'modelStep': (number);
  'state': (_qstep_v1_StateFormat__Output);
  'params': (_qstep_v1_ParamSnapshot__Output)[];
  'tensors': (_qstep_v1_TensorDescriptor__Output)[];
  'totalBytes': (number);
  'headerParts': (number);
}
