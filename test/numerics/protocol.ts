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
import type { DType, Engine, Hyperparameters, OptimizerConfig, Param, StateSnapshot } from '../../native/lib';
import { assertBytesEqual, assertClose, check, checkScalar, closeStats, meanErrors } from '../helpers/compare';
import { decode, encode, roundArray, u8Array } from '../helpers/dtype';
import { rngFor, type Rng } from '../helpers/random';
import { newRefState, refStep, roundingFor, stateQuantizer, type RefHyper, type RefState } from '../reference';
import { checkMaps, decodeStates, type DecodedState } from './engine-state';
import { DEFAULT_GRAD, infoOf, SPEC_DEFAULTS, type GradSpec, type ModeSpec } from './registry';

/** Spec 16.1 (atol, rtol) per dtype. */
export const TOL_32BIT: Record<DType, [number, number]> = { fp32: [1e-6, 1e-5], fp16: [1e-4, 1e-3], bf16: [1e-3, 1e-2] };
/** Spec 16.2/16.3 parameter (patol, prtol) per dtype. */
export const TOL_8BIT_PARAM: Record<DType, [number, number]> = { fp32: [1e-5, 1e-3], fp16: [1e-5, 1e-3],
  bf16: [1e-4, 1e-2] };

/** Spec 16.2 and 16.3 mean parameter error limits (abs, rel; rel uses |p_ref| + 1e-9). */
function meanLimits(criteria: ModeSpec['criteria'], dtype: DType, optimizer: string): [number, number] {
  if (criteria === '16.2') {
    if (dtype === 'bf16') return [1.7e-4, 1.6e-3];
    return [6e-5, optimizer === 'lion' && dtype === 'fp16' ? 6.2e-4 : 6e-4];
  }
  return dtype === 'bf16' ? [1.5e-4, 1.6e-3] : [1.2e-4, 1.2e-3];
}

/** Codes allowed to differ by one index from the reference (fp32 vs float64 landing across a boundary). */
export function codeBudget(count: number): number {
  return 4 + Math.ceil(count * 2e-4);
}

/**
 * The reference's hyperparameters for a config (spec section 2 defaults, then the config, then per-step changes).
 * The kernels receive lr, betas, eps, weight decay and alpha as fp32 (spec 0: all kernel arithmetic is binary32;
 * spec 12: host values are passed to the kernel as fp32), so the reference starts from the same fp32 inputs:
 * 1 - fp32(0.999) differs from 1 - 0.999 by 1.3e-5 relative, far more than the rounding the checks allow.
 */
