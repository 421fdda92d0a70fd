// Original file: proto/qstep/v1/info.proto

import type { Long } from '@grpc/proto-loader';

export interface Limits {
  'maxMessageBytes'?: (number | string | Long);
  'maxChunkBytes'?: (number | string | Long);
  'maxModels'?: (number);
  'maxParamsPerModel'?: (number);
  'maxElements'?: (number | string | Long);
  'maxDims'?: (number);
  'stagingBudgetBytes'?: (number | string | Long);
  'stagingWaitMs'?: (number | string | Long);
  'idempotencyWindow'?: (number);
  'memoryLimitBytes'?: (number | string | Long);
  'memoryHeldBytes'?: (number | string | Long);
  'stagingPerConnectionBytes'?: (number | string | Long);
  'streamGraceMs'?: (number | string | Long);
  'streamMinBytesPerSecond'?: (number | string | Long);
}

export interface Limits__Output {
  'maxMessageBytes': (number);
  'maxChunkBytes': (number);
  'maxModels': (number);
  'maxParamsPerModel': (number);
  'maxElements': (number);
  'maxDims': (number);
  'stagingBudgetBytes': (number);
  'stagingWaitMs': (number);
  'idempotencyWindow': (number);
  'memoryLimitBytes': (number);
  'memoryHeldBytes': (number);
  'stagingPerConnectionBytes': (number);
  'streamGraceMs': (number);
  'streamMinBytesPerSecond': (number);
}
