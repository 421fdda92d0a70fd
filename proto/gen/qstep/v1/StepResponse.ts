// Original file: proto/qstep/v1/step.proto

import type { StepResult as _qstep_v1_StepResult, StepResult__Output as _qstep_v1_StepResult__Output } from '../../qstep/v1/StepResult';
import type { TensorChunk as _qstep_v1_TensorChunk, TensorChunk__Output as _qstep_v1_TensorChunk__Output } from '../../qstep/v1/TensorChunk';
import type { StepResultMore as _qstep_v1_StepResultMore, StepResultMore__Output as _qstep_v1_StepResultMore__Output } from '../../qstep/v1/StepResultMore';

export interface StepResponse {
  'result'?: (_qstep_v1_StepResult | null);
  'weights'?: (_qstep_v1_TensorChunk | null);
  'resultMore'?: (_qstep_v1_StepResultMore | null);
  'kind'?: "result"|"weights"|"resultMore";
}

export interface StepResponse__Output {
  'result'?: (_qstep_v1_StepResult__Output | null);
  'weights'?: (_qstep_v1_TensorChunk__Output | null);
  'resultMore'?: (_qstep_v1_StepResultMore__Output | null);
  'kind'?: "result"|"weights"|"resultMore";
}
