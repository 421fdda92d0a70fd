// Original file: proto/qstep/v1/model.proto

import type { Long } from '@grpc/proto-loader';

export interface UploadResponse {
  'model'?: (string);
  'chunks'?: (number | string | Long);
  'bytes'?: (number | string | Long);
  'ready'?: (boolean);
  'pendingParams'?: (string)[];
  'pendingCount'?: (number);
}

export interface UploadResponse__Output {
  'model': (string);
  'chunks': (number);
  'bytes': (number);
  'ready': (boolean);
  'pendingParams': (string)[];
  'pendingCount': (number);
}
