// The section 16 protocol: the engine and the float64 reference run side by side on the same fresh random
// inputs, compared after every step, with save/load round trips mid-run.
//   fp32 state (16.1):  states within (atol, rtol) of the dtype with no error budget; parameters at most 15
//                       errors; 16-bit parameters: the reference takes the engine's rounded values each step.
//   8-bit state (16.2 for blockwise 256, 16.3 for 2048 and static): the reference is re-synchronized every step to
//                       the engine's parameters and dequantized states, so each comparison measures one step:
//                       dequantized states within atol 3e-3, rtol 1e-3 with fewer than 20 mismatches; parameter
//                       mean errors (and for 16.3 at most 5 errors with patol/prtol).
// Beyond section 16, because under re-synchronization the engine's new state differs from the reference's only
// by fp32 rounding, the 8-bit checks also require: each scale equals the exact max |new state| of its block
// (rtol 1e-5), every code is the reference's nearest code (5.1 + 5.2 for state1) of the reference value against
// the engine's scale, except at most a handful differing by one index where fp32 rounding lands across a
// boundary, and the parameters meet the 16.1 tolerances of their dtype (max 15 errors). Save/load: exported
// tensors bit-identical after export -> new parameter -> import -> export.
import type {
  DType,
  Engine,
  Hyperparameters,
  OptimizerConfig,
  Param,
  ParamOverride,
  ParamStepResult,
  StateSnapshot,
  StepItem,
} from '../../native/lib';
import { assertBytesEqual, assertClose, check, checkScalar, closeStats, meanErrors } from '../helpers/compare';
import { decode, encode, roundArray, u8Array } from '../helpers/dtype';
import { rngFor, type Rng } from '../helpers/random';
import {
  newRefState,
  refStep,
  roundingFor,
  stateQuantizer,
  type RefHyper,
  type RefState,
  type Rounding,
} from '../reference';
import { checkMaps, decodeStates, type DecodedState } from './engine-state';
import { DEFAULT_GRAD, infoOf, SPEC_DEFAULTS, type GradSpec, type ModeSpec } from './registry';

/** docs/math.md §16.1 (atol, rtol) per dtype. */
export const TOL_32BIT: Record<DType, [number, number]> = {
  fp32: [1e-6, 1e-5],
  fp16: [1e-4, 1e-3],
  bf16: [1e-3, 1e-2],
};
/** docs/math.md §16.2/16.3 parameter (patol, prtol) per dtype. */
export const TOL_8BIT_PARAM: Record<DType, [number, number]> = {
  fp32: [1e-5, 1e-3],
  fp16: [1e-5, 1e-3],
  bf16: [1e-4, 1e-2],
};

/** docs/math.md §16.2 and 16.3 mean parameter error limits (abs, rel; rel uses |p_ref| + 1e-9). */
function meanLimits(criteria: ModeSpec['criteria'], dtype: DType, optimizer: string): [number, number] {
  if (criteria === '16.2') {
    if (dtype === 'bf16') return [1.7e-4, 1.6e-3];
    return [6e-5, optimizer === 'lion' && dtype === 'fp16' ? 6.2e-4 : 6e-4];
  }
  return dtype === 'bf16' ? [1.5e-4, 1.6e-3] : [1.2e-4, 1.2e-3];
}

/**
 * Re-synchronizes a reference state to the engine's dequantized one (docs/math.md §16.2). A decoded -0.0 (fresh state:
 * qmap[0] * 0, docs/math.md §3.3 / T13) is the zero state value it stands for: the initial bytes are "harmless because the
 * block scale starts at 0", so an element that keeps its state (skip_zeros, D5) keeps 0 and must still decode to
 * 0, not to the sign-fixed -5.5e-7 * scale of a negative value.
 */
function resync(ref: Float64Array, values: Float64Array): void {
  for (let j = 0; j < ref.length; j++) ref[j] = values[j] === 0 ? 0 : values[j];
}

