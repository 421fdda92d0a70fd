// Original file: proto/qstep/v1/step.proto

import type { StepHeader as _qstep_v1_StepHeader, StepHeader__Output as _qstep_v1_StepHeader__Output } from '../../qstep/v1/StepHeader';
import type { TensorChunk as _qstep_v1_TensorChunk, TensorChunk__Output as _qstep_v1_TensorChunk__Output } from '../../qstep/v1/TensorChunk';
import type { StepCommit as _qstep_v1_StepCommit, StepCommit__Output as _qstep_v1_StepCommit__Output } from '../../qstep/v1/StepCommit';
import type { StepHeaderMore as _qstep_v1_StepHeaderMore, StepHeaderMore__Output as _qstep_v1_StepHeaderMore__Output } from '../../qstep/v1/StepHeaderMore';

export interface StepRequest {
  'header'?: (_qstep_v1_StepHeader | null);
  'gradient'?: (_qstep_v1_TensorChunk | null);
  'commit'?: (_qstep_v1_StepCommit | null);
  'headerMore'?: (_qstep_v1_StepHeaderMore | null);
  'kind'?: "header"|"gradient"|"commit"|"headerMore";
}

export interface StepRequest__Output {
  'header'?: (_qstep_v1_StepHeader__Output | null);
  'gradient'?: (_qstep_v1_TensorChunk__Output | null);
  'commit'?: (_qstep_v1_StepCommit__Output | null);
  'headerMore'?: (_qstep_v1_StepHeaderMore__Output | null);
  'kind'?: "header"|"gradient"|"commit"|"headerMore";
}
