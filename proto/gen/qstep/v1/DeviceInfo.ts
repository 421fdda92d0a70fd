// Original file: proto/qstep/v1/common.proto

import type { Long } from '@grpc/proto-loader';

export interface DeviceInfo {
  'name'?: (string);
  'totalBytes'?: (number | string | Long);
  'freeBytes'?: (number | string | Long);
}

export interface DeviceInfo__Output {
  'name': (string);
  'totalBytes': (number);
  'freeBytes': (number);
}
