// Constants defined once in native/include/qstep/types.h, read from the addon (house style 7).
import { invalid } from './errors';
import { binding } from './loader';
import type { NativeConstants } from './native';

export const constants: NativeConstants = binding.constants;

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
