// Standalone quantization primitives (docs/math.md §4, 5): the two dynamic maps, the nearest-code rule and blockwise
// quantize/dequantize. Validated here; the arithmetic is in native/formats/.
import { checkCpuIsa, constants } from './constants';
import { DTYPE_BYTES, dtypeCode } from './dtypes';
import { invalid, wrapAsync, wrapSync } from './errors';
import { binding } from './loader';
import type { CpuIsa } from './native';
import type { DType } from './types';

/** The 256-entry dynamic map (Appendix A): signed (qmap1) or unsigned (qmap2). A fresh copy. */
export function qmap(signed: boolean): Float32Array {
  return new Float32Array(binding.qmap(signed));
}

/** Nearest code of each value in the signed or unsigned map (docs/math.md §5.1), with the sign fix (5.2) if asked. */
export function nearestCodes(values: Float32Array, signed: boolean, signFix = false): Uint8Array {
  if (!(values instanceof Float32Array)) throw invalid('values', 'a Float32Array', typeof values);
  return wrapSync(() => binding.nearestCodes(values, signed, signFix));
}

/** The arguments quantizeStates and decodeStates share after their block. */
function checkStateArgs(scale: number, signed: boolean, isa: CpuIsa | undefined): void {
  if (typeof scale !== 'number') throw invalid('scale', 'a number', typeof scale);
  if (typeof signed !== 'boolean') throw invalid('signed', 'a boolean', signed);
  if (isa !== undefined) checkCpuIsa('isa', isa);
}

/**
 * The bytes an 8-bit state stores for `values` against one block scale (docs/math.md §7.2 step 5 as qstep decides it:
 * x = s * f32(1/scale), nearest code, and the sign fix when `signed`), computed by the CPU backend's block encoder:
 * the form the engine uses, or the one named by `isa`.
 */
export function quantizeStates(values: Float32Array, scale: number, signed: boolean, isa?: CpuIsa): Uint8Array {
  if (!(values instanceof Float32Array)) throw invalid('values', 'a Float32Array', typeof values);
  checkStateArgs(scale, signed, isa);
  return wrapSync(() => binding.quantizeStates(values, scale, signed, isa));
}

/** code[q] * scale for each code of a block (docs/math.md §7.1), through the CPU backend's block decoder. */
export function decodeStates(codes: Uint8Array, scale: number, signed: boolean, isa?: CpuIsa): Float32Array {
  if (!(codes instanceof Uint8Array)) throw invalid('codes', 'a Uint8Array', typeof codes);
  checkStateArgs(scale, signed, isa);
  return wrapSync(() => binding.decodeStates(codes, scale, signed, isa));
}

function checkCode(code: Float32Array): void {
  if (!(code instanceof Float32Array) || code.length !== constants.mapSize) {
    throw invalid('code', `a Float32Array of ${constants.mapSize} sorted values`, code?.length);
  }
}

function checkBlock(blockSize: number): void {
  if (!constants.quantizeBlockSizes.includes(blockSize)) {
    throw invalid('blockSize', constants.quantizeBlockSizes.join(', '), blockSize);
  }
}

/** Blockwise quantization (docs/math.md §5.3): one absmax per block, codes from `code` (default: the signed map). */
export async function quantizeBlockwise(
  input: Buffer,
  dtype: DType,
  blockSize = 4096,
  code: Float32Array = qmap(true),
): Promise<{ codes: Buffer; absmax: Float32Array }> {
  const c = dtypeCode(dtype);
  if (!Buffer.isBuffer(input) || input.length % DTYPE_BYTES[dtype] !== 0) {
    throw invalid('input', `a Buffer of whole ${dtype} elements`, input?.length);
  }
  checkBlock(blockSize);
  checkCode(code);
  return wrapAsync(() => binding.quantizeBlockwise(input, c, blockSize, code));
}

/** Inverse of quantizeBlockwise: out_i = code[q_i] * absmax[i / blockSize], as `outDtype`. */
export async function dequantizeBlockwise(
  codes: Buffer,
  absmax: Float32Array,
  blockSize: number,
  outDtype: DType,
  code: Float32Array = qmap(true),
): Promise<Buffer> {
  const c = dtypeCode(outDtype);
  checkBlock(blockSize);
  checkCode(code);
  if (!Buffer.isBuffer(codes)) throw invalid('codes', 'a Buffer', typeof codes);
  const blocks = Math.ceil(codes.length / blockSize);
  if (!(absmax instanceof Float32Array) || absmax.length !== blocks) {
    throw invalid('absmax', `a Float32Array of ${blocks} block scales`, absmax?.length);
  }
  return wrapAsync(() => binding.dequantizeBlockwise(codes, absmax, blockSize, c, code));
}
