// Original file: proto/qstep/v1/model.proto


export interface UploadHeader {
  'model'?: (string);
}

export interface UploadHeader__Output {
  'model': (string);
}
