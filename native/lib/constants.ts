// Constants defined once in native/include/qstep/types.h, read from the addon (house style 7).
import { invalid } from './errors';
import { binding } from './loader';
import type { NativeConstants } from './native';
import { OPTIMIZER_TABLE } from './optimizers';
import { DTYPES, STATE_MODES } from './vocab';

export const constants: NativeConstants = binding.constants;

/**
 * The addon-free vocabulary (vocab.ts) and optimizer table (optimizers.ts) must name what the addon was built
 * with: every dtype and mode a code, every table row a kernel family whose Op traits (native/kernels/*.h) agree.
 * A mismatch is a build of mixed versions; it fails on load, naming the fact, rather than at some later step.
 */
export function checkVocabulary(c: NativeConstants): void {
  const fail = (what: string): never => {
    throw new Error(`the addon and native/lib disagree: ${what} (rebuild with npm run build:native)`);
  };
  for (const d of DTYPES) if (c.dtypes[d] === undefined) fail(`dtype ${d} has no code`);
  for (const m of STATE_MODES) if (c.stateModes[m] === undefined) fail(`state mode ${m} has no code`);
  if (Object.keys(c.dtypes).length !== DTYPES.length) fail('dtype list');
  if (Object.keys(c.stateModes).length !== STATE_MODES.length) fail('state mode list');
  for (const row of OPTIMIZER_TABLE) {
    const t = c.opTraits[row.op];
    if (c.opKinds[row.op] === undefined || !t) fail(`${row.name} runs kernel family ${row.op}, which the addon lacks`);
    const streams = row.rows1 + (row.states.includes('state2') ? 1 : 0);
    if (t.streams !== streams || t.rows1 !== row.rows1) fail(`${row.name}: state layout`);
    if (row.trust && !t.trust) fail(`${row.name}: trust ratio on a family without a norm term`);
    if (row.schedules !== t.schedules) fail(`${row.name}: schedules`);
    if (row.zeroVGuard && !t.zeroVGuard) fail(`${row.name}: zero-v guard`);
  }
}

checkVocabulary(constants);

// QSTEP_CPU_ISA picks the CPU form of the 8-bit loops for the whole process (the addon reads it once). The addon
// treats anything but `avx2` as "the CPU's best"; a misspelt or unavailable value is a configuration error, so it
// fails here, on load, rather than silently running another form.
/** Throws INVALID_ARGUMENT naming `name` unless `value` is a CPU form this machine has. */
export function checkCpuIsa(name: string, value: unknown): void {
  if (!(constants.cpuIsa.available as unknown[]).includes(value)) {
    throw invalid(name, `one of this CPU's forms (${constants.cpuIsa.available.join(', ')})`, value);
  }
}

const requestedIsa = process.env.QSTEP_CPU_ISA;
if (requestedIsa !== undefined && requestedIsa !== '') checkCpuIsa('QSTEP_CPU_ISA', requestedIsa);
