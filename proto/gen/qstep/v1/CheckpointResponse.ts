// Original file: proto/qstep/v1/checkpoint.proto

import type { Long } from '@grpc/proto-loader';

export interface CheckpointResponse {
  'model'?: (string);
  'id'?: (number | string | Long);
  'modelStep'?: (number | string | Long);
  'bytes'?: (number | string | Long);
  'file'?: (string);
  'stallMs'?: (number | string);
  'writeMs'?: (number | string);
}

export interface CheckpointResponse__Output {
  'model': (string);
  'id': (number);
  'modelStep': (number);
  'bytes': (number);
  'file': (string);
  'stallMs': (number);
  'writeMs': (number);
}
