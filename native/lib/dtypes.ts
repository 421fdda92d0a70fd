// The addon's codes for the element dtypes (names and widths live in vocab.ts, which needs no addon).

import { constants } from './constants';
import { invalid } from './errors';
import type { DTypeCode } from './native';
import type { DType } from './types';

export { DTYPE_BYTES, isDType } from './vocab';

export function dtypeCode(d: DType): DTypeCode {
  const c = constants.dtypes[d];
  if (c === undefined) throw invalid('dtype', 'fp32, fp16 or bf16', d);
  return c as DTypeCode;
}
