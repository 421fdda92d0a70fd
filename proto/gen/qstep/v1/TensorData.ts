// Original file: proto/qstep/v1/snapshot.proto

import type { Long } from '@grpc/proto-loader';

export interface TensorData {
  'tensor'?: (number);
  'byteOffset'?: (number | string | Long);
  'data'?: (Buffer | Uint8Array | string);
}

export interface TensorData__Output {
  'tensor': (number);
  'byteOffset': (number);
  'data': (Buffer);
}
