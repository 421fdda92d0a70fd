// The engine: parameters and their optimizer state on a backend (CPU thread pool or CUDA device), stepped
// through Promises so that kernel work never blocks the event loop. Validates everything before the addon sees
// it (house style 11); the addon re-checks memory safety.

import { tmpdir } from 'node:os';
import { constants } from './constants';
import { dtypeCode } from './dtypes';
import { optimizerRow } from './optimizers';
import { DTYPE_BYTES, STATE_MODES } from './vocab';
import { GradientBuffer, holdForStep } from './gradient-buffer';
import { checkKeys, isOptimizerName, resolveHyper, resolveLayout } from './config';
import { EngineError, invalid, wrapAsync, wrapSync } from './errors';
import { binding } from './loader';
import type { BackendHandle, NativeHyper, NativeTensor, ParamHandle } from './native';
import type {
  BackendName,
  DType,
  Hyperparameters,
  LayoutConfig,
  MemoryInfo,
  NonFinitePolicy,
  OptimizerConfig,
  OptimizerName,
  ParamOverride,
  StateMode,
  StateSnapshot,
  StepOutcome,
} from './types';

/** One parameter's gradient for Engine.step. */
export interface StepItem<P> {
  param: P;
  /**
   * Raw little-endian gradient bytes of `gradDtype`, exactly numel elements, or a GradientBuffer of numel elements
   * (checked for NaN/Inf as it was written, so the step need not check it again). Converted to the parameter dtype.
   */
  grad: Buffer | GradientBuffer;
  /** Required for a Buffer; a GradientBuffer carries its own (if given, it must agree). */
  gradDtype?: DType;
  /** Per-step changes (e.g. a scheduler's lr) laid over the model config and the parameter's override. */
  hyper?: Partial<Hyperparameters>;
}

/** The addon's code for the kernel family that runs `name` (the optimizer table's `op`, checked at load). */
function opKindOf(name: OptimizerName): number {
  return constants.opKinds[optimizerRow(name).op];
}

export interface EngineOptions {
  backend?: BackendName | 'auto';
  /** CPU worker threads; default: the machine's cores (QSTEP_THREADS overrides). */
  threads?: number;
  /** CUDA device ordinal. */
  device?: number;
  /** Directory for paged state files (CPU backend); default: the OS temp dir. */
  pagedDir?: string;
  /**
   * CPU backend: resident bytes a parameter's paged state may keep after a step; beyond it the state is written
   * back to its file and dropped from RAM, so state larger than RAM works. 0 (default): the page cache decides.
   */
  pagedBudgetBytes?: number;
  /** Called once when 'auto' falls back to the CPU. */
  onFallback?: (reason: string) => void;
}

export interface ParamSpec {
  name: string;
  shape: number[];
  dtype: DType;
  config: OptimizerConfig;
  override?: ParamOverride;
}

function numelOf(name: string, shape: unknown): number {
  if (!Array.isArray(shape) || shape.length > constants.maxDims) {
    throw invalid(`${name}.shape`, `an array of at most ${constants.maxDims} dims`, shape);
  }
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 1) throw invalid(`${name}.shape`, 'positive integer dims', shape);
    n *= d;
  }
  if (n > constants.maxElements) throw invalid(`${name}.shape`, `at most ${constants.maxElements} elements`, n);
  return n;
}

function nativeHyper(h: Hyperparameters, layout: LayoutConfig): NativeHyper {
  return {
    lr: h.lr,
    // The kernels read the betas by position; an optimizer with fewer betas leaves the rest unused (0).
    beta1: h.betas[0] ?? 0,
    beta2: h.betas[1] ?? 0,
    beta3: h.betas[2] ?? 0,
    alpha: h.alpha,
    eps: h.eps,
    weightDecay: h.weightDecay,
    tAlpha: h.tAlpha,
    tBeta3: h.tBeta3,
    skipZeros: h.skipZeros,
    zeroVGuard: h.zeroVGuard,
    maxUnorm: layout.maxUnorm,
  };
}