/** Codes allowed to differ by one index from the reference (fp32 vs float64 landing across a boundary). */
export function codeBudget(count: number): number {
  return 4 + Math.ceil(count * 2e-4);
}

/**
 * The reference's hyperparameters for a config (docs/math.md §2 defaults, then the config, then per-step changes).
 * The kernels receive lr, betas, eps, weight decay and alpha as fp32 (docs/math.md §0: all kernel arithmetic is binary32;
 * docs/math.md §12: host values are passed to the kernel as fp32), so the reference starts from the same fp32 inputs:
 * 1 - fp32(0.999) differs from 1 - 0.999 by 1.3e-5 relative, far more than the rounding the checks allow.
 */
export function refHyperOf(config: OptimizerConfig, perStep?: Partial<Hyperparameters>): RefHyper {
  const c = { ...config, ...perStep };
  const d = SPEC_DEFAULTS[config.name];
  const f = Math.fround;
  const betas = (c.betas ? [...c.betas, ...d.betas.slice(c.betas.length)] : [...d.betas]).map(f);
  // RMSprop's torch-style alpha is its betas[0] (docs/math.md §2).
  if (config.name === 'rmsprop' && c.alpha !== undefined && !c.betas?.length) betas[0] = f(c.alpha);
  const given = c.betas ? [...c.betas, ...d.betas.slice(c.betas.length)] : [...d.betas];
  return {
    // AdEMAMix's schedule runs in double on the values as given (docs/math.md §12), everything else on fp32.
    schedule: { betas: given, alpha: config.name === 'rmsprop' ? 0 : (c.alpha ?? d.alpha) },
    lr: f(c.lr ?? d.lr),
    betas,
    eps: f(c.eps ?? d.eps),
    weightDecay: f(c.weightDecay ?? d.weightDecay),
    alpha: config.name === 'rmsprop' ? 0 : f(c.alpha ?? d.alpha),
    tAlpha: c.tAlpha ?? 0,
    tBeta3: c.tBeta3 ?? 0,
    skipZeros: c.skipZeros ?? false,
    maxUnorm: c.maxUnorm ?? d.maxUnorm,
    percentile: c.percentileClipping ?? 100,
  };
}

export interface ProtocolRun {
  label: string;
  config: OptimizerConfig;
  mode: ModeSpec;
  dtype: DType;
  shape: number[];
  steps?: number;
  saveAt?: number[];
  grad?: GradSpec;
  /** Replaces the randn gradient (values are rounded to the dtype afterwards). */
  makeGrad?: (rng: Rng, n: number, t: number) => Float64Array;
  /** Per-step hyperparameter changes, given to the engine in the step item and to the reference. */
  perStep?: (t: number) => Partial<Hyperparameters> | undefined;
  /** Parameter override by name (docs/math.md §13, D10), passed to createParam. */
  override?: ParamOverride;
  /** Called after each checked step with the engine parameter and the reference (extra assertions). */
  afterStep?: (ctx: {
    t: number;
    param: Param;
    pEngine: Float64Array;
    ref: RefState;
    snap: StateSnapshot;
    res: ParamStepResult;
  }) => void;
}

export interface ProtocolStats {
  maxOffByOne: number;
  maxStateMismatch: number;
  maxParamErrors: number;
  worstMeanAbs: number;
  worstMeanRel: number;
}

function randomGrad(rng: Rng, n: number, t: number, g: GradSpec): Float64Array {
  return rng.randn(n, g.scale * (1 + (g.growth ?? 0) * (t - 1)));
}

