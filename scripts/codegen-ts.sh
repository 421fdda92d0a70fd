#!/usr/bin/env bash
# TypeScript for the qstep.v1 contract (proto/gen/) from proto/qstep/v1/*.proto: Debian's protoc driving ts-proto's
# plugin from node_modules. The generated messages, codecs and grpc-js service definition are what server/ and
# client/ run (proto/index.ts); proto/write-barrel.cjs then writes the barrel proto/messages.ts.
# The options keep the runtime shapes the code was written against: uint64 as numbers (every such field stays
# below 2^53 except StepHeader.step_id, which is [jstype = JS_STRING] and so an exact decimal string), enums as
# their value names, `bytes` as Buffers, message and oneof fields optional, scalars always present on decode.
# The output is committed; .ci/run regenerates it and fails when anything differs.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v protoc >/dev/null || { echo "codegen: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
plugin=node_modules/.bin/protoc-gen-ts_proto
[ -x "$plugin" ] || { echo "codegen: $plugin not found (npm install)" >&2; exit 1; }

opts=(
  outputServices=generic-definitions
  env=node
  forceLong=number
  useJsTypeOverride=true
  stringEnums=true
  enumsAsLiterals=true
  useOptionals=messages
  oneof=properties
  esModuleInterop=true
  outputJsonMethods=false
  useExactTypes=false
  lowerCaseServiceMethods=false
)
rm -rf proto/gen
mkdir -p proto/gen
protoc -I proto --plugin=protoc-gen-ts_proto="$plugin" --ts_proto_out=proto/gen \
  --ts_proto_opt="$(IFS=,; echo "${opts[*]}")" proto/qstep/v1/*.proto
node proto/write-barrel.cjs
node_modules/.bin/prettier --log-level warn --write proto/messages.ts
echo "codegen: $(ls proto/gen/qstep/v1 | wc -l) files in proto/gen/qstep/v1 ($(protoc --version), ts-proto $(node -p "require('ts-proto/package.json').version"))"
