// Original file: proto/qstep/v1/model.proto


export interface DeleteModelRequest {
  'name'?: (string);
}

export interface DeleteModelRequest__Output {
  'name': (string);
}
