// Original file: proto/qstep/v1/snapshot.proto

export const TensorRole = {
  TENSOR_ROLE_UNSPECIFIED: 'TENSOR_ROLE_UNSPECIFIED',
  TENSOR_ROLE_WEIGHTS: 'TENSOR_ROLE_WEIGHTS',
  TENSOR_ROLE_STATE: 'TENSOR_ROLE_STATE',
} as const;

export type TensorRole =
  | 'TENSOR_ROLE_UNSPECIFIED'
  | 0
  | 'TENSOR_ROLE_WEIGHTS'
  | 1
  | 'TENSOR_ROLE_STATE'
  | 2

export type TensorRole__Output = typeof TensorRole[keyof typeof TensorRole]
