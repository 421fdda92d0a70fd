// Original file: proto/qstep/v1/common.proto

export const DType = {
  DTYPE_UNSPECIFIED: 'DTYPE_UNSPECIFIED',
  DTYPE_FP32: 'DTYPE_FP32',
  DTYPE_FP16: 'DTYPE_FP16',
  DTYPE_BF16: 'DTYPE_BF16',
} as const;

export type DType =
  | 'DTYPE_UNSPECIFIED'
  | 0
  | 'DTYPE_FP32'
  | 1
  | 'DTYPE_FP16'
  | 2
  | 'DTYPE_BF16'
  | 3

export type DType__Output = typeof DType[keyof typeof DType]
