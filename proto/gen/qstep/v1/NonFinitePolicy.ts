// Original file: proto/qstep/v1/common.proto

export const NonFinitePolicy = {
  NON_FINITE_POLICY_UNSPECIFIED: 'NON_FINITE_POLICY_UNSPECIFIED',
  NON_FINITE_POLICY_SKIP: 'NON_FINITE_POLICY_SKIP',
  NON_FINITE_POLICY_ERROR: 'NON_FINITE_POLICY_ERROR',
} as const;

export type NonFinitePolicy =
  | 'NON_FINITE_POLICY_UNSPECIFIED'
  | 0
  | 'NON_FINITE_POLICY_SKIP'
  | 1
  | 'NON_FINITE_POLICY_ERROR'
  | 2

export type NonFinitePolicy__Output = typeof NonFinitePolicy[keyof typeof NonFinitePolicy]
