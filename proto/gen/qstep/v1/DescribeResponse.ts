// Original file: proto/qstep/v1/model.proto

import type { ModelDescription as _qstep_v1_ModelDescription, ModelDescription__Output as _qstep_v1_ModelDescription__Output } from '../../qstep/v1/ModelDescription';
import type { BackendTotals as _qstep_v1_BackendTotals, BackendTotals__Output as _qstep_v1_BackendTotals__Output } from '../../qstep/v1/BackendTotals';

export interface DescribeResponse {
  'models'?: (_qstep_v1_ModelDescription)[];
  'totals'?: (_qstep_v1_BackendTotals | null);
}

export interface DescribeResponse__Output {
  'models': (_qstep_v1_ModelDescription__Output)[];
  'totals': (_qstep_v1_BackendTotals__Output | null);
}
