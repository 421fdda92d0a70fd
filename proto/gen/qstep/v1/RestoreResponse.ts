// Original file: proto/qstep/v1/snapshot.proto

import type { Long } from '@grpc/proto-loader';

export interface RestoreResponse {
  'model'?: (string);
  'modelStep'?: (number | string | Long);
  'params'?: (string)[];
  'bytes'?: (number | string | Long);
  'ready'?: (boolean);
  'paramCount'?: (number);
}

export interface RestoreResponse__Output {
  'model': (string);
  'modelStep': (number);
  'params': (string)[];
  'bytes': (number);
  'ready': (boolean);
  'paramCount': (number);
}