/** 8-bit state checks beyond 16.2: scales are exact block maxima, codes are the reference's nearest codes. */
function checkQuantized(label: string, dec: DecodedState, ref: Float64Array, stats: ProtocolStats): void {
  const scales = dec.scales!;
  const group = dec.group!;
  const codes = dec.codes!;
  const maxRef = new Float64Array(scales.length);
  const members = new Int32Array(scales.length);
  for (let j = 0; j < ref.length; j++) {
    maxRef[group[j]] = Math.max(maxRef[group[j]], Math.abs(Math.fround(ref[j])));
    members[group[j]]++;
  }
  // A block maximum carries fp32 rounding of the terms that formed it (dequantized previous state, gradient, decay),
  // which are as large as the tensor's states: a few fp32 ulps of the tensor maximum absolutely. A populated block's
  // maximum is never heavily cancelled, so it also agrees to ~1e-7 relatively; a partial last block may hold a single
  // value whose recurrence nearly cancels, where only the absolute bound is meaningful.
  let tensorMax = 0;
  for (let b = 0; b < scales.length; b++) tensorMax = Math.max(tensorMax, maxRef[b]);
  const atol = 8 * 2 ** -24 * tensorMax;
  for (let b = 0; b < scales.length; b++) {
    const rtol = members[b] >= 32 ? 1e-5 : 1e-3;
    const d = Math.abs(scales[b] - maxRef[b]);
    check(
      d <= rtol * maxRef[b] + atol + 1e-30,
      `${label}: ${dec.name} scale[${b}] = ${scales[b]}, max |reference ` +
        `state| of its ${members[b]} elements = ${maxRef[b]} (diff ${d.toExponential(2)}, allowed ${rtol} relative + ` +
        `${atol.toExponential(2)} = 8 fp32 ulps of the tensor maximum ${tensorMax.toExponential(2)})`,
    );
  }
  let offByOne = 0;
  let first = -1;
  const quantize = stateQuantizer(dec.map, dec.signed);
  for (let j = 0; j < ref.length; j++) {
    const q = quantize(ref[j], scales[group[j]]);
    const d = Math.abs(q - codes[j]);
    if (d === 0) continue;
    check(
      d === 1,
      `${label}: ${dec.name} code[${j}] = ${codes[j]}, reference nearest code ${q} ` +
        `(state ${ref[j]}, scale ${scales[group[j]]})`,
    );
    offByOne++;
    if (first < 0) first = j;
  }
  const budget = codeBudget(ref.length);
  check(
    offByOne <= budget,
    `${label}: ${dec.name} ${offByOne} of ${ref.length} codes differ by one index from the ` +
      `reference's nearest code (allowed ${budget}); first [${first}]: code ${codes[first]} state ${ref[first]}`,
  );
  stats.maxOffByOne = Math.max(stats.maxOffByOne, offByOne);
}

function sameSnapshot(label: string, a: StateSnapshot, b: StateSnapshot): void {
  check(
    a.step === b.step && a.mode === b.mode && a.blockSize === b.blockSize && a.numel === b.numel,
    `${label}: reloaded header ${JSON.stringify([b.step, b.mode, b.blockSize, b.numel])} vs ` +
      `${JSON.stringify([a.step, a.mode, a.blockSize, a.numel])}`,
  );
  const ka = Object.keys(a.tensors).sort();
  const kb = Object.keys(b.tensors).sort();
  check(ka.join() === kb.join(), `${label}: reloaded tensors [${kb}] vs [${ka}]`);
  for (const k of ka) {
    check(
      a.tensors[k].dtype === b.tensors[k].dtype && a.tensors[k].shape.join() === b.tensors[k].shape.join(),
      `${label}: tensor ${k} dtype/shape changed on reload`,
    );
    assertBytesEqual(`${label}: tensor ${k} after reload`, u8Array(b.tensors[k].data), u8Array(a.tensors[k].data));
  }
}

export interface TwinSpec {
  label: string;
  name?: string;
  config: OptimizerConfig;
  /** The state mode the parameter must get (from its config and override). */
  mode: ModeSpec;
  dtype: DType;
  shape: number[];
  override?: ParamOverride;
  /** 0-based step indices after which the state goes through export -> fresh parameter -> import. */
  saveAt?: readonly number[];
  afterStep?: ProtocolRun['afterStep'];
}

