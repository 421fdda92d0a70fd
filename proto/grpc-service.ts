// The grpc-js side of the generated contract: ts-proto's service description (gen/qstep/v1/service.ts, one entry
// per RPC with its request and response codecs) turned into what grpc-js runs, a ServiceDefinition keyed by the
// .proto's method names (Step, ServerInfo, ...), plus the handler and client types that go with it.
// Senders may leave fields out, as with any protobuf library: a serializer first completes the message with
// the generated `fromPartial` (defaults for scalars), so `X` (what a sender passes) is a DeepPartial of the
// decoded message type `X__Output` (every scalar present, message and oneof fields optional).
// The tensor messages are decoded into views of the received bytes (fast-decode.ts); everything else as generated.

import * as grpc from '@grpc/grpc-js';
import type { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import { QstepDefinition as Generated } from './gen/qstep/v1/service';
import type { DeepPartial } from './gen/qstep/v1/common';
import { hotDecoders } from './fast-decode';

/** What ts-proto generates for each message (encode/decode/fromPartial). */
interface MessageCodec<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
  decode(input: BinaryReader | Uint8Array, length?: number): T;
  fromPartial(object: DeepPartial<T>): T;
}

type Methods = typeof Generated.methods;
type Key = keyof Methods & string;
type In<K extends Key> = Methods[K]['requestType'] extends MessageCodec<infer T> ? T : never;
type Out<K extends Key> = Methods[K]['responseType'] extends MessageCodec<infer T> ? T : never;

/** One RPC as grpc-js runs it: partial messages out, whole decoded messages in. */
export interface Method<Req, Res> {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize: (message: DeepPartial<Req>) => Buffer;
  requestDeserialize: (bytes: Buffer) => Req;
  responseSerialize: (message: DeepPartial<Res>) => Buffer;
  responseDeserialize: (bytes: Buffer) => Res;
  /** The camelCase alias grpc-js adds to a client (client.step beside client.Step). */
  originalName: string;
}

export type QstepDefinition = { [K in Key as Capitalize<K>]: Method<In<K>, Out<K>> };

type Handler<K extends Key> = Methods[K]['requestStream'] extends true
  ? Methods[K]['responseStream'] extends true
    ? grpc.handleBidiStreamingCall<In<K>, DeepPartial<Out<K>>>
    : grpc.handleClientStreamingCall<In<K>, DeepPartial<Out<K>>>
  : Methods[K]['responseStream'] extends true
    ? grpc.handleServerStreamingCall<In<K>, DeepPartial<Out<K>>>
    : grpc.handleUnaryCall<In<K>, DeepPartial<Out<K>>>;

export type QstepHandlers = { [K in Key as Capitalize<K>]: Handler<K> };

type Callback<T> = (err: grpc.ServiceError | null, value?: T) => void;
type Opts = Partial<grpc.CallOptions>;

/** grpc-js's client call shapes (what makeGenericClientConstructor builds), per kind of RPC. */
type ClientMethod<K extends Key, Req = DeepPartial<In<K>>, Res = Out<K>> = Methods[K]['requestStream'] extends true
  ? Methods[K]['responseStream'] extends true
    ? {
        (metadata?: grpc.Metadata, options?: Opts): grpc.ClientDuplexStream<Req, Res>;
        (options?: Opts): grpc.ClientDuplexStream<Req, Res>;
      }
    : {
        (metadata: grpc.Metadata, options: Opts, callback: Callback<Res>): grpc.ClientWritableStream<Req>;
        (metadata: grpc.Metadata, callback: Callback<Res>): grpc.ClientWritableStream<Req>;
        (options: Opts, callback: Callback<Res>): grpc.ClientWritableStream<Req>;
        (callback: Callback<Res>): grpc.ClientWritableStream<Req>;
      }
  : Methods[K]['responseStream'] extends true
    ? {
        (request: Req, metadata?: grpc.Metadata, options?: Opts): grpc.ClientReadableStream<Res>;
        (request: Req, options?: Opts): grpc.ClientReadableStream<Res>;
      }
    : {
        (request: Req, metadata: grpc.Metadata, options: Opts, callback: Callback<Res>): grpc.ClientUnaryCall;
        (request: Req, metadata: grpc.Metadata, callback: Callback<Res>): grpc.ClientUnaryCall;
        (request: Req, options: Opts, callback: Callback<Res>): grpc.ClientUnaryCall;
        (request: Req, callback: Callback<Res>): grpc.ClientUnaryCall;
      };

export type QstepClient = grpc.Client & { [K in Key as Capitalize<K>]: ClientMethod<K> };

function method<Req, Res>(
  service: string,
  m: { name: string; requestType: unknown; responseType: unknown; requestStream: boolean; responseStream: boolean },
): Method<Req, Res> {
  const req = m.requestType as MessageCodec<Req>;
  const res = m.responseType as MessageCodec<Res>;
  return {
    path: `/${service}/${m.name}`,
    requestStream: m.requestStream,
    responseStream: m.responseStream,
    requestSerialize: (v) => Buffer.from(req.encode(req.fromPartial(v)).finish()),
    requestDeserialize: (b) => req.decode(b),
    responseSerialize: (v) => Buffer.from(res.encode(res.fromPartial(v)).finish()),
    responseDeserialize: (b) => res.decode(b),
    originalName: m.name[0].toLowerCase() + m.name.slice(1),
  };
}

export const SERVICE_NAME = Generated.fullName;

/** The service exactly as generated (the codec tests and bench/codec.ts compare against it). */
export const generatedService: QstepDefinition = Object.fromEntries(
  Object.values(Generated.methods).map((m) => [m.name, method(SERVICE_NAME, m)]),
) as unknown as QstepDefinition;

/** The service both ends run: the generated one with view-returning decoders for the tensor messages. */
export const qstepService: QstepDefinition = {
  ...generatedService,
  Step: {
    ...generatedService.Step,
    requestDeserialize: hotDecoders.stepRequest(generatedService.Step.requestDeserialize),
    responseDeserialize: hotDecoders.stepResponse(generatedService.Step.responseDeserialize),
  },
  UploadParameters: {
    ...generatedService.UploadParameters,
    requestDeserialize: hotDecoders.uploadRequest(generatedService.UploadParameters.requestDeserialize),
  },
  Restore: {
    ...generatedService.Restore,
    requestDeserialize: hotDecoders.restoreRequest(generatedService.Restore.requestDeserialize),
  },
  Snapshot: {
    ...generatedService.Snapshot,
    responseDeserialize: hotDecoders.snapshotResponse(generatedService.Snapshot.responseDeserialize),
  },
};

/** The client constructor: `new QstepGrpcClient(address, credentials, options)`. */
export const QstepGrpcClient = grpc.makeGenericClientConstructor(
  qstepService as unknown as grpc.ServiceDefinition,
  SERVICE_NAME,
) as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => QstepClient;
