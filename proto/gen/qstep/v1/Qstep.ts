// Original file: proto/qstep/v1/service.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { CheckpointRequest as _qstep_v1_CheckpointRequest, CheckpointRequest__Output as _qstep_v1_CheckpointRequest__Output } from '../../qstep/v1/CheckpointRequest';
import type { CheckpointResponse as _qstep_v1_CheckpointResponse, CheckpointResponse__Output as _qstep_v1_CheckpointResponse__Output } from '../../qstep/v1/CheckpointResponse';
import type { CreateModelRequest as _qstep_v1_CreateModelRequest, CreateModelRequest__Output as _qstep_v1_CreateModelRequest__Output } from '../../qstep/v1/CreateModelRequest';
import type { CreateModelResponse as _qstep_v1_CreateModelResponse, CreateModelResponse__Output as _qstep_v1_CreateModelResponse__Output } from '../../qstep/v1/CreateModelResponse';
import type { DeleteModelRequest as _qstep_v1_DeleteModelRequest, DeleteModelRequest__Output as _qstep_v1_DeleteModelRequest__Output } from '../../qstep/v1/DeleteModelRequest';
import type { DeleteModelResponse as _qstep_v1_DeleteModelResponse, DeleteModelResponse__Output as _qstep_v1_DeleteModelResponse__Output } from '../../qstep/v1/DeleteModelResponse';
import type { DescribeRequest as _qstep_v1_DescribeRequest, DescribeRequest__Output as _qstep_v1_DescribeRequest__Output } from '../../qstep/v1/DescribeRequest';
import type { DescribeResponse as _qstep_v1_DescribeResponse, DescribeResponse__Output as _qstep_v1_DescribeResponse__Output } from '../../qstep/v1/DescribeResponse';
import type { ListModelsRequest as _qstep_v1_ListModelsRequest, ListModelsRequest__Output as _qstep_v1_ListModelsRequest__Output } from '../../qstep/v1/ListModelsRequest';
import type { ListModelsResponse as _qstep_v1_ListModelsResponse, ListModelsResponse__Output as _qstep_v1_ListModelsResponse__Output } from '../../qstep/v1/ListModelsResponse';
import type { RestoreRequest as _qstep_v1_RestoreRequest, RestoreRequest__Output as _qstep_v1_RestoreRequest__Output } from '../../qstep/v1/RestoreRequest';
import type { RestoreResponse as _qstep_v1_RestoreResponse, RestoreResponse__Output as _qstep_v1_RestoreResponse__Output } from '../../qstep/v1/RestoreResponse';
import type { ServerInfoRequest as _qstep_v1_ServerInfoRequest, ServerInfoRequest__Output as _qstep_v1_ServerInfoRequest__Output } from '../../qstep/v1/ServerInfoRequest';
import type { ServerInfoResponse as _qstep_v1_ServerInfoResponse, ServerInfoResponse__Output as _qstep_v1_ServerInfoResponse__Output } from '../../qstep/v1/ServerInfoResponse';
import type { SnapshotRequest as _qstep_v1_SnapshotRequest, SnapshotRequest__Output as _qstep_v1_SnapshotRequest__Output } from '../../qstep/v1/SnapshotRequest';
import type { SnapshotResponse as _qstep_v1_SnapshotResponse, SnapshotResponse__Output as _qstep_v1_SnapshotResponse__Output } from '../../qstep/v1/SnapshotResponse';
import type { StepRequest as _qstep_v1_StepRequest, StepRequest__Output as _qstep_v1_StepRequest__Output } from '../../qstep/v1/StepRequest';
import type { StepResponse as _qstep_v1_StepResponse, StepResponse__Output as _qstep_v1_StepResponse__Output } from '../../qstep/v1/StepResponse';
import type { UploadRequest as _qstep_v1_UploadRequest, UploadRequest__Output as _qstep_v1_UploadRequest__Output } from '../../qstep/v1/UploadRequest';
import type { UploadResponse as _qstep_v1_UploadResponse, UploadResponse__Output as _qstep_v1_UploadResponse__Output } from '../../qstep/v1/UploadResponse';

