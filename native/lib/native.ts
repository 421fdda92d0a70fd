// The whole native ABI in one place (house style 10): what addon.cc exports, with opaque handles.
// Only engine.ts, quantize.ts, constants.ts and loader.ts call these; everyone else goes through them.

import type { MemoryInfo } from './types';

declare const backendBrand: unique symbol;
declare const paramBrand: unique symbol;
/** A CPU thread pool or a CUDA device context. */
export type BackendHandle = { readonly [backendBrand]: true };
/** One parameter: its values and its optimizer state, resident on a backend. */
export type ParamHandle = { readonly [paramBrand]: true };

/** dtype codes: 0 fp32, 1 fp16, 2 bf16 (native/include/qstep/types.h). */
export type DTypeCode = 0 | 1 | 2;

/** A form of the CPU backend's 8-bit block loops: AVX2 (the build's baseline) or AVX-512 (chosen at run time). */
export type CpuIsa = 'avx2' | 'avx512';

export interface NativeConstants {
  dtypes: Record<string, number>;
  stateModes: Record<string, number>;
  /** Kernel families by the name each Op header exports (`kName`), with their codes. */
  opKinds: Record<string, number>;
  /** The traits of each Op header (native/kernels/*.h), keyed like opKinds; checked against optimizers.ts. */
  opTraits: Record<string, { streams: number; rows1: number; trust: boolean; schedules: boolean; zeroVGuard: boolean }>;
  mapSize: number;
  /** The forms of the CPU 8-bit block loops: the one in use and those this CPU can run. */
  cpuIsa: { default: CpuIsa; available: CpuIsa[] };
  defaultBlockSize: number;
  compatBlockSize: number;
  optimizerBlockSizes: number[];
  quantizeBlockSizes: number[];
  defaultMin8bitSize: number;
  pagedMinElements: number;
  percentileHistory: number;
  maxDims: number;
  maxElements: number;
}

export interface NativeParamSpec {
  numel: number;
  dtype: DTypeCode;
  opKind: number;
  mode: number;
  blockSize: number;
  trustRatio: boolean;
  percentile: number; // 100 = off
  paged: boolean;
  pagedDir: string;
}

export interface NativeHyper {
  lr: number;
  beta1: number;
  beta2: number;
  beta3: number;
  alpha: number;
  eps: number;
  weightDecay: number;
  tAlpha: number;
  tBeta3: number;
  skipZeros: boolean;
  zeroVGuard: boolean;
  maxUnorm: number;
}

export interface NativeStepItem {
  param: ParamHandle;
  grad: Buffer;
  gradDtype: DTypeCode;
  /** Every element was checked finite when it was staged (GradientBuffer): the backend skips its check pass. */
  gradFinite: boolean;
  hyper: NativeHyper;
}

export interface NativeStepOutcome {
  skipped: boolean;
  nonFinite: number[];
  results: { step: number; gnormScale: number; updateScale: number }[];
}

export interface NativeTensor {
  name: string;
  dtype: 'f32' | 'u8';
  shape: number[];
  data: Buffer;
}

export interface NativeState {
  opKind: number;
  mode: number;
  blockSize: number;
  numel: number;
  step: number;
  tensors: NativeTensor[];
}

/** The addon answers paramMemory with exactly the public MemoryInfo shape. */
export type NativeMemory = MemoryInfo;

export interface NativeDeviceInfo {
  name: string;
  totalBytes: number;
  freeBytes: number;
}

export interface NativeBinding {
  version: string;
  cudaBuilt: boolean;
  constants: NativeConstants;
  qmap(signed: boolean): Float32Array;
  /** Nearest-code rule (docs/math.md §5.1), optionally followed by the sign fix (5.2). Synchronous: for small inputs. */
  nearestCodes(values: Float32Array, signed: boolean, signFix: boolean): Uint8Array;
  quantizeStates(values: Float32Array, scale: number, signed: boolean, isa?: CpuIsa): Uint8Array;
  decodeStates(codes: Uint8Array, scale: number, signed: boolean, isa?: CpuIsa): Float32Array;
  quantizeBlockwise(
    input: Buffer,
    dtype: DTypeCode,
    blockSize: number,
    code: Float32Array,
  ): Promise<{ codes: Buffer; absmax: Float32Array }>;
  dequantizeBlockwise(
    codes: Buffer,
    absmax: Float32Array,
    blockSize: number,
    outDtype: DTypeCode,
    code: Float32Array,
  ): Promise<Buffer>;
  backendCreate(
    kind: 'cpu' | 'cuda',
    options: { threads: number; device: number; pagedBudgetBytes?: number },
  ): BackendHandle;
  backendInfo(b: BackendHandle): { kind: 'cpu' | 'cuda'; threads: number; device: NativeDeviceInfo | null };
  cudaProbe(): { ok: boolean; count: number; message: string };
  /** Benchmark baseline: ms per pass of Adam's memory traffic (read 4 x n floats, write 3 x n). */
  backendBandwidthProbe(b: BackendHandle, numel: number, iters: number): Promise<number>;
  paramCreate(b: BackendHandle, spec: NativeParamSpec): ParamHandle;
  paramWrite(p: ParamHandle, offset: number, data: Buffer, dtype: DTypeCode): Promise<void>;
  paramRead(p: ParamHandle, offset: number, count: number, dtype: DTypeCode): Promise<Buffer>;
  paramReadInto(
    p: ParamHandle,
    offset: number,
    count: number,
    dtype: DTypeCode,
    dst: Buffer,
    dstByteOffset: number,
  ): Promise<void>;
  paramStep(p: ParamHandle): number;
  paramMemory(p: ParamHandle): NativeMemory;
  paramFree(p: ParamHandle): void;
  /** Faults in (or reserves on disk) every buffer of the parameter, contents kept; OUT_OF_MEMORY if it cannot. */
  paramCommit(p: ParamHandle): Promise<void>;
  /** Returns freed heap memory to the OS. */
  backendTrim(b: BackendHandle): Promise<void>;
  /** glibc's M_TRIM_THRESHOLD for the process; false where the C library is not glibc. */
  setHeapTrimThreshold(bytes: number): boolean;
  /** Copies src into dst at a byte offset; false if src held NaN or Inf. */
  gradCopyChecked(dst: Buffer, dstByteOffset: number, src: Buffer, dtype: DTypeCode): boolean;
  stepMany(b: BackendHandle, items: NativeStepItem[], errorOnNonFinite: boolean): Promise<NativeStepOutcome>;
  stateExport(p: ParamHandle): Promise<NativeState>;
  stateImport(p: ParamHandle, state: NativeState): Promise<void>;
}
