// Original file: proto/qstep/v1/common.proto

export const ElementType = {
  ELEMENT_TYPE_UNSPECIFIED: 'ELEMENT_TYPE_UNSPECIFIED',
  ELEMENT_TYPE_F32: 'ELEMENT_TYPE_F32',
  ELEMENT_TYPE_F16: 'ELEMENT_TYPE_F16',
  ELEMENT_TYPE_BF16: 'ELEMENT_TYPE_BF16',
  ELEMENT_TYPE_U8: 'ELEMENT_TYPE_U8',
} as const;

export type ElementType =
  | 'ELEMENT_TYPE_UNSPECIFIED'
  | 0
  | 'ELEMENT_TYPE_F32'
  | 1
  | 'ELEMENT_TYPE_F16'
  | 2
  | 'ELEMENT_TYPE_BF16'
  | 3
  | 'ELEMENT_TYPE_U8'
  | 4

export type ElementType__Output = typeof ElementType[keyof typeof ElementType]