export interface QstepClient extends grpc.Client {
  Checkpoint(argument: _qstep_v1_CheckpointRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_CheckpointResponse__Output>): grpc.ClientUnaryCall;
  Checkpoint(argument: _qstep_v1_CheckpointRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_qstep_v1_CheckpointResponse__Output>): grpc.ClientUnaryCall;
  Checkpoint(argument: _qstep_v1_CheckpointRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_CheckpointResponse__Output>): grpc.ClientUnaryCall;
  Checkpoint(argument: _qstep_v1_CheckpointRequest, callback: grpc.requestCallback<_qstep_v1_CheckpointResponse__Output>): grpc.ClientUnaryCall;
  checkpoint(argument: _qstep_v1_CheckpointRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_CheckpointResponse__Output>): grpc.ClientUnaryCall;
  checkpoint(argument: _qstep_v1_CheckpointRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_qstep_v1_CheckpointResponse__Output>): grpc.ClientUnaryCall;
  checkpoint(argument: _qstep_v1_CheckpointRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_CheckpointResponse__Output>): grpc.ClientUnaryCall;
  checkpoint(argument: _qstep_v1_CheckpointRequest, callback: grpc.requestCallback<_qstep_v1_CheckpointResponse__Output>): grpc.ClientUnaryCall;
  
  CreateModel(argument: _qstep_v1_CreateModelRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_CreateModelResponse__Output>): grpc.ClientUnaryCall;
  CreateModel(argument: _qstep_v1_CreateModelRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_qstep_v1_CreateModelResponse__Output>): grpc.ClientUnaryCall;
  CreateModel(argument: _qstep_v1_CreateModelRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_CreateModelResponse__Output>): grpc.ClientUnaryCall;
  CreateModel(argument: _qstep_v1_CreateModelRequest, callback: grpc.requestCallback<_qstep_v1_CreateModelResponse__Output>): grpc.ClientUnaryCall;
  createModel(argument: _qstep_v1_CreateModelRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_CreateModelResponse__Output>): grpc.ClientUnaryCall;
  createModel(argument: _qstep_v1_CreateModelRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_qstep_v1_CreateModelResponse__Output>): grpc.ClientUnaryCall;
  createModel(argument: _qstep_v1_CreateModelRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_CreateModelResponse__Output>): grpc.ClientUnaryCall;
  createModel(argument: _qstep_v1_CreateModelRequest, callback: grpc.requestCallback<_qstep_v1_CreateModelResponse__Output>): grpc.ClientUnaryCall;
  
  CreateModelStream(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_CreateModelResponse__Output>): grpc.ClientWritableStream<_qstep_v1_CreateModelRequest>;
  CreateModelStream(metadata: grpc.Metadata, callback: grpc.requestCallback<_qstep_v1_CreateModelResponse__Output>): grpc.ClientWritableStream<_qstep_v1_CreateModelRequest>;
  CreateModelStream(options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_CreateModelResponse__Output>): grpc.ClientWritableStream<_qstep_v1_CreateModelRequest>;
  CreateModelStream(callback: grpc.requestCallback<_qstep_v1_CreateModelResponse__Output>): grpc.ClientWritableStream<_qstep_v1_CreateModelRequest>;
  createModelStream(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_CreateModelResponse__Output>): grpc.ClientWritableStream<_qstep_v1_CreateModelRequest>;
  createModelStream(metadata: grpc.Metadata, callback: grpc.requestCallback<_qstep_v1_CreateModelResponse__Output>): grpc.ClientWritableStream<_qstep_v1_CreateModelRequest>;
  createModelStream(options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_CreateModelResponse__Output>): grpc.ClientWritableStream<_qstep_v1_CreateModelRequest>;
  createModelStream(callback: grpc.requestCallback<_qstep_v1_CreateModelResponse__Output>): grpc.ClientWritableStream<_qstep_v1_CreateModelRequest>;
  
