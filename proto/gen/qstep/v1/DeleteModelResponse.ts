// Original file: proto/qstep/v1/model.proto

import type { Long } from '@grpc/proto-loader';

export interface DeleteModelResponse {
  'name'?: (string);
  'freedBytes'?: (number | string | Long);
}

export interface DeleteModelResponse__Output {
  'name': (string);
  'freedBytes': (number);
}
