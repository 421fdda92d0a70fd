// Original file: proto/qstep/v1/step.proto

import type { Long } from '@grpc/proto-loader';

export interface LaneSlice {
  'param'?: (string);
  'offset'?: (number | string | Long);
  'count'?: (number | string | Long);
}

export interface LaneSlice__Output {
  'param': (string);
  'offset': (number);
  'count': (number);
}
