// The .proto files as a PackageDefinition, for server reflection only: @grpc/reflection serves descriptors from
// proto-loader's PackageDefinition. Everything else runs the generated code (index.ts); this module, and with it
// proto-loader and protobufjs, is loaded only by the server.

import * as protoLoader from '@grpc/proto-loader';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const PROTO_FILE = 'qstep/v1/service.proto';

/** The .proto files: beside this file in the source tree, in the package's proto/ when compiled (dist/proto/). */
function protoDir(): string {
  return existsSync(join(__dirname, 'qstep', 'v1', 'service.proto')) ? __dirname : join(__dirname, '..', '..', 'proto');
}

/** The qstep.v1 package, parsed from the .proto files (field names as written there). */
export function reflectionPackageDefinition(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(PROTO_FILE, { keepCase: true, includeDirs: [protoDir()] });
}