/** State mode names by the addon's code (vocab.ts names them; constants.ts checked the codes at load). */
const MODE_NAMES: StateMode[] = [];
for (const m of STATE_MODES) MODE_NAMES[constants.stateModes[m]] = m;

/** One parameter's values and optimizer state on the engine's backend. */
export class Param {
  readonly name: string;
  readonly shape: number[];
  readonly numel: number;
  readonly dtype: DType;
  readonly config: OptimizerConfig;
  readonly override: ParamOverride | undefined;
  /** Layout frozen at creation (docs/math.md §3.2): mode, block size, clipping, max_unorm, paging. */
  readonly layout: LayoutConfig & { mode: StateMode };
  private handle: ParamHandle | null;

  /** @internal use Engine.createParam */
  constructor(handle: ParamHandle, spec: ParamSpec, numel: number, layout: LayoutConfig & { mode: StateMode }) {
    this.handle = handle;
    this.name = spec.name;
    this.shape = [...spec.shape];
    this.numel = numel;
    this.dtype = spec.dtype;
    this.config = spec.config;
    this.override = spec.override;
    this.layout = layout;
  }

  get optimizer(): OptimizerName {
    return this.config.name;
  }

  get mode(): StateMode {
    return this.layout.mode;
  }

  get freed(): boolean {
    return this.handle === null;
  }

  /** @internal */
  nativeHandle(): ParamHandle {
    if (!this.handle) throw new EngineError('FREED', `parameter ${this.name} was freed`);
    return this.handle;
  }

  /** The step counter (number of applied updates). */
  get step(): number {
    return wrapSync(() => binding.paramStep(this.nativeHandle()));
  }

  /** Hyperparameters for a step: config < override < perStep, validated. */
  hyper(perStep?: Partial<Hyperparameters>): Hyperparameters {
    return resolveHyper(this.config, this.override, perStep);
  }

