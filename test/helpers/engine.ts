// Lazy access to the engine, so that suites which need no engine (the reference self-checks) run even when the
// addon is missing, and the engine suites fail with the loader's explanation instead of aborting the whole run.
import type * as Qstep from '../../native/lib';

let mod: typeof Qstep | null = null;

export function qstep(): typeof Qstep {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the addon loads on first use
  if (!mod) mod = require('../../native/lib') as typeof Qstep;
  return mod;
}

/** A CPU engine (threads: QSTEP_THREADS or one per core). */
export function openCpuEngine(options: Omit<Qstep.EngineOptions, 'backend'> = {}): Qstep.Engine {
  return qstep().Engine.open({ backend: 'cpu', ...options });
}

/** Expects `fn` to reject with an EngineError of `code` whose message mentions `mentions`. */
export async function expectEngineError(
  fn: () => unknown,
  code: string,
  mentions?: string,
): Promise<Qstep.EngineError> {
  let caught: unknown = null;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  const { EngineError } = qstep();
  if (!(caught instanceof EngineError)) {
    throw new Error(
      `expected EngineError ${code}${mentions ? ` naming ${mentions}` : ''}, got ${caught === null ? 'success' : String(caught)}`,
    );
  }
  if (caught.code !== code) throw new Error(`expected error code ${code}, got ${caught.code}: ${caught.message}`);
  if (mentions && !caught.message.includes(mentions)) {
    throw new Error(`expected the ${code} message to name ${mentions}: "${caught.message}"`);
  }
  return caught;
}
