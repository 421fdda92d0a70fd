// The qstep.v1 contract at run time, shared by server/ and client/: the .proto files loaded once with the
// options that the generated types in gen/ assume (`npm run codegen` writes gen/; never edit it by hand).
// protobufjs decodes `bytes` fields as views of grpc-js's receive buffer, so tensor data is not copied again.

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ProtoGrpcType } from './gen/service';
import type { QstepClient, QstepDefinition } from './gen/qstep/v1/Qstep';

/** The .proto files: beside this file in the source tree, in the package's proto/ when compiled (dist/proto/). */
function protoDir(): string {
  return existsSync(join(__dirname, 'qstep', 'v1', 'service.proto')) ? __dirname : join(__dirname, '..', '..', 'proto');
}

/** Must match the flags of the `codegen` script (longs=Number, enums=String, defaults, oneofs). */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [protoDir()],
};

export const SERVICE_NAME = 'qstep.v1.Qstep';
export const PROTO_FILE = 'qstep/v1/service.proto';

export const packageDefinition: protoLoader.PackageDefinition = protoLoader.loadSync(PROTO_FILE, LOADER_OPTIONS);

const loaded = grpc.loadPackageDefinition(packageDefinition) as unknown as ProtoGrpcType;

export const qstepService: QstepDefinition = loaded.qstep.v1.Qstep.service;

/** The generated client constructor: `new QstepGrpcClient(address, credentials, options)`. */
export const QstepGrpcClient = loaded.qstep.v1.Qstep;
export type { QstepClient, QstepDefinition };
export type { QstepHandlers } from './gen/qstep/v1/Qstep';

function enumDescriptor(name: string): { name: string; number: number }[] {
  const def = packageDefinition[`qstep.v1.${name}`] as protoLoader.EnumTypeDefinition | undefined;
  if (!def || def.format !== 'Protocol Buffer 3 EnumDescriptorProto') throw new Error(`no enum qstep.v1.${name}`);
  return (def.type as { value: { name: string; number: number }[] }).value;
}

/** Names of an enum's values in declaration order (read from the loaded descriptor, never retyped). */
export function enumValues(name: string): string[] {
  return enumDescriptor(name).map((v) => v.name);
}

/** Wire numbers of an enum's values by name. */
export function enumNumbers(name: string): Map<string, number> {
  return new Map(enumDescriptor(name).map((v) => [v.name, v.number]));
}

export type * from './messages';
