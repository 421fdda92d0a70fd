// Original file: proto/qstep/v1/step.proto

import type { ParamResult as _qstep_v1_ParamResult, ParamResult__Output as _qstep_v1_ParamResult__Output } from '../../qstep/v1/ParamResult';
import type { Long } from '@grpc/proto-loader';

export interface StepResult {
  'model'?: (string);
  'modelStep'?: (number | string | Long);
  'skipped'?: (boolean);
  'replayed'?: (boolean);
  'nonFinite'?: (string)[];
  'params'?: (_qstep_v1_ParamResult)[];
  'weightChunks'?: (number | string | Long);
  'weightBytes'?: (number | string | Long);
  'resultParts'?: (number);
}

export interface StepResult__Output {
  'model': (string);
  'modelStep': (number);
  'skipped': (boolean);
  'replayed': (boolean);
  'nonFinite': (string)[];
  'params': (_qstep_v1_ParamResult__Output)[];
  'weightChunks': (number);
  'weightBytes': (number);
  'resultParts': (number);
}
