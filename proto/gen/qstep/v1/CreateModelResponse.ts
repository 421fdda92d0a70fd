// Original file: proto/qstep/v1/model.proto

import type { ModelDescription as _qstep_v1_ModelDescription, ModelDescription__Output as _qstep_v1_ModelDescription__Output } from '../../qstep/v1/ModelDescription';
import type { ModelSummary as _qstep_v1_ModelSummary, ModelSummary__Output as _qstep_v1_ModelSummary__Output } from '../../qstep/v1/ModelSummary';

export interface CreateModelResponse {
  'model'?: (_qstep_v1_ModelDescription | null);
  'summary'?: (_qstep_v1_ModelSummary | null);
}

export interface CreateModelResponse__Output {
  'model': (_qstep_v1_ModelDescription__Output | null);
  'summary': (_qstep_v1_ModelSummary__Output | null);
}
