// Exact uint64 step ids. StepHeader.step_id is an opaque key a client may draw from the whole uint64 range, and a
// JavaScript number would merge 2^64-1 with 2^64-2; step.proto therefore marks it [jstype = JS_STRING] and the
// generated codec carries it as an exact decimal string (the contract's other uint64 fields stay below 2^53 and
// are numbers). The server works with it as a bigint; the client checks what its caller passed before sending.
// test/service/step-transaction.test.ts sends ids around 2^64.

import type { StepHeader__Output } from './messages';

const MAX_STEP_ID = 2n ** 64n - 1n;

/** A Step header as the server works with it: step_id exact. */
export type StepHeaderExact = Omit<StepHeader__Output, 'stepId'> & { stepId: bigint };

/** The decoded header with step_id as a bigint (the decoder wrote a uint64's decimal digits, so BigInt accepts it). */
export function exactHeader(h: StepHeader__Output): StepHeaderExact {
  return { ...h, stepId: BigInt(h.stepId) };
}

/** A caller's step id (a number up to 2^53, a bigint or decimal string up to 2^64-1) as the wire's decimal string. */
export function stepIdToWire(v: number | bigint | string | undefined): string {
  let id: bigint | undefined;
  if (v === undefined) id = 0n;
  else if (typeof v === 'bigint') id = v;
  else if (typeof v === 'number') id = Number.isSafeInteger(v) ? BigInt(v) : undefined;
  else if (/^[0-9]{1,20}$/.test(v)) id = BigInt(v);
  if (id === undefined || id < 0n || id > MAX_STEP_ID) {
    const shown = typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : String(v);
    throw new Error(`expected an integer from 0 to 2^64-1 for stepId, got ${shown}`);
  }
  return id.toString();
}
