// Original file: proto/qstep/v1/snapshot.proto

import type { TensorRole as _qstep_v1_TensorRole, TensorRole__Output as _qstep_v1_TensorRole__Output } from '../../qstep/v1/TensorRole';
import type { ElementType as _qstep_v1_ElementType, ElementType__Output as _qstep_v1_ElementType__Output } from '../../qstep/v1/ElementType';
import type { Long } from '@grpc/proto-loader';

export interface TensorDescriptor {
  'name'?: (string);
  'param'?: (string);
  'role'?: (_qstep_v1_TensorRole);
  'stateKey'?: (string);
  'elementType'?: (_qstep_v1_ElementType);
  'shape'?: (number | string | Long)[];
  'byteLength'?: (number | string | Long);
}

export interface TensorDescriptor__Output {
  'name': (string);
  'param': (string);
  'role': (_qstep_v1_TensorRole__Output);
  'stateKey': (string);
  'elementType': (_qstep_v1_ElementType__Output);
  'shape': (number)[];
  'byteLength': (number);
}
