// Original file: proto/qstep/v1/step.proto

import type { Long } from '@grpc/proto-loader';

export interface StepCommit {
  'chunkCount'?: (number | string | Long);
}

export interface StepCommit__Output {
  'chunkCount': (number);
}
