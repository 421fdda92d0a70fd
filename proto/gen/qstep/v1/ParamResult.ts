// Original file: proto/qstep/v1/step.proto

import type { Long } from '@grpc/proto-loader';

export interface ParamResult {
  'name'?: (string);
  'step'?: (number | string | Long);
  'gnormScale'?: (number | string);
  'updateScale'?: (number | string);
}

export interface ParamResult__Output {
  'name': (string);
  'step': (number);
  'gnormScale': (number);
  'updateScale': (number);
}
