// Original file: proto/qstep/v1/model.proto

import type { ModelSummary as _qstep_v1_ModelSummary, ModelSummary__Output as _qstep_v1_ModelSummary__Output } from '../../qstep/v1/ModelSummary';

export interface ListModelsResponse {
  'models'?: (_qstep_v1_ModelSummary)[];
}

export interface ListModelsResponse__Output {
  'models': (_qstep_v1_ModelSummary__Output)[];
}
