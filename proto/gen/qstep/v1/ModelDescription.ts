// Original file: proto/qstep/v1/model.proto

import type { OptimizerConfig as _qstep_v1_OptimizerConfig, OptimizerConfig__Output as _qstep_v1_OptimizerConfig__Output } from '../../qstep/v1/OptimizerConfig';
import type { ParamOverride as _qstep_v1_ParamOverride, ParamOverride__Output as _qstep_v1_ParamOverride__Output } from '../../qstep/v1/ParamOverride';
import type { ParamDescription as _qstep_v1_ParamDescription, ParamDescription__Output as _qstep_v1_ParamDescription__Output } from '../../qstep/v1/ParamDescription';
import type { MemoryBytes as _qstep_v1_MemoryBytes, MemoryBytes__Output as _qstep_v1_MemoryBytes__Output } from '../../qstep/v1/MemoryBytes';
import type { Long } from '@grpc/proto-loader';

export interface ModelDescription {
  'name'?: (string);
  'optimizer'?: (_qstep_v1_OptimizerConfig | null);
  'overrides'?: ({[key: string]: _qstep_v1_ParamOverride});
  'ready'?: (boolean);
  'modelStep'?: (number | string | Long);
  'params'?: (_qstep_v1_ParamDescription)[];
  'memory'?: (_qstep_v1_MemoryBytes | null);
  'queuedOperations'?: (number);
  'paramCount'?: (number);
  'paramsOffset'?: (number);
  'nextPageToken'?: (string);
}

export interface ModelDescription__Output {
  'name': (string);
  'optimizer': (_qstep_v1_OptimizerConfig__Output | null);
  'overrides': ({[key: string]: _qstep_v1_ParamOverride__Output});
  'ready': (boolean);
  'modelStep': (number);
  'params': (_qstep_v1_ParamDescription__Output)[];
  'memory': (_qstep_v1_MemoryBytes__Output | null);
  'queuedOperations': (number);
  'paramCount': (number);
  'paramsOffset': (number);
  'nextPageToken': (string);
}
