// Original file: proto/qstep/v1/model.proto

import type { DType as _qstep_v1_DType, DType__Output as _qstep_v1_DType__Output } from '../../qstep/v1/DType';
import type { StateMode as _qstep_v1_StateMode, StateMode__Output as _qstep_v1_StateMode__Output } from '../../qstep/v1/StateMode';
import type { MemoryBytes as _qstep_v1_MemoryBytes, MemoryBytes__Output as _qstep_v1_MemoryBytes__Output } from '../../qstep/v1/MemoryBytes';
import type { Hyperparameters as _qstep_v1_Hyperparameters, Hyperparameters__Output as _qstep_v1_Hyperparameters__Output } from '../../qstep/v1/Hyperparameters';
import type { Layout as _qstep_v1_Layout, Layout__Output as _qstep_v1_Layout__Output } from '../../qstep/v1/Layout';
import type { Long } from '@grpc/proto-loader';

export interface ParamDescription {
  'name'?: (string);
  'shape'?: (number | string | Long)[];
  'dtype'?: (_qstep_v1_DType);
  'numel'?: (number | string | Long);
  'stateMode'?: (_qstep_v1_StateMode);
  'blockSize'?: (number);
  'step'?: (number | string | Long);
  'uploaded'?: (boolean);
  'uploadedElements'?: (number | string | Long);
  'memory'?: (_qstep_v1_MemoryBytes | null);
  'hyper'?: (_qstep_v1_Hyperparameters | null);
  'layout'?: (_qstep_v1_Layout | null);
}

export interface ParamDescription__Output {
  'name': (string);
  'shape': (number)[];
  'dtype': (_qstep_v1_DType__Output);
  'numel': (number);
  'stateMode': (_qstep_v1_StateMode__Output);
  'blockSize': (number);
  'step': (number);
  'uploaded': (boolean);
  'uploadedElements': (number);
  'memory': (_qstep_v1_MemoryBytes__Output | null);
  'hyper': (_qstep_v1_Hyperparameters__Output | null);
  'layout': (_qstep_v1_Layout__Output | null);
}