  private checkRange(offset: number, count: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > this.numel) {
      throw invalid('offset', `an integer in [0, ${this.numel}]`, offset);
    }
    if (!Number.isSafeInteger(count) || count < 0 || offset + count > this.numel) {
      throw invalid('count', `an integer with offset + count <= ${this.numel}`, count);
    }
  }

  /** Writes `data` (elements of `dtype`, converted to the parameter dtype) at element `offset`. */
  async write(offset: number, data: Buffer, dtype: DType = this.dtype): Promise<void> {
    const code = dtypeCode(dtype);
    if (!Buffer.isBuffer(data)) throw invalid('data', 'a Buffer', typeof data);
    const width = DTYPE_BYTES[dtype];
    if (data.length % width !== 0) throw invalid('data.length', `a multiple of ${width} (${dtype})`, data.length);
    this.checkRange(offset, data.length / width);
    const h = this.nativeHandle();
    return wrapAsync(() => binding.paramWrite(h, offset, data, code));
  }

  /** Reads `count` elements from `offset` as `dtype` (rounded to nearest even when narrowing). */
  async read(offset = 0, count = this.numel - offset, dtype: DType = this.dtype): Promise<Buffer> {
    const code = dtypeCode(dtype);
    this.checkRange(offset, count);
    const h = this.nativeHandle();
    return wrapAsync(() => binding.paramRead(h, offset, count, code));
  }

  /**
   * Like read(), into `dst` at byte `dstOffset` (a buffer reused across calls allocates nothing). `dst` must not be
   * touched until the promise settles.
   */
  async readInto(
    dst: Buffer,
    dstOffset: number,
    offset = 0,
    count = this.numel - offset,
    dtype: DType = this.dtype,
  ): Promise<void> {
    const code = dtypeCode(dtype);
    if (!Buffer.isBuffer(dst)) throw invalid('dst', 'a Buffer', typeof dst);
    this.checkRange(offset, count);
    const bytes = count * DTYPE_BYTES[dtype];
    if (!Number.isSafeInteger(dstOffset) || dstOffset < 0 || dstOffset + bytes > dst.length) {
      throw invalid('dstOffset', `an integer with dstOffset + ${bytes} <= ${dst.length}`, dstOffset);
    }
    const h = this.nativeHandle();
    return wrapAsync(() => binding.paramReadInto(h, offset, count, code, dst, dstOffset));
  }

  memory(): MemoryInfo {
    return wrapSync(() => binding.paramMemory(this.nativeHandle()));
  }

  /** Every state tensor, raw, plus the step counter: restorable bit-exactly with importState. */
  async exportState(): Promise<StateSnapshot> {
    const h = this.nativeHandle();
    const s = await wrapAsync(() => binding.stateExport(h));
    const tensors: StateSnapshot['tensors'] = {};
    for (const t of s.tensors) tensors[t.name] = { dtype: t.dtype, shape: t.shape, data: t.data };
    return {
      optimizer: this.optimizer,
      mode: MODE_NAMES[s.mode],
      blockSize: s.blockSize,
      numel: s.numel,
      step: s.step,
      tensors,
    };
  }

  /** Loads state exported from a parameter of the same size, optimizer family, mode and block size (T12). */
  async importState(s: StateSnapshot): Promise<void> {
    if (!s || typeof s !== 'object') throw invalid('state', 'a state snapshot', s);
    if (!isOptimizerName(s.optimizer) || optimizerRow(s.optimizer).op !== optimizerRow(this.optimizer).op) {
      throw new EngineError(
        'STATE_MISMATCH',
        `state is for optimizer ${s.optimizer}, parameter ${this.name} uses ${this.optimizer}`,
      );
    }
    if (s.mode !== this.mode) {
      throw new EngineError('STATE_MISMATCH', `state mode ${s.mode} does not match ${this.mode} of ${this.name}`);
    }
    if (s.mode === 'blockwise8' && s.blockSize !== this.layout.blockSize) {
      throw new EngineError(
        'STATE_MISMATCH',
        `state block size ${s.blockSize} does not match ${this.layout.blockSize} of ${this.name}`,
      );
    }
    if (s.numel !== this.numel) {
      throw new EngineError('STATE_MISMATCH', `state has ${s.numel} elements, ${this.name} has ${this.numel}`);
    }
    if (!Number.isSafeInteger(s.step) || s.step < 0 || s.step > 2 ** 31 - 1) {
      throw invalid('state.step', 'an integer in [0, 2^31)', s.step);
    }
    const tensors: NativeTensor[] = Object.entries(s.tensors ?? {}).map(([name, t]) => {
      if (!t || !Buffer.isBuffer(t.data) || (t.dtype !== 'f32' && t.dtype !== 'u8') || !Array.isArray(t.shape)) {
        throw invalid(`state.tensors.${name}`, '{dtype: f32|u8, shape, data: Buffer}', t);
      }
      return { name, dtype: t.dtype, shape: t.shape, data: t.data };
    });
    const h = this.nativeHandle();
    return wrapAsync(() =>
      binding.stateImport(h, {
        opKind: opKindOf(this.optimizer),
        mode: constants.stateModes[this.mode],
        blockSize: s.blockSize,
        numel: s.numel,
        step: s.step,
        tensors,
      }),
    );
  }

  /**
   * Makes the parameter's memory real, contents kept: host pages faulted in (paged state: its file's blocks
   * reserved), so that no later write can fail for want of memory. Rejects OUT_OF_MEMORY if the host cannot give
   * it; the caller then frees the parameter. Runs on a worker thread.
   */
  async commit(): Promise<void> {
    const h = this.nativeHandle();
    return wrapAsync(() => binding.paramCommit(h));
  }

  /** Frees values and state. Calls already running finish first (the addon holds its own reference). */
  free(): void {
    if (!this.handle) return;
    const h = this.handle;
    this.handle = null;
    binding.paramFree(h);
  }
}

