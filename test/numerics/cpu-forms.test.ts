// The CPU backend's two forms of the blockwise8 traversal (formats/blockwise8.h: AVX2 grouped, AVX-512 pipelined)
// must store the same bytes: the same functions on the same values, only in another order. The cases run here,
// through the default form, and in a child process forced to AVX2; every weight and state byte must agree.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'chai';
import { qstep } from '../helpers/engine';
import { SEED_NOTE, SUITE_SEED } from '../helpers/random';
import { FORM_CASES, runFormCases } from './cpu-forms-cases';

describe('CPU 8-bit traversal forms (AVX-512 pipelined vs AVX2 grouped)', () => {
  it('leave bit-identical weights and state for 1, 2 and 3 streams, both block sizes, partial blocks and groups', async function () {
    this.timeout(300000);
    const { constants } = qstep();
    // Both runs would be AVX2 on a CPU without the AVX-512 form: nothing to compare.
    if (constants.cpuIsa.default !== 'avx512') this.skip();
    const here = await runFormCases(SUITE_SEED);
    const child = execFileSync(
      process.execPath,
      ['--import', 'tsx', join(__dirname, 'cpu-forms-child.ts'), String(SUITE_SEED)],
      { env: { ...process.env, QSTEP_CPU_ISA: 'avx2' }, maxBuffer: 1 << 24 },
    ).toString();
    const there = JSON.parse(child) as { isa: string; digests: Record<string, string> };
    expect(there.isa, 'the child must run the AVX2 form').to.equal('avx2');
    expect(Object.keys(here)).to.have.length(FORM_CASES.length);
    for (const c of FORM_CASES) {
      expect(here[c.label], `${c.label}: AVX-512 vs AVX2 ${SEED_NOTE}`).to.equal(there.digests[c.label]);
    }
  });
});
