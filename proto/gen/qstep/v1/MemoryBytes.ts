// Original file: proto/qstep/v1/common.proto

import type { Long } from '@grpc/proto-loader';

export interface MemoryBytes {
  'parameters'?: (number | string | Long);
  'state'?: (number | string | Long);
  'scales'?: (number | string | Long);
  'maps'?: (number | string | Long);
  'percentileHistory'?: (number | string | Long);
  'staging'?: (number | string | Long);
  'paged'?: (number | string | Long);
  'fp32StateEquivalent'?: (number | string | Long);
  'total'?: (number | string | Long);
}

export interface MemoryBytes__Output {
  'parameters': (number);
  'state': (number);
  'scales': (number);
  'maps': (number);
  'percentileHistory': (number);
  'staging': (number);
  'paged': (number);
  'fp32StateEquivalent': (number);
  'total': (number);
}