export class Engine {
  readonly backend: BackendName;
  readonly threads: number;
  private readonly handle: BackendHandle;
  private readonly pagedDir: string;

  private constructor(handle: BackendHandle, pagedDir: string) {
    this.handle = handle;
    const info = binding.backendInfo(handle);
    this.backend = info.kind;
    this.threads = info.threads;
    this.pagedDir = pagedDir;
  }

  static open(options: EngineOptions = {}): Engine {
    const want = options.backend ?? 'cpu';
    if (want !== 'cpu' && want !== 'cuda' && want !== 'auto') throw invalid('backend', 'cpu, cuda or auto', want);
    const envThreads = Number(process.env.QSTEP_THREADS ?? 0);
    const threads = options.threads ?? (Number.isInteger(envThreads) && envThreads > 0 ? envThreads : 0);
    if (!Number.isInteger(threads) || threads < 0 || threads > 1024) {
      throw invalid('threads', 'an integer in [0, 1024] (0 = one per core)', threads);
    }
    const device = options.device ?? 0;
    const pagedDir = options.pagedDir ?? tmpdir();
    if (typeof pagedDir !== 'string' || pagedDir.length === 0) throw invalid('pagedDir', 'a directory path', pagedDir);
    const pagedBudgetBytes = options.pagedBudgetBytes ?? 0;
    if (!Number.isSafeInteger(pagedBudgetBytes) || pagedBudgetBytes < 0) {
      throw invalid('pagedBudgetBytes', 'a non-negative integer', pagedBudgetBytes);
    }
    let kind: BackendName = want === 'auto' ? 'cuda' : want;
    if (kind === 'cuda') {
      const probe = binding.cudaProbe();
      if (!probe.ok) {
        if (want === 'cuda') throw new EngineError('NO_DEVICE', `no CUDA device: ${probe.message}`);
        options.onFallback?.(`no CUDA device (${probe.message}); using the CPU backend`);
        kind = 'cpu';
      }
    }
    return new Engine(
      wrapSync(() => binding.backendCreate(kind, { threads, device, pagedBudgetBytes })),
      pagedDir,
    );
  }

  /** Milliseconds per pass of an fp32-Adam-shaped memory sweep over `numel` elements (benchmark baseline). */
  async bandwidthProbe(numel: number, iters = 10): Promise<number> {
    if (!Number.isSafeInteger(numel) || numel < 1) throw invalid('numel', 'a positive integer', numel);
    if (!Number.isSafeInteger(iters) || iters < 1) throw invalid('iters', 'a positive integer', iters);
    return wrapAsync(() => binding.backendBandwidthProbe(this.handle, numel, iters));
  }

  /** Gives heap memory freed by deleted parameters back to the operating system (a worker thread's job). */
  async trim(): Promise<void> {
    return wrapAsync(() => binding.backendTrim(this.handle));
  }

  deviceInfo(): { name: string; totalBytes: number; freeBytes: number } | null {
    return binding.backendInfo(this.handle).device;
  }

  /** Allocates a parameter (values zero until written) with the layout its config and override decide. */
  createParam(spec: ParamSpec): Param {
    if (typeof spec?.name !== 'string' || spec.name.length === 0)
      throw invalid('name', 'a non-empty string', spec?.name);
    const numel = numelOf(spec.name, spec.shape);
    dtypeCode(spec.dtype);
    if (!spec.config || typeof spec.config !== 'object' || !isOptimizerName(spec.config.name)) {
      throw invalid('config.name', 'an optimizer name', spec.config?.name);
    }
    checkKeys('config', spec.config, true);
    if (spec.override !== undefined) {
      if (!spec.override || typeof spec.override !== 'object') throw invalid('override', 'an object', spec.override);
      checkKeys(`override[${spec.name}]`, spec.override, false);
    }
    const layout = resolveLayout(spec.config, spec.override, numel);
    resolveHyper(spec.config, spec.override); // reject bad hyperparameters at creation, not at the first step
    const handle = wrapSync(() =>
      binding.paramCreate(this.handle, {
        numel,
        dtype: dtypeCode(spec.dtype),
        opKind: opKindOf(spec.config.name),
        mode: constants.stateModes[layout.mode],
        blockSize: layout.blockSize,
        trustRatio: layout.maxUnorm > 0,
        percentile: layout.percentileClipping,
        paged: layout.paged && numel >= constants.pagedMinElements,
        pagedDir: this.pagedDir,
      }),
    );
    return new Param(handle, spec, numel, layout);
  }

