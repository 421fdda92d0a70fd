// Two per-tensor scales that multiply parts of an optimizer step, written from the spec:
//   section 9  percentile clipping: a history of 100 squared gradient norms per parameter; the gradient is
//              scaled by clip/current when the current norm exceeds the chosen percentile of the history;
//   section 11 update-norm clipping (LAMB, LARS): the update is scaled so that its norm does not exceed
//              max_unorm * ||p|| (+ eps for the 1-state LARS).

export const HISTORY_LENGTH = 100;

/**
 * docs/math.md §9 steps 1-4 for step `t` (1-based, already incremented) of one parameter. Updates `hist` in place and
 * returns gnorm_scale. `g` holds the raw gradient values as stored (fromT(g_i)).
 */
export function percentileScale(hist: Float64Array, t: number, g: ArrayLike<number>, percentile: number): number {
  let sq = 0;
  for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
  const slot = t % HISTORY_LENGTH;
  if (t === 1)
    hist.fill(sq); // the first norm fills every slot, so the first step is never clipped
  else hist[slot] = sq;
  const current = Math.sqrt(hist[slot]);
  const sorted = Float64Array.from(hist).sort();
  const clip = Math.sqrt(sorted[percentile]);
  return current > clip ? clip / current : 1;
}

/**
 * docs/math.md §11: the factor applied to the update given the squared update norm `unorm`, the parameter norm before the
 * update and the threshold's additive `eps` (0 for LAMB's 2-state form and for LARS). A zero-norm parameter gets
 * 0 whenever the update is non-zero: it never moves.
 */
export function trustScale(unorm: number, paramNorm: number, maxUnorm: number, eps: number): number {
  const r = Math.sqrt(unorm);
  const threshold = maxUnorm * paramNorm + eps;
  return r > threshold ? threshold / r : 1;
}

export function norm2(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}
