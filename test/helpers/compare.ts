// Comparison with error budgets, the way docs/math.md §16 states its criteria: elementwise
// |actual - expected| <= atol + rtol * |expected| with at most `maxErrors` violations, and mean absolute /
// relative errors. Messages name the worst elements so a failure says what differs and by how much.
import { AssertionError } from 'node:assert';
import { SEED_NOTE } from './random';

export interface CloseStats {
  violations: number;
  worst: number; // index of the largest excess over the tolerance, -1 when there is none
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toPrecision(9) : String(x);
}

/** Counts elements outside atol + rtol*|expected| (NaN anywhere counts as outside). */
export function closeStats(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol: number,
): CloseStats {
  let violations = 0;
  let worst = -1;
  let worstExcess = -Infinity;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (a === e) continue; // also equal infinities, whose difference is NaN
    const diff = Math.abs(a - e);
    const tol = atol + rtol * Math.abs(e);
    if (!(diff <= tol)) {
      violations++;
      const excess = Number.isNaN(diff) ? Infinity : diff - tol;
      if (excess > worstExcess) {
        worstExcess = excess;
        worst = i;
      }
    }
  }
  return { violations, worst };
}

/**
 * Asserts that at most `maxErrors` elements violate |a - e| <= atol + rtol*|e|. `label` says what is compared
 * (optimizer, mode, dtype, tensor, step); the message lists the count, the worst element and a few others.
 */
export function assertClose(
  label: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol: number,
  maxErrors = 0,
): void {
  if (actual.length !== expected.length) {
    throw new AssertionError({
      message: `${label}: length ${actual.length}, expected ${expected.length} ${SEED_NOTE}`,
    });
  }
  const s = closeStats(actual, expected, atol, rtol);
  if (s.violations <= maxErrors) return;
  const shown: string[] = [];
  for (let i = 0; i < expected.length && shown.length < 4; i++) {
    if (actual[i] === expected[i]) continue;
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= atol + rtol * Math.abs(expected[i]))) {
      shown.push(`[${i}] got ${fmt(actual[i])} want ${fmt(expected[i])}`);
    }
  }
  const w = s.worst;
  throw new AssertionError({
    message:
      `${label}: ${s.violations} of ${expected.length} elements outside |a-e| <= ${atol} + ${rtol}*|e| ` +
      `(allowed ${maxErrors}); worst [${w}] got ${fmt(actual[w])} want ${fmt(expected[w])} ` +
      `(diff ${fmt(Math.abs(actual[w] - expected[w]))}); first: ${shown.join(', ')} ${SEED_NOTE}`,
  });
}

/** Mean |a - e| and mean |a - e| / (|e| + relFloor). */
export function meanErrors(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  relFloor: number,
): { abs: number; rel: number } {
  let abs = 0;
  let rel = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    abs += d;
    rel += d / (Math.abs(expected[i]) + relFloor);
  }
  return { abs: abs / expected.length, rel: rel / expected.length };
}

/** Asserts a scalar relation with a message that carries the seed. */
export function check(cond: boolean, message: string): void {
  if (!cond) throw new AssertionError({ message: `${message} ${SEED_NOTE}` });
}

/** Asserts |a - e| <= atol + rtol*|e| for two scalars. */
export function checkScalar(label: string, actual: number, expected: number, atol: number, rtol: number): void {
  const d = Math.abs(actual - expected);
  check(
    d <= atol + rtol * Math.abs(expected),
    `${label}: got ${fmt(actual)}, want ${fmt(expected)} (diff ${fmt(d)}, allowed ${atol} + ${rtol}*|want|)`,
  );
}

/** Asserts two byte arrays are identical, naming the first differing index. */
export function assertBytesEqual(label: string, actual: Uint8Array, expected: Uint8Array): void {
  check(actual.length === expected.length, `${label}: ${actual.length} bytes, expected ${expected.length}`);
  let diffs = 0;
  let first = -1;
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      diffs++;
      if (first < 0) first = i;
    }
  }
  check(
    diffs === 0,
    `${label}: ${diffs} of ${expected.length} bytes differ; first at [${first}]: got ${actual[first]} want ${expected[first]}`,
  );
}
