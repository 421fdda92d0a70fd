// Original file: proto/qstep/v1/common.proto

import type { DType as _qstep_v1_DType, DType__Output as _qstep_v1_DType__Output } from '../../qstep/v1/DType';
import type { Long } from '@grpc/proto-loader';

export interface TensorChunk {
  'param'?: (string);
  'offset'?: (number | string | Long);
  'dtype'?: (_qstep_v1_DType);
  'data'?: (Buffer | Uint8Array | string);
}

export interface TensorChunk__Output {
  'param': (string);
  'offset': (number);
  'dtype': (_qstep_v1_DType__Output);
  'data': (Buffer);
}
