// Engine defects found by these suites and not fixed yet, as strict expected failures (pytest's xfail(strict)):
// a marked test still runs; while it fails with the issue's signature it is reported as pending, with the issue id
// in its title; if it passes, or fails in any other way, it fails. QSTEP_STRICT_KNOWN=1 runs marked tests as
// plain failures. Remove an entry once the engine is fixed (the suite says so).
import type { Context } from 'mocha';

export interface KnownIssue {
  id: string;
  /** What is wrong, by how much, and which spec line says otherwise. */
  summary: string;
  /** Which tests (by title or label) it affects. */
  applies: (label: string) => boolean;
  /** The failure message must match, so that a different failure is never hidden. */
  signature: RegExp;
}

export const KNOWN_ENGINE_ISSUES: readonly KnownIssue[] = [
  {
    id: 'skip-zeros-fresh-state-sign',
    summary: 'blockwise8/static8 with skip_zeros: an element skipped while its state is fresh keeps the decoded ' +
      'initial value qmap[0]*0 = -0.0, and the sign fix (5.2) stores it as code 126, i.e. -5.5e-7*scale instead of 0 ' +
      '(code 0 instead of 255 in an all-zero block). D5 says the element keeps its state value, which is 0 (3.3: ' +
      'initial bytes are harmless). For RMSprop/Adagrad the negative accumulator makes a later small gradient take ' +
      'sqrt(negative): the parameter becomes NaN.',
    applies: (label) => /skip_zeros/.test(label) && /(blockwise8|static8)/.test(label) && !/ademamix/.test(label),
    signature: /code\[\d+\] = 0, reference nearest code 255 \(state 0|codes differ by one index[^]*code 126 state 0|decodes to -?[0-9.e-]+, want 0|parameter p\[\d+\] = NaN/,
  },
];

export function knownIssueFor(label: string): KnownIssue | undefined {
  return KNOWN_ENGINE_ISSUES.find((k) => k.applies(label));
}

const strict = process.env.QSTEP_STRICT_KNOWN === '1';

/** mocha `it` that honours KNOWN_ENGINE_ISSUES for `label`. */
export function itChecked(title: string, label: string, fn: () => Promise<void>): void {
  const known = strict ? undefined : knownIssueFor(label);
  if (!known) {
    it(title, fn);
    return;
  }
  it(`${title} [KNOWN ENGINE ISSUE ${known.id}]`, async function (this: Context) {
    try {
      await fn();
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (!known.signature.test(msg)) throw e;
      this.skip();
    }
    throw new Error(`known engine issue ${known.id} no longer reproduces for "${label}": remove it from ` +
      'test/numerics/known-issues.ts');
  });
}