  DeleteModel(argument: _qstep_v1_DeleteModelRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_DeleteModelResponse__Output>): grpc.ClientUnaryCall;
  DeleteModel(argument: _qstep_v1_DeleteModelRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_qstep_v1_DeleteModelResponse__Output>): grpc.ClientUnaryCall;
  DeleteModel(argument: _qstep_v1_DeleteModelRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_DeleteModelResponse__Output>): grpc.ClientUnaryCall;
  DeleteModel(argument: _qstep_v1_DeleteModelRequest, callback: grpc.requestCallback<_qstep_v1_DeleteModelResponse__Output>): grpc.ClientUnaryCall;
  deleteModel(argument: _qstep_v1_DeleteModelRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_DeleteModelResponse__Output>): grpc.ClientUnaryCall;
  deleteModel(argument: _qstep_v1_DeleteModelRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_qstep_v1_DeleteModelResponse__Output>): grpc.ClientUnaryCall;
  deleteModel(argument: _qstep_v1_DeleteModelRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_DeleteModelResponse__Output>): grpc.ClientUnaryCall;
  deleteModel(argument: _qstep_v1_DeleteModelRequest, callback: grpc.requestCallback<_qstep_v1_DeleteModelResponse__Output>): grpc.ClientUnaryCall;
  
  Describe(argument: _qstep_v1_DescribeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_DescribeResponse__Output>): grpc.ClientUnaryCall;
  Describe(argument: _qstep_v1_DescribeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_qstep_v1_DescribeResponse__Output>): grpc.ClientUnaryCall;
  Describe(argument: _qstep_v1_DescribeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_DescribeResponse__Output>): grpc.ClientUnaryCall;
  Describe(argument: _qstep_v1_DescribeRequest, callback: grpc.requestCallback<_qstep_v1_DescribeResponse__Output>): grpc.ClientUnaryCall;
  describe(argument: _qstep_v1_DescribeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_DescribeResponse__Output>): grpc.ClientUnaryCall;
  describe(argument: _qstep_v1_DescribeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_qstep_v1_DescribeResponse__Output>): grpc.ClientUnaryCall;
  describe(argument: _qstep_v1_DescribeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_DescribeResponse__Output>): grpc.ClientUnaryCall;
  describe(argument: _qstep_v1_DescribeRequest, callback: grpc.requestCallback<_qstep_v1_DescribeResponse__Output>): grpc.ClientUnaryCall;
  
  ListModels(argument: _qstep_v1_ListModelsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_ListModelsResponse__Output>): grpc.ClientUnaryCall;
  ListModels(argument: _qstep_v1_ListModelsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_qstep_v1_ListModelsResponse__Output>): grpc.ClientUnaryCall;
  ListModels(argument: _qstep_v1_ListModelsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_ListModelsResponse__Output>): grpc.ClientUnaryCall;
  ListModels(argument: _qstep_v1_ListModelsRequest, callback: grpc.requestCallback<_qstep_v1_ListModelsResponse__Output>): grpc.ClientUnaryCall;
  listModels(argument: _qstep_v1_ListModelsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_ListModelsResponse__Output>): grpc.ClientUnaryCall;
  listModels(argument: _qstep_v1_ListModelsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_qstep_v1_ListModelsResponse__Output>): grpc.ClientUnaryCall;
  listModels(argument: _qstep_v1_ListModelsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_ListModelsResponse__Output>): grpc.ClientUnaryCall;
  listModels(argument: _qstep_v1_ListModelsRequest, callback: grpc.requestCallback<_qstep_v1_ListModelsResponse__Output>): grpc.ClientUnaryCall;
  
  Restore(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_RestoreResponse__Output>): grpc.ClientWritableStream<_qstep_v1_RestoreRequest>;
  Restore(metadata: grpc.Metadata, callback: grpc.requestCallback<_qstep_v1_RestoreResponse__Output>): grpc.ClientWritableStream<_qstep_v1_RestoreRequest>;
  Restore(options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_RestoreResponse__Output>): grpc.ClientWritableStream<_qstep_v1_RestoreRequest>;
  Restore(callback: grpc.requestCallback<_qstep_v1_RestoreResponse__Output>): grpc.ClientWritableStream<_qstep_v1_RestoreRequest>;
  restore(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_RestoreResponse__Output>): grpc.ClientWritableStream<_qstep_v1_RestoreRequest>;
  restore(metadata: grpc.Metadata, callback: grpc.requestCallback<_qstep_v1_RestoreResponse__Output>): grpc.ClientWritableStream<_qstep_v1_RestoreRequest>;
  restore(options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_RestoreResponse__Output>): grpc.ClientWritableStream<_qstep_v1_RestoreRequest>;
  restore(callback: grpc.requestCallback<_qstep_v1_RestoreResponse__Output>): grpc.ClientWritableStream<_qstep_v1_RestoreRequest>;
  