  /**
   * One optimizer step over several parameters, atomically with respect to non-finite gradients (docs/math.md D4): every
   * gradient is checked first; under 'skip' a non-finite one makes the whole step a no-op, under 'error' it
   * rejects with NON_FINITE. Each parameter appears at most once. A gradient given as a GradientBuffer was checked
   * as it was written, so the step skips its own check pass for it; the buffer refuses writes until the step ends.
   */
  async step(items: StepItem<Param>[], policy: NonFinitePolicy = 'skip'): Promise<StepOutcome> {
    if (!Array.isArray(items)) throw invalid('items', 'an array', items);
    if (policy !== 'skip' && policy !== 'error') throw invalid('policy', 'skip or error', policy);
    const seen = new Set<Param>();
    const checked = items.map((it, i) => {
      if (!(it.param instanceof Param)) throw invalid(`items[${i}].param`, 'a Param', it.param);
      if (seen.has(it.param)) throw invalid(`items[${i}].param`, 'each parameter once per step', it.param.name);
      seen.add(it.param);
      if (it.hyper !== undefined) checkKeys(`items[${i}].hyper`, it.hyper, false);
      const hyper = nativeHyper(it.param.hyper(it.hyper), it.param.layout);
      if (it.grad instanceof GradientBuffer) {
        if (it.gradDtype !== undefined && it.gradDtype !== it.grad.dtype) {
          throw invalid(`items[${i}].gradDtype`, `the GradientBuffer's dtype ${it.grad.dtype}`, it.gradDtype);
        }
        if (it.grad.numel !== it.param.numel) {
          throw invalid(
            `grad of ${it.param.name}`,
            `${it.param.numel} elements`,
            `a GradientBuffer of ${it.grad.numel}`,
          );
        }
        return { param: it.param, grad: it.grad, dtype: it.grad.dtype, hyper };
      }
      if (!Buffer.isBuffer(it.grad)) throw invalid(`items[${i}].grad`, 'a Buffer or a GradientBuffer', typeof it.grad);
      if (it.gradDtype === undefined) throw invalid(`items[${i}].gradDtype`, 'a dtype', it.gradDtype);
      dtypeCode(it.gradDtype);
      const want = it.param.numel * DTYPE_BYTES[it.gradDtype];
      if (it.grad.length !== want) {
        throw invalid(
          `grad of ${it.param.name}`,
          `${want} bytes (${it.param.numel} x ${it.gradDtype})`,
          `${it.grad.length} bytes`,
        );
      }
      return { param: it.param, grad: it.grad, dtype: it.gradDtype, hyper };
    });
    // Everything is valid: hold the staged buffers against writes while the step reads them.
    const holds = checked.map((c) => (c.grad instanceof GradientBuffer ? holdForStep(c.grad) : null));
    try {
      const native = checked.map((c, i) => ({
        param: c.param.nativeHandle(),
        grad: holds[i]?.bytes ?? (c.grad as Buffer),
        gradDtype: dtypeCode(c.dtype),
        gradFinite: holds[i]?.finite ?? false,
        hyper: c.hyper,
      }));
      return await wrapAsync(() => binding.stepMany(this.handle, native, policy === 'error'));
    } finally {
      for (const h of holds) h?.release();
    }
  }
}
