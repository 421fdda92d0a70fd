// Original file: proto/qstep/v1/model.proto

import type { MemoryBytes as _qstep_v1_MemoryBytes, MemoryBytes__Output as _qstep_v1_MemoryBytes__Output } from '../../qstep/v1/MemoryBytes';
import type { DeviceInfo as _qstep_v1_DeviceInfo, DeviceInfo__Output as _qstep_v1_DeviceInfo__Output } from '../../qstep/v1/DeviceInfo';
import type { Long } from '@grpc/proto-loader';

export interface BackendTotals {
  'backend'?: (string);
  'models'?: (number);
  'memory'?: (_qstep_v1_MemoryBytes | null);
  'stagingBudgetBytes'?: (number | string | Long);
  'device'?: (_qstep_v1_DeviceInfo | null);
}

export interface BackendTotals__Output {
  'backend': (string);
  'models': (number);
  'memory': (_qstep_v1_MemoryBytes__Output | null);
  'stagingBudgetBytes': (number);
  'device': (_qstep_v1_DeviceInfo__Output | null);
}