  ServerInfo(argument: _qstep_v1_ServerInfoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_ServerInfoResponse__Output>): grpc.ClientUnaryCall;
  ServerInfo(argument: _qstep_v1_ServerInfoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_qstep_v1_ServerInfoResponse__Output>): grpc.ClientUnaryCall;
  ServerInfo(argument: _qstep_v1_ServerInfoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_ServerInfoResponse__Output>): grpc.ClientUnaryCall;
  ServerInfo(argument: _qstep_v1_ServerInfoRequest, callback: grpc.requestCallback<_qstep_v1_ServerInfoResponse__Output>): grpc.ClientUnaryCall;
  serverInfo(argument: _qstep_v1_ServerInfoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_ServerInfoResponse__Output>): grpc.ClientUnaryCall;
  serverInfo(argument: _qstep_v1_ServerInfoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_qstep_v1_ServerInfoResponse__Output>): grpc.ClientUnaryCall;
  serverInfo(argument: _qstep_v1_ServerInfoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_ServerInfoResponse__Output>): grpc.ClientUnaryCall;
  serverInfo(argument: _qstep_v1_ServerInfoRequest, callback: grpc.requestCallback<_qstep_v1_ServerInfoResponse__Output>): grpc.ClientUnaryCall;
  
  Snapshot(argument: _qstep_v1_SnapshotRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_qstep_v1_SnapshotResponse__Output>;
  Snapshot(argument: _qstep_v1_SnapshotRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_qstep_v1_SnapshotResponse__Output>;
  snapshot(argument: _qstep_v1_SnapshotRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_qstep_v1_SnapshotResponse__Output>;
  snapshot(argument: _qstep_v1_SnapshotRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_qstep_v1_SnapshotResponse__Output>;
  
  Step(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_qstep_v1_StepRequest, _qstep_v1_StepResponse__Output>;
  Step(options?: grpc.CallOptions): grpc.ClientDuplexStream<_qstep_v1_StepRequest, _qstep_v1_StepResponse__Output>;
  step(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_qstep_v1_StepRequest, _qstep_v1_StepResponse__Output>;
  step(options?: grpc.CallOptions): grpc.ClientDuplexStream<_qstep_v1_StepRequest, _qstep_v1_StepResponse__Output>;
  
  UploadParameters(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_UploadResponse__Output>): grpc.ClientWritableStream<_qstep_v1_UploadRequest>;
  UploadParameters(metadata: grpc.Metadata, callback: grpc.requestCallback<_qstep_v1_UploadResponse__Output>): grpc.ClientWritableStream<_qstep_v1_UploadRequest>;
  UploadParameters(options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_UploadResponse__Output>): grpc.ClientWritableStream<_qstep_v1_UploadRequest>;
  UploadParameters(callback: grpc.requestCallback<_qstep_v1_UploadResponse__Output>): grpc.ClientWritableStream<_qstep_v1_UploadRequest>;
  uploadParameters(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_UploadResponse__Output>): grpc.ClientWritableStream<_qstep_v1_UploadRequest>;
  uploadParameters(metadata: grpc.Metadata, callback: grpc.requestCallback<_qstep_v1_UploadResponse__Output>): grpc.ClientWritableStream<_qstep_v1_UploadRequest>;
  uploadParameters(options: grpc.CallOptions, callback: grpc.requestCallback<_qstep_v1_UploadResponse__Output>): grpc.ClientWritableStream<_qstep_v1_UploadRequest>;
  uploadParameters(callback: grpc.requestCallback<_qstep_v1_UploadResponse__Output>): grpc.ClientWritableStream<_qstep_v1_UploadRequest>;
  
}

export interface QstepHandlers extends grpc.UntypedServiceImplementation {
  Checkpoint: grpc.handleUnaryCall<_qstep_v1_CheckpointRequest__Output, _qstep_v1_CheckpointResponse>;
  
  CreateModel: grpc.handleUnaryCall<_qstep_v1_CreateModelRequest__Output, _qstep_v1_CreateModelResponse>;
  
  CreateModelStream: grpc.handleClientStreamingCall<_qstep_v1_CreateModelRequest__Output, _qstep_v1_CreateModelResponse>;
  
  DeleteModel: grpc.handleUnaryCall<_qstep_v1_DeleteModelRequest__Output, _qstep_v1_DeleteModelResponse>;
  
  Describe: grpc.handleUnaryCall<_qstep_v1_DescribeRequest__Output, _qstep_v1_DescribeResponse>;
  
  ListModels: grpc.handleUnaryCall<_qstep_v1_ListModelsRequest__Output, _qstep_v1_ListModelsResponse>;
  
  Restore: grpc.handleClientStreamingCall<_qstep_v1_RestoreRequest__Output, _qstep_v1_RestoreResponse>;
  
  ServerInfo: grpc.handleUnaryCall<_qstep_v1_ServerInfoRequest__Output, _qstep_v1_ServerInfoResponse>;
  
  Snapshot: grpc.handleServerStreamingCall<_qstep_v1_SnapshotRequest__Output, _qstep_v1_SnapshotResponse>;
  
  Step: grpc.handleBidiStreamingCall<_qstep_v1_StepRequest__Output, _qstep_v1_StepResponse>;
  
  UploadParameters: grpc.handleClientStreamingCall<_qstep_v1_UploadRequest__Output, _qstep_v1_UploadResponse>;
  
}

export interface QstepDefinition extends grpc.ServiceDefinition {
  Checkpoint: MethodDefinition<_qstep_v1_CheckpointRequest, _qstep_v1_CheckpointResponse, _qstep_v1_CheckpointRequest__Output, _qstep_v1_CheckpointResponse__Output>
  CreateModel: MethodDefinition<_qstep_v1_CreateModelRequest, _qstep_v1_CreateModelResponse, _qstep_v1_CreateModelRequest__Output, _qstep_v1_CreateModelResponse__Output>
  CreateModelStream: MethodDefinition<_qstep_v1_CreateModelRequest, _qstep_v1_CreateModelResponse, _qstep_v1_CreateModelRequest__Output, _qstep_v1_CreateModelResponse__Output>
  DeleteModel: MethodDefinition<_qstep_v1_DeleteModelRequest, _qstep_v1_DeleteModelResponse, _qstep_v1_DeleteModelRequest__Output, _qstep_v1_DeleteModelResponse__Output>
  Describe: MethodDefinition<_qstep_v1_DescribeRequest, _qstep_v1_DescribeResponse, _qstep_v1_DescribeRequest__Output, _qstep_v1_DescribeResponse__Output>
  ListModels: MethodDefinition<_qstep_v1_ListModelsRequest, _qstep_v1_ListModelsResponse, _qstep_v1_ListModelsRequest__Output, _qstep_v1_ListModelsResponse__Output>
  Restore: MethodDefinition<_qstep_v1_RestoreRequest, _qstep_v1_RestoreResponse, _qstep_v1_RestoreRequest__Output, _qstep_v1_RestoreResponse__Output>
  ServerInfo: MethodDefinition<_qstep_v1_ServerInfoRequest, _qstep_v1_ServerInfoResponse, _qstep_v1_ServerInfoRequest__Output, _qstep_v1_ServerInfoResponse__Output>
  Snapshot: MethodDefinition<_qstep_v1_SnapshotRequest, _qstep_v1_SnapshotResponse, _qstep_v1_SnapshotRequest__Output, _qstep_v1_SnapshotResponse__Output>
  Step: MethodDefinition<_qstep_v1_StepRequest, _qstep_v1_StepResponse, _qstep_v1_StepRequest__Output, _qstep_v1_StepResponse__Output>
  UploadParameters: MethodDefinition<_qstep_v1_UploadRequest, _qstep_v1_UploadResponse, _qstep_v1_UploadRequest__Output, _qstep_v1_UploadResponse__Output>
}
