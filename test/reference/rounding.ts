// The 16-bit rounding points of docs/math.md §10 as a `Rounding` for the reference, per parameter dtype and state mode:
//   fp32 state:  the scaled gradient and the decayed gradient are stored back to T; the parameter is rounded after
//                the update and again after the decoupled decay;
//   8-bit state: the gradient stays fp32; the parameter is rounded as above; Lion's lr*sign(...) is stored in T.
// For fp32 parameters everything stays float64: the reference is then a plain float64 computation.
import type { DType, StateMode } from '../../native/lib/types';
import { rounder } from '../helpers/dtype';
import { EXACT, type Rounding } from './optimizers';

export function roundingFor(dtype: DType, mode: StateMode): Rounding {
  if (dtype === 'fp32') return EXACT;
  const toT = rounder(dtype);
  const identity = (x: number): number => x;
  return mode === 'fp32'
    ? { grad: toT, param: toT, lionStep: identity }
    : { grad: identity, param: toT, lionStep: toT };
}