/**
 * One engine parameter and its float64 reference, stepped together and compared after every step with the checks
 * described at the top of this file. Several twins can share one engine.step call (per-parameter configuration,
 * step counters and the atomicity of non-finite handling are tested that way).
 */
export class Twin {
  readonly spec: TwinSpec;
  readonly n: number;
  readonly stats: ProtocolStats = {
    maxOffByOne: 0,
    maxStateMismatch: 0,
    maxParamErrors: 0,
    worstMeanAbs: 0,
    worstMeanRel: 0,
  };
  param: Param;
  readonly pRef: Float64Array;
  readonly st: RefState;
  private readonly engine: Engine;
  private readonly rounding: Rounding;
  private readonly saveAt: Set<number>;
  private checksDone = 0;

  private constructor(engine: Engine, spec: TwinSpec, param: Param, p0: Float64Array) {
    this.engine = engine;
    this.spec = spec;
    this.param = param;
    this.n = p0.length;
    this.pRef = p0.slice();
    this.st = newRefState(spec.config.name, this.n, refHyperOf(spec.config, spec.override).percentile);
    this.rounding = roundingFor(spec.dtype, spec.mode.mode);
    this.saveAt = new Set(spec.saveAt ?? []);
  }

  /** Creates the parameter (checking its state mode) and writes randn*0.1 values rounded to the dtype. */
  static async create(engine: Engine, spec: TwinSpec, rng: Rng): Promise<Twin> {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const param = engine.createParam({
      name: spec.name ?? 'w',
      shape: spec.shape,
      dtype: spec.dtype,
      config: spec.config,
      override: spec.override,
    });
    check(
      param.mode === spec.mode.mode,
      `${spec.label}: parameter got state mode ${param.mode}, expected ${spec.mode.mode}`,
    );
    const p0 = roundArray(spec.dtype, rng.randn(n, 0.1));
    await param.write(0, encode(p0, 'fp32'), 'fp32');
    assertClose(
      `${spec.label}: parameter values after write/read`,
      decode(await param.read(0, n, 'fp32'), 'fp32'),
      p0,
      0,
      0,
    );
    const twin = new Twin(engine, spec, param, p0);
    await twin.checkInitialState();
    return twin;
  }

  /**
   * Fresh state (docs/math.md §3.3, T13): fp32 zeros; in 8-bit modes byte 0 (not the zero code) with scale 0, which decodes
   * to qmap[0] * 0 = -0.0, a zero state. The reference starts from it as the 16.2 protocol re-synchronizes.
   */
  private async checkInitialState(): Promise<void> {
    const info = infoOf(this.spec.config.name);
    const snap = await this.param.exportState();
    check(snap.step === 0, `${this.spec.label}: fresh state has step ${snap.step}`);
    for (const dec of decodeStates(snap, info.states, info.rows, this.n, this.spec.mode.blockSize)) {
      const ref = dec.name === 'state1' ? this.st.s1 : this.st.s2!;
      if (dec.codes) {
        check(
          dec.codes.every((c) => c === 0),
          `${this.spec.label}: fresh ${dec.name} codes are not all byte 0 (T13)`,
        );
        check(
          dec.scales!.every((x) => x === 0),
          `${this.spec.label}: fresh ${dec.name} scales are not all 0`,
        );
      }
      check(
        dec.values.every((x) => x === 0),
        `${this.spec.label}: fresh ${dec.name} is not all zero`,
      );
      resync(ref, dec.values);
    }
  }

  get eightBit(): boolean {
    return this.spec.mode.mode !== 'fp32';
  }

  /** A gradient for step t, rounded to the dtype. */
  gradient(rng: Rng, t: number, grad: GradSpec = DEFAULT_GRAD): Float64Array {
    return roundArray(this.spec.dtype, randomGrad(rng, this.n, t, grad));
  }

  item(g: Float64Array, perStep?: Partial<Hyperparameters>): StepItem<Param> {
    return { param: this.param, grad: encode(g, this.spec.dtype), gradDtype: this.spec.dtype, hyper: perStep };
  }

