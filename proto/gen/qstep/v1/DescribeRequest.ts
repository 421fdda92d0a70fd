// Original file: proto/qstep/v1/model.proto


export interface DescribeRequest {
  'model'?: (string);
  'pageSize'?: (number);
  'pageToken'?: (string);
}

export interface DescribeRequest__Output {
  'model': (string);
  'pageSize': (number);
  'pageToken': (string);
}
