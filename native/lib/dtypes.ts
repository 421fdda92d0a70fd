// Element dtypes: their widths and the addon's codes for them.

import { constants } from './constants';
import { invalid } from './errors';
import type { DTypeCode } from './native';
import type { DType } from './types';

export const DTYPE_BYTES: Record<DType, number> = { fp32: 4, fp16: 2, bf16: 2 };

export function dtypeCode(d: DType): DTypeCode {
  const c = constants.dtypes[d];
  if (c === undefined) throw invalid('dtype', 'fp32, fp16 or bf16', d);
  return c as DTypeCode;
}

export function isDType(x: unknown): x is DType {
  return x === 'fp32' || x === 'fp16' || x === 'bf16';
}