  /**
   * After the engine applied `g` (with `perStep`) and reported `res`: runs the reference step and compares
   * everything; re-synchronizes as section 16 says; saves/loads when asked.
   */
  async verify(g: Float64Array, res: ParamStepResult, perStep?: Partial<Hyperparameters>): Promise<void> {
    const { config, dtype, mode } = this.spec;
    const name = config.name;
    const info = infoOf(name);
    const n = this.n;
    const st = this.st;
    const pRef = this.pRef;
    const eightBit = this.eightBit;
    const stats = this.stats;
    const t = st.step + 1;
    const i = this.checksDone++;
    const at = `${this.spec.label} step ${t}`;
    check(res.step === t, `${at}: engine step counter ${res.step}, reference ${t}`);
    const h = refHyperOf(config, { ...this.spec.override, ...perStep });
    // Percentile clipping: the engine's scale must match the reference's; the reference then applies the
    // engine's (fp32 norm) so that the elementwise checks below see only per-element rounding.
    const ri = refStep(name, pRef, g, st, h, this.rounding, {
      gnormScale: (refScale) => {
        checkScalar(`${at}: gnormScale`, res.gnormScale, refScale, 0, 1e-4);
        return res.gnormScale;
      },
    });
    if (h.percentile >= 100)
      check(res.gnormScale === 1, `${at}: gnormScale ${res.gnormScale} without percentile clipping`);
    // Trust ratio: fp32 accumulation of ||u||^2 gives ~1e-6. With fp32 state and 16-bit parameters the norm pass may
    // see the scaled gradient before or after its rounding to T (docs/math.md §11 says "from the gnorm-scaled gradient",
    // the 32-bit prelude of 6 rounds it), which moves the norm by up to ~1e-4: rtol 1e-3 there.
    const unormTol = !eightBit && dtype !== 'fp32' ? 1e-3 : 1e-4;
    const trust = info.trustRatio && h.maxUnorm > 0;
    if (trust) checkScalar(`${at}: updateScale (trust ratio)`, res.updateScale, ri.updateScale, 0, unormTol);
    else check(res.updateScale === 1, `${at}: updateScale ${res.updateScale} without max_unorm`);

    const pEngine = decode(await this.param.read(0, n, 'fp32'), 'fp32');
    const snap = await this.param.exportState();
    check(
      snap.step === t && snap.mode === mode.mode && snap.numel === n,
      `${at}: exported header step ${snap.step} mode ${snap.mode} numel ${snap.numel}`,
    );
    if (mode.mode === 'blockwise8')
      check(snap.blockSize === mode.blockSize, `${at}: exported block size ${snap.blockSize}`);
    if (eightBit && (i === 0 || this.saveAt.has(i - 1))) checkMaps(snap, info.states, at);

    // States.
    for (const dec of decodeStates(snap, info.states, info.rows, n, mode.blockSize)) {
      const ref = dec.name === 'state1' ? st.s1 : st.s2!;
      if (!eightBit) {
        const [atol, rtol] = TOL_32BIT[dtype];
        assertClose(`${at}: ${dec.name}`, dec.values, ref, atol, rtol, 0);
      } else {
        const mism = closeStats(dec.values, ref, 3e-3, 1e-3).violations;
        check(
          mism < 20,
          `${at}: ${dec.name} dequantized: ${mism} elements outside atol 3e-3 rtol 1e-3 (docs/math.md §16.2: < 20)`,
        );
        stats.maxStateMismatch = Math.max(stats.maxStateMismatch, mism);
        checkQuantized(at, dec, ref, stats);
        resync(ref, dec.values);
      }
    }

    // Parameters.
    const [atol, rtol] = TOL_32BIT[dtype];
    stats.maxParamErrors = Math.max(stats.maxParamErrors, closeStats(pEngine, pRef, atol, rtol).violations);
    assertClose(
      `${at}: parameters (16.1 tolerance, one-step under re-sync in 8-bit modes)`,
      pEngine,
      pRef,
      atol,
      rtol,
      15,
    );
    if (eightBit) {
      const [mAbs, mRel] = meanLimits(mode.criteria, dtype, name);
      const me = meanErrors(pEngine, pRef, 1e-9);
      stats.worstMeanAbs = Math.max(stats.worstMeanAbs, me.abs);
      stats.worstMeanRel = Math.max(stats.worstMeanRel, me.rel);
      check(
        me.abs < mAbs && me.rel < mRel,
        `${at}: parameter mean errors abs ${me.abs} rel ${me.rel} ` +
          `(docs/math.md §${mode.criteria}: < ${mAbs}, < ${mRel})`,
      );
      if (mode.criteria === '16.3') {
        const [pa, pr] = TOL_8BIT_PARAM[dtype];
        assertClose(`${at}: parameters (16.3 patol/prtol)`, pEngine, pRef, pa, pr, 5);
      }
    }
    if (eightBit || dtype !== 'fp32') pRef.set(pEngine); // re-synchronize to the engine's stored values

    if (trust) {
      const u = snap.tensors.unorm;
      check(u !== undefined && u.data.length === 4, `${at}: exported state lacks the 1-float unorm tensor`);
      const unorm = u.data.readFloatLE(0);
      check(unorm > 0, `${at}: unorm ${unorm} must be > 0 after a step (docs/math.md §16.1)`);
      checkScalar(`${at}: unorm (squared update norm)`, unorm, ri.unorm, 0, unormTol);
    }
    if (h.percentile < 100) {
      const gh = snap.tensors.gnorm_hist;
      check(gh !== undefined && gh.data.length === 400, `${at}: exported state lacks the 100-float gnorm_hist`);
      const hist = Float64Array.from({ length: 100 }, (_, k) => gh.data.readFloatLE(4 * k));
      assertClose(`${at}: gnorm_hist (squared norms)`, hist, st.hist!, 0, 1e-4);
    }
    this.spec.afterStep?.({ t, param: this.param, pEngine, ref: st, snap, res });

    if (this.saveAt.has(i)) {
      const fresh = this.engine.createParam({
        name: `${this.param.name}@${t}`,
        shape: this.spec.shape,
        dtype,
        config,
        override: this.spec.override,
      });
      await fresh.write(0, encode(pEngine, 'fp32'), 'fp32');
      await fresh.importState(snap);
      sameSnapshot(`${at}: save/load`, snap, await fresh.exportState());
      assertClose(`${at}: parameters after reload`, decode(await fresh.read(0, n, 'fp32'), 'fp32'), pEngine, 0, 0);
      check(fresh.step === t, `${at}: reloaded step counter ${fresh.step}`);
      this.param.free();
      this.param = fresh;
    }
  }

  free(): void {
    this.param.free();
  }
}

/** Runs one parameter through `steps` steps of the protocol. */
export async function runProtocol(engine: Engine, run: ProtocolRun): Promise<ProtocolStats> {
  const rng = rngFor(run.label);
  const twin = await Twin.create(
    engine,
    {
      label: run.label,
      config: run.config,
      mode: run.mode,
      dtype: run.dtype,
      shape: run.shape,
      override: run.override,
      saveAt: run.saveAt ?? run.mode.saveAt,
      afterStep: run.afterStep,
    },
    rng,
  );
  try {
    const steps = run.steps ?? run.mode.steps;
    for (let t = 1; t <= steps; t++) {
      const g = run.makeGrad ? roundArray(run.dtype, run.makeGrad(rng, twin.n, t)) : twin.gradient(rng, t, run.grad);
      const perStep = run.perStep?.(t);
      const out = await engine.step([twin.item(g, perStep)], 'error');
      check(
        !out.skipped && out.nonFinite.length === 0,
        `${run.label} step ${t}: step reported skipped/non-finite on finite gradients`,
      );
      await twin.verify(g, out.results[0], perStep);
    }
  } finally {
    twin.free();
  }
  return twin.stats;
}
