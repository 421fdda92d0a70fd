// Original file: proto/qstep/v1/checkpoint.proto


export interface CheckpointRequest {
  'model'?: (string);
}

export interface CheckpointRequest__Output {
  'model': (string);
}
