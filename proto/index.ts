// The qstep.v1 contract at run time, shared by server/ and client/: the messages and codecs that ts-proto
// generates into gen/ (`npm run codegen`; never edit gen/ by hand) and the grpc-js service built on them
// (grpc-service.ts), so the types in messages.ts describe exactly the objects the codecs produce.
// proto-loader stays for one thing: @grpc/reflection needs a PackageDefinition built from the .proto files.

import * as protoLoader from '@grpc/proto-loader';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as common from './gen/qstep/v1/common';
import * as snapshot from './gen/qstep/v1/snapshot';

/** The .proto files: beside this file in the source tree, in the package's proto/ when compiled (dist/proto/). */
function protoDir(): string {
  return existsSync(join(__dirname, 'qstep', 'v1', 'service.proto')) ? __dirname : join(__dirname, '..', '..', 'proto');
}

export { SERVICE_NAME } from './grpc-service';
export const PROTO_FILE = 'qstep/v1/service.proto';

/** The .proto files as a PackageDefinition, for server reflection only (loaded on first use). */
export function reflectionPackageDefinition(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(PROTO_FILE, { keepCase: true, includeDirs: [protoDir()] });
}

export { generatedService, qstepService, QstepGrpcClient } from './grpc-service';
export type { QstepClient, QstepDefinition, QstepHandlers, Method } from './grpc-service';

/** The contract's enums: the generated value-name objects and their name -> wire number functions. */
const ENUMS: Record<string, { values: Record<string, string>; toNumber: (name: never) => number }> = {
  DType: { values: common.DType, toNumber: common.dTypeToNumber },
  ElementType: { values: common.ElementType, toNumber: common.elementTypeToNumber },
  StateMode: { values: common.StateMode, toNumber: common.stateModeToNumber },
  Optimizer: { values: common.Optimizer, toNumber: common.optimizerToNumber },
  NonFinitePolicy: { values: common.NonFinitePolicy, toNumber: common.nonFinitePolicyToNumber },
  StateFormat: { values: snapshot.StateFormat, toNumber: snapshot.stateFormatToNumber },
  TensorRole: { values: snapshot.TensorRole, toNumber: snapshot.tensorRoleToNumber },
};

/** Value name a decoder gives a wire number the contract does not have (ts-proto's `UNRECOGNIZED`). */
export const UNRECOGNIZED = 'UNRECOGNIZED';

function enumEntry(name: string): (typeof ENUMS)[string] {
  const e = ENUMS[name];
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
  return new Map(enumValues(name).map((v) => [v, e.toNumber(v as never)]));
}

export type * from './messages';
