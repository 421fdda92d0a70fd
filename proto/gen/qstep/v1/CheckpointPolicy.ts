// Original file: proto/qstep/v1/checkpoint.proto

import type { Long } from '@grpc/proto-loader';

export interface CheckpointPolicy {
  'everySteps'?: (number | string | Long);
  'everySeconds'?: (number | string | Long);
  'keep'?: (number);
  '_everySteps'?: "everySteps";
  '_everySeconds'?: "everySeconds";
  '_keep'?: "keep";
}

export interface CheckpointPolicy__Output {
  'everySteps'?: (number);
  'everySeconds'?: (number);
  'keep'?: (number);
  '_everySteps'?: "everySteps";
  '_everySeconds'?: "everySeconds";
  '_keep'?: "keep";
}