export function refHyperOf(config: OptimizerConfig, perStep?: Partial<Hyperparameters>): RefHyper {
  const c = { ...config, ...perStep };
  const d = SPEC_DEFAULTS[config.name];
  const f = Math.fround;
  const betas = (c.betas ? [...c.betas, ...d.betas.slice(c.betas.length)] : [...d.betas]).map(f);
  return {
    lr: f(c.lr ?? d.lr), betas, eps: f(c.eps ?? d.eps), weightDecay: f(c.weightDecay ?? d.weightDecay),
    alpha: f(c.alpha ?? d.alpha), tAlpha: c.tAlpha ?? 0, tBeta3: c.tBeta3 ?? 0, skipZeros: c.skipZeros ?? false, maxUnorm: c.maxUnorm ?? d.maxUnorm,
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
  /** Parameter override by name (spec 13, D10), passed to createParam. */
  override?: Parameters<Engine['createParam']>[0]['override'];
  /** Called after each checked step with the engine parameter and the reference (extra assertions). */
  afterStep?: (ctx: { t: number; param: Param; pEngine: Float64Array; ref: RefState; snap: StateSnapshot }) => void;
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
  // The maximum of a populated block is never a heavily cancelled value, so fp32 and float64 agree to ~1e-7 there;
  // a partial last block of a few elements may hold a single value whose recurrence nearly cancels (1e-3).
  for (let b = 0; b < scales.length; b++) {
    const rtol = members[b] >= 32 ? 1e-5 : 1e-3;
    const d = Math.abs(scales[b] - maxRef[b]);
    check(d <= rtol * maxRef[b] + 1e-30, `${label}: ${dec.name} scale[${b}] = ${scales[b]}, max |reference state| of ` +
      `its ${members[b]} elements = ${maxRef[b]} (rel diff ${(d / maxRef[b]).toExponential(2)}, allowed ${rtol})`);
  }
  let offByOne = 0;
  let first = -1;
  const quantize = stateQuantizer(dec.map, dec.signed);
  for (let j = 0; j < ref.length; j++) {
    const q = quantize(ref[j], scales[group[j]]);
    const d = Math.abs(q - codes[j]);
    if (d === 0) continue;
    check(d === 1, `${label}: ${dec.name} code[${j}] = ${codes[j]}, reference nearest code ${q} ` +
      `(state ${ref[j]}, scale ${scales[group[j]]})`);
    offByOne++;
    if (first < 0) first = j;
  }
  const budget = codeBudget(ref.length);
  check(offByOne <= budget, `${label}: ${dec.name} ${offByOne} of ${ref.length} codes differ by one index from the ` +
    `reference's nearest code (allowed ${budget}); first [${first}]: code ${codes[first]} state ${ref[first]}`);
  stats.maxOffByOne = Math.max(stats.maxOffByOne, offByOne);
}

function sameSnapshot(label: string, a: StateSnapshot, b: StateSnapshot): void {
  check(a.step === b.step && a.mode === b.mode && a.blockSize === b.blockSize && a.numel === b.numel,
    `${label}: reloaded header ${JSON.stringify([b.step, b.mode, b.blockSize, b.numel])} vs ` +
    `${JSON.stringify([a.step, a.mode, a.blockSize, a.numel])}`);
  const ka = Object.keys(a.tensors).sort();
  const kb = Object.keys(b.tensors).sort();
  check(ka.join() === kb.join(), `${label}: reloaded tensors [${kb}] vs [${ka}]`);
  for (const k of ka) {
    check(a.tensors[k].dtype === b.tensors[k].dtype && a.tensors[k].shape.join() === b.tensors[k].shape.join(),
      `${label}: tensor ${k} dtype/shape changed on reload`);
    assertBytesEqual(`${label}: tensor ${k} after reload`, u8Array(b.tensors[k].data), u8Array(a.tensors[k].data));
  }
}

export async function runProtocol(engine: Engine, run: ProtocolRun): Promise<ProtocolStats> {
  const { config, mode, dtype, shape } = run;
  const name = config.name;
  const info = infoOf(name);
  const steps = run.steps ?? mode.steps;
  const saveAt = new Set(run.saveAt ?? mode.saveAt);
  const n = shape.reduce((a, b) => a * b, 1);
  const rng = rngFor(run.label);
  const rounding = roundingFor(dtype, mode.mode);
  const eightBit = mode.mode !== 'fp32';
  const stats: ProtocolStats = { maxOffByOne: 0, maxStateMismatch: 0, maxParamErrors: 0, worstMeanAbs: 0, worstMeanRel: 0 };

  const spec = { name: 'w', shape, dtype, config, override: run.override };
  let param = engine.createParam(spec);
  check(param.mode === mode.mode, `${run.label}: parameter got state mode ${param.mode}, expected ${mode.mode}`);
  const p0 = roundArray(dtype, rng.randn(n, 0.1));
  await param.write(0, encode(p0, 'fp32'), 'fp32');
  assertClose(`${run.label}: parameter values after write/read`, decode(await param.read(0, n, 'fp32'), 'fp32'), p0, 0, 0);

  const h0 = refHyperOf(config, run.override);
  const pRef = p0.slice();
  const st = newRefState(name, n, h0.percentile);
  try {
    for (let i = 0; i < steps; i++) {
      const t = i + 1;
      const at = `${run.label} step ${t}`;
      const g = roundArray(dtype, run.makeGrad ? run.makeGrad(rng, n, t) : randomGrad(rng, n, t, run.grad ?? DEFAULT_GRAD));
      const perStep = run.perStep?.(t);
      const h = refHyperOf(config, { ...run.override, ...perStep });
      const out = await engine.step([{ param, grad: encode(g, dtype), gradDtype: dtype, hyper: perStep }], 'error');
      check(!out.skipped && out.nonFinite.length === 0, `${at}: step reported skipped/non-finite on finite gradients`);
      const res = out.results[0];
      check(res.step === t, `${at}: engine step counter ${res.step}`);
      // Percentile clipping: the engine's scale must match the reference's; the reference then applies the
      // engine's (fp32 norm) so that the elementwise checks below see only per-element rounding.
      const ri = refStep(name, pRef, g, st, h, rounding, {
        gnormScale: (refScale) => {
          checkScalar(`${at}: gnormScale`, res.gnormScale, refScale, 0, 1e-4);
          return res.gnormScale;
        },
      });
      if (h.percentile >= 100) check(res.gnormScale === 1, `${at}: gnormScale ${res.gnormScale} without percentile clipping`);
      // Trust ratio: fp32 accumulation of ||u||^2 gives ~1e-6. With fp32 state and 16-bit parameters the norm pass may
      // see the scaled gradient before or after its rounding to T (spec 11 says "from the gnorm-scaled gradient",
      // the 32-bit prelude of 6 rounds it), which moves the norm by up to ~1e-4: rtol 1e-3 there.
      const unormTol = !eightBit && dtype !== 'fp32' ? 1e-3 : 1e-4;
      if (info.trustRatio && h.maxUnorm > 0) checkScalar(`${at}: updateScale (trust ratio)`, res.updateScale, ri.updateScale, 0, unormTol);
      else check(res.updateScale === 1, `${at}: updateScale ${res.updateScale} without max_unorm`);

      const pEngine = decode(await param.read(0, n, 'fp32'), 'fp32');
      const snap = await param.exportState();
      check(snap.step === t && snap.mode === mode.mode && snap.numel === n,
        `${at}: exported header step ${snap.step} mode ${snap.mode} numel ${snap.numel}`);
      if (mode.mode === 'blockwise8') check(snap.blockSize === mode.blockSize, `${at}: exported block size ${snap.blockSize}`);
      if (eightBit && (t === 1 || saveAt.has(i - 1))) checkMaps(snap, info.states, at);

      // States.
      const decoded = decodeStates(snap, info.states, info.rows, n, mode.blockSize);
      for (const dec of decoded) {
        const ref = dec.name === 'state1' ? st.s1 : st.s2!;
        if (!eightBit) {
          const [atol, rtol] = TOL_32BIT[dtype];
          assertClose(`${at}: ${dec.name}`, dec.values, ref, atol, rtol, 0);
        } else {
          const mism = closeStats(dec.values, ref, 3e-3, 1e-3).violations;
          check(mism < 20, `${at}: ${dec.name} dequantized: ${mism} elements outside atol 3e-3 rtol 1e-3 (spec 16.2: < 20)`);
          stats.maxStateMismatch = Math.max(stats.maxStateMismatch, mism);
          checkQuantized(`${at}`, dec, ref, stats);
          ref.set(dec.values); // re-synchronize (16.2)
        }
      }

      // Parameters.
      const [atol, rtol] = TOL_32BIT[dtype];
      const errs = closeStats(pEngine, pRef, atol, rtol).violations;
      stats.maxParamErrors = Math.max(stats.maxParamErrors, errs);
      assertClose(`${at}: parameters (16.1 tolerance, one-step under re-sync in 8-bit modes)`, pEngine, pRef, atol, rtol, 15);
      if (eightBit) {
        const [mAbs, mRel] = meanLimits(mode.criteria, dtype, name);
        const me = meanErrors(pEngine, pRef, 1e-9);
        stats.worstMeanAbs = Math.max(stats.worstMeanAbs, me.abs);
        stats.worstMeanRel = Math.max(stats.worstMeanRel, me.rel);
        check(me.abs < mAbs && me.rel < mRel, `${at}: parameter mean errors abs ${me.abs} rel ${me.rel} ` +
          `(spec ${mode.criteria}: < ${mAbs}, < ${mRel})`);
        if (mode.criteria === '16.3') {
          const [pa, pr] = TOL_8BIT_PARAM[dtype];
          assertClose(`${at}: parameters (16.3 patol/prtol)`, pEngine, pRef, pa, pr, 5);
        }
      }
      if (eightBit || dtype !== 'fp32') pRef.set(pEngine); // re-synchronize to the engine's stored values

      // Per-parameter extras.
      if (info.trustRatio && h.maxUnorm > 0) {
        const u = snap.tensors.unorm;
        check(u !== undefined && u.data.length === 4, `${at}: exported state lacks the 1-float unorm tensor`);
        const unorm = u.data.readFloatLE(0);
        check(unorm > 0, `${at}: unorm ${unorm} must be > 0 after a step (spec 16.1)`);
        checkScalar(`${at}: unorm (squared update norm)`, unorm, ri.unorm, 0, unormTol);
      }
      if (h.percentile < 100) {
        const gh = snap.tensors.gnorm_hist;
        check(gh !== undefined && gh.data.length === 400, `${at}: exported state lacks the 100-float gnorm_hist`);
        const hist = Float64Array.from({ length: 100 }, (_, k) => gh.data.readFloatLE(4 * k));
        assertClose(`${at}: gnorm_hist (squared norms)`, hist, st.hist!, 0, 1e-4);
      }
      run.afterStep?.({ t, param, pEngine, ref: st, snap });

      // Save / load into a fresh parameter, continue with it.
      if (saveAt.has(i)) {
        const fresh = engine.createParam({ ...spec, name: `w@${t}` });
        await fresh.write(0, encode(pEngine, 'fp32'), 'fp32');
        await fresh.importState(snap);
        sameSnapshot(`${at}: save/load`, snap, await fresh.exportState());
        assertClose(`${at}: parameters after reload`, decode(await fresh.read(0, n, 'fp32'), 'fp32'), pEngine, 0, 0);
        check(fresh.step === t, `${at}: reloaded step counter ${fresh.step}`);
        param.free();
        param = fresh;
      }
    }
  } finally {
    param.free();
  }
  return stats;
}
