// Original file: proto/qstep/v1/common.proto

export const StateMode = {
  STATE_MODE_UNSPECIFIED: 'STATE_MODE_UNSPECIFIED',
  STATE_MODE_FP32: 'STATE_MODE_FP32',
  STATE_MODE_BLOCKWISE8: 'STATE_MODE_BLOCKWISE8',
  STATE_MODE_STATIC8: 'STATE_MODE_STATIC8',
} as const;

export type StateMode =
  | 'STATE_MODE_UNSPECIFIED'
  | 0
  | 'STATE_MODE_FP32'
  | 1
  | 'STATE_MODE_BLOCKWISE8'
  | 2
  | 'STATE_MODE_STATIC8'
  | 3

export type StateMode__Output = typeof StateMode[keyof typeof StateMode]
