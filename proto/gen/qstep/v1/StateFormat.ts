// Original file: proto/qstep/v1/snapshot.proto

export const StateFormat = {
  STATE_FORMAT_UNSPECIFIED: 'STATE_FORMAT_UNSPECIFIED',
  STATE_FORMAT_NONE: 'STATE_FORMAT_NONE',
  STATE_FORMAT_RAW: 'STATE_FORMAT_RAW',
  STATE_FORMAT_DEQUANTIZED: 'STATE_FORMAT_DEQUANTIZED',
} as const;

export type StateFormat =
  | 'STATE_FORMAT_UNSPECIFIED'
  | 0
  | 'STATE_FORMAT_NONE'
  | 1
  | 'STATE_FORMAT_RAW'
  | 2
  | 'STATE_FORMAT_DEQUANTIZED'
  | 3

export type StateFormat__Output = typeof StateFormat[keyof typeof StateFormat]
