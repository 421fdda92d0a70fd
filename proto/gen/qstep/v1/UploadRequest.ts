// Original file: proto/qstep/v1/model.proto

import type { UploadHeader as _qstep_v1_UploadHeader, UploadHeader__Output as _qstep_v1_UploadHeader__Output } from '../../qstep/v1/UploadHeader';
import type { TensorChunk as _qstep_v1_TensorChunk, TensorChunk__Output as _qstep_v1_TensorChunk__Output } from '../../qstep/v1/TensorChunk';

export interface UploadRequest {
  'header'?: (_qstep_v1_UploadHeader | null);
  'chunk'?: (_qstep_v1_TensorChunk | null);
  'kind'?: "header"|"chunk";
}

export interface UploadRequest__Output {
  'header'?: (_qstep_v1_UploadHeader__Output | null);
  'chunk'?: (_qstep_v1_TensorChunk__Output | null);
  'kind'?: "header"|"chunk";
}
