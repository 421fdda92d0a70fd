// The qstep.v1 contract at run time, shared by server/ and client/: the messages and codecs that ts-proto
// generates into gen/ (`npm run codegen`; never edit gen/ by hand) and the grpc-js service built on them
// (grpc-service.ts), so the types in messages.ts describe exactly the objects the codecs produce.
// proto-loader stays for one thing: @grpc/reflection needs a PackageDefinition (reflection.ts, server only).

import * as checkpoint from './gen/qstep/v1/checkpoint';
import * as common from './gen/qstep/v1/common';
import * as info from './gen/qstep/v1/info';
import * as model from './gen/qstep/v1/model';
import * as snapshot from './gen/qstep/v1/snapshot';
import * as step from './gen/qstep/v1/step';

export { SERVICE_NAME } from './grpc-service';

export { generatedService, qstepService, QstepGrpcClient } from './grpc-service';
export type { QstepClient, QstepDefinition, QstepHandlers, Method } from './grpc-service';

/** Every generated module; the enums among their exports are found by shape, never listed by hand. */
const MODULES: Record<string, unknown>[] = [checkpoint, common, info, model, snapshot, step];

interface EnumEntry {
  values: Record<string, string>;
  toNumber: (name: string) => number;
}

/** ts-proto (enumsAsLiterals, stringEnums) writes `const X = { NAME: "NAME", ... }` and `function xToNumber(name)`. */
const ENUMS = new Map<string, EnumEntry>();
for (const mod of MODULES) {
  for (const [name, values] of Object.entries(mod)) {
    const toNumber = mod[`${name[0].toLowerCase()}${name.slice(1)}ToNumber`];
    if (typeof toNumber === 'function' && values && typeof values === 'object')
      ENUMS.set(name, { values: values as Record<string, string>, toNumber: toNumber as EnumEntry['toNumber'] });
  }
}

/** Value name a decoder gives a wire number the contract does not have (ts-proto's `UNRECOGNIZED`). */
export const UNRECOGNIZED = 'UNRECOGNIZED';

function enumEntry(name: string): EnumEntry {
  const e = ENUMS.get(name);
  if (!e) throw new Error(`no enum qstep.v1.${name}`);
  return e;
}

/** Names of an enum's values in declaration order (read from the generated code, never retyped). */
export function enumValues(name: string): string[] {
  return Object.values(enumEntry(name).values).filter((v) => v !== UNRECOGNIZED);
}

/** Wire numbers of an enum's values by name. */
export function enumNumbers(name: string): Map<string, number> {
  const e = enumEntry(name);
  return new Map(enumValues(name).map((v) => [v, e.toNumber(v)]));
}

export type * from './messages';
