import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { BackendTotals as _qstep_v1_BackendTotals, BackendTotals__Output as _qstep_v1_BackendTotals__Output } from './qstep/v1/BackendTotals';
import type { Capabilities as _qstep_v1_Capabilities, Capabilities__Output as _qstep_v1_Capabilities__Output } from './qstep/v1/Capabilities';
import type { CheckpointPolicy as _qstep_v1_CheckpointPolicy, CheckpointPolicy__Output as _qstep_v1_CheckpointPolicy__Output } from './qstep/v1/CheckpointPolicy';
import type { CheckpointRequest as _qstep_v1_CheckpointRequest, CheckpointRequest__Output as _qstep_v1_CheckpointRequest__Output } from './qstep/v1/CheckpointRequest';
import type { CheckpointResponse as _qstep_v1_CheckpointResponse, CheckpointResponse__Output as _qstep_v1_CheckpointResponse__Output } from './qstep/v1/CheckpointResponse';
import type { CreateModelRequest as _qstep_v1_CreateModelRequest, CreateModelRequest__Output as _qstep_v1_CreateModelRequest__Output } from './qstep/v1/CreateModelRequest';
import type { CreateModelResponse as _qstep_v1_CreateModelResponse, CreateModelResponse__Output as _qstep_v1_CreateModelResponse__Output } from './qstep/v1/CreateModelResponse';
import type { DeleteModelRequest as _qstep_v1_DeleteModelRequest, DeleteModelRequest__Output as _qstep_v1_DeleteModelRequest__Output } from './qstep/v1/DeleteModelRequest';
import type { DeleteModelResponse as _qstep_v1_DeleteModelResponse, DeleteModelResponse__Output as _qstep_v1_DeleteModelResponse__Output } from './qstep/v1/DeleteModelResponse';
import type { DescribeRequest as _qstep_v1_DescribeRequest, DescribeRequest__Output as _qstep_v1_DescribeRequest__Output } from './qstep/v1/DescribeRequest';
import type { DescribeResponse as _qstep_v1_DescribeResponse, DescribeResponse__Output as _qstep_v1_DescribeResponse__Output } from './qstep/v1/DescribeResponse';
import type { DeviceInfo as _qstep_v1_DeviceInfo, DeviceInfo__Output as _qstep_v1_DeviceInfo__Output } from './qstep/v1/DeviceInfo';
import type { GradientSpec as _qstep_v1_GradientSpec, GradientSpec__Output as _qstep_v1_GradientSpec__Output } from './qstep/v1/GradientSpec';
import type { Hyperparameters as _qstep_v1_Hyperparameters, Hyperparameters__Output as _qstep_v1_Hyperparameters__Output } from './qstep/v1/Hyperparameters';
import type { LaneSlice as _qstep_v1_LaneSlice, LaneSlice__Output as _qstep_v1_LaneSlice__Output } from './qstep/v1/LaneSlice';
import type { Layout as _qstep_v1_Layout, Layout__Output as _qstep_v1_Layout__Output } from './qstep/v1/Layout';
import type { Limits as _qstep_v1_Limits, Limits__Output as _qstep_v1_Limits__Output } from './qstep/v1/Limits';
import type { ListModelsRequest as _qstep_v1_ListModelsRequest, ListModelsRequest__Output as _qstep_v1_ListModelsRequest__Output } from './qstep/v1/ListModelsRequest';
import type { ListModelsResponse as _qstep_v1_ListModelsResponse, ListModelsResponse__Output as _qstep_v1_ListModelsResponse__Output } from './qstep/v1/ListModelsResponse';
import type { MemoryBytes as _qstep_v1_MemoryBytes, MemoryBytes__Output as _qstep_v1_MemoryBytes__Output } from './qstep/v1/MemoryBytes';
import type { ModelDescription as _qstep_v1_ModelDescription, ModelDescription__Output as _qstep_v1_ModelDescription__Output } from './qstep/v1/ModelDescription';
import type { ModelSummary as _qstep_v1_ModelSummary, ModelSummary__Output as _qstep_v1_ModelSummary__Output } from './qstep/v1/ModelSummary';
import type { OptimizerCapability as _qstep_v1_OptimizerCapability, OptimizerCapability__Output as _qstep_v1_OptimizerCapability__Output } from './qstep/v1/OptimizerCapability';
import type { OptimizerConfig as _qstep_v1_OptimizerConfig, OptimizerConfig__Output as _qstep_v1_OptimizerConfig__Output } from './qstep/v1/OptimizerConfig';
import type { ParamDescription as _qstep_v1_ParamDescription, ParamDescription__Output as _qstep_v1_ParamDescription__Output } from './qstep/v1/ParamDescription';
import type { ParamOverride as _qstep_v1_ParamOverride, ParamOverride__Output as _qstep_v1_ParamOverride__Output } from './qstep/v1/ParamOverride';
import type { ParamResult as _qstep_v1_ParamResult, ParamResult__Output as _qstep_v1_ParamResult__Output } from './qstep/v1/ParamResult';
import type { ParamSnapshot as _qstep_v1_ParamSnapshot, ParamSnapshot__Output as _qstep_v1_ParamSnapshot__Output } from './qstep/v1/ParamSnapshot';
import type { ParameterSpec as _qstep_v1_ParameterSpec, ParameterSpec__Output as _qstep_v1_ParameterSpec__Output } from './qstep/v1/ParameterSpec';
import type { QstepClient as _qstep_v1_QstepClient, QstepDefinition as _qstep_v1_QstepDefinition } from './qstep/v1/Qstep';
import type { RestoreHeader as _qstep_v1_RestoreHeader, RestoreHeader__Output as _qstep_v1_RestoreHeader__Output } from './qstep/v1/RestoreHeader';
import type { RestoreRequest as _qstep_v1_RestoreRequest, RestoreRequest__Output as _qstep_v1_RestoreRequest__Output } from './qstep/v1/RestoreRequest';
import type { RestoreResponse as _qstep_v1_RestoreResponse, RestoreResponse__Output as _qstep_v1_RestoreResponse__Output } from './qstep/v1/RestoreResponse';
import type { ServerInfoRequest as _qstep_v1_ServerInfoRequest, ServerInfoRequest__Output as _qstep_v1_ServerInfoRequest__Output } from './qstep/v1/ServerInfoRequest';
import type { ServerInfoResponse as _qstep_v1_ServerInfoResponse, ServerInfoResponse__Output as _qstep_v1_ServerInfoResponse__Output } from './qstep/v1/ServerInfoResponse';
import type { SnapshotHeader as _qstep_v1_SnapshotHeader, SnapshotHeader__Output as _qstep_v1_SnapshotHeader__Output } from './qstep/v1/SnapshotHeader';
import type { SnapshotHeaderMore as _qstep_v1_SnapshotHeaderMore, SnapshotHeaderMore__Output as _qstep_v1_SnapshotHeaderMore__Output } from './qstep/v1/SnapshotHeaderMore';
import type { SnapshotRequest as _qstep_v1_SnapshotRequest, SnapshotRequest__Output as _qstep_v1_SnapshotRequest__Output } from './qstep/v1/SnapshotRequest';
import type { SnapshotResponse as _qstep_v1_SnapshotResponse, SnapshotResponse__Output as _qstep_v1_SnapshotResponse__Output } from './qstep/v1/SnapshotResponse';
import type { StepCommit as _qstep_v1_StepCommit, StepCommit__Output as _qstep_v1_StepCommit__Output } from './qstep/v1/StepCommit';
import type { StepHeader as _qstep_v1_StepHeader, StepHeader__Output as _qstep_v1_StepHeader__Output } from './qstep/v1/StepHeader';
import type { StepHeaderMore as _qstep_v1_StepHeaderMore, StepHeaderMore__Output as _qstep_v1_StepHeaderMore__Output } from './qstep/v1/StepHeaderMore';
import type { StepLane as _qstep_v1_StepLane, StepLane__Output as _qstep_v1_StepLane__Output } from './qstep/v1/StepLane';
import type { StepRequest as _qstep_v1_StepRequest, StepRequest__Output as _qstep_v1_StepRequest__Output } from './qstep/v1/StepRequest';
import type { StepResponse as _qstep_v1_StepResponse, StepResponse__Output as _qstep_v1_StepResponse__Output } from './qstep/v1/StepResponse';
import type { StepResult as _qstep_v1_StepResult, StepResult__Output as _qstep_v1_StepResult__Output } from './qstep/v1/StepResult';
import type { StepResultMore as _qstep_v1_StepResultMore, StepResultMore__Output as _qstep_v1_StepResultMore__Output } from './qstep/v1/StepResultMore';
import type { TensorChunk as _qstep_v1_TensorChunk, TensorChunk__Output as _qstep_v1_TensorChunk__Output } from './qstep/v1/TensorChunk';
import type { TensorData as _qstep_v1_TensorData, TensorData__Output as _qstep_v1_TensorData__Output } from './qstep/v1/TensorData';
import type { TensorDescriptor as _qstep_v1_TensorDescriptor, TensorDescriptor__Output as _qstep_v1_TensorDescriptor__Output } from './qstep/v1/TensorDescriptor';
import type { UploadHeader as _qstep_v1_UploadHeader, UploadHeader__Output as _qstep_v1_UploadHeader__Output } from './qstep/v1/UploadHeader';
import type { UploadRequest as _qstep_v1_UploadRequest, UploadRequest__Output as _qstep_v1_UploadRequest__Output } from './qstep/v1/UploadRequest';
import type { UploadResponse as _qstep_v1_UploadResponse, UploadResponse__Output as _qstep_v1_UploadResponse__Output } from './qstep/v1/UploadResponse';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  qstep: {
    v1: {
      BackendTotals: MessageTypeDefinition<_qstep_v1_BackendTotals, _qstep_v1_BackendTotals__Output>
      Capabilities: MessageTypeDefinition<_qstep_v1_Capabilities, _qstep_v1_Capabilities__Output>
      CheckpointPolicy: MessageTypeDefinition<_qstep_v1_CheckpointPolicy, _qstep_v1_CheckpointPolicy__Output>
      CheckpointRequest: MessageTypeDefinition<_qstep_v1_CheckpointRequest, _qstep_v1_CheckpointRequest__Output>
      CheckpointResponse: MessageTypeDefinition<_qstep_v1_CheckpointResponse, _qstep_v1_CheckpointResponse__Output>
      CreateModelRequest: MessageTypeDefinition<_qstep_v1_CreateModelRequest, _qstep_v1_CreateModelRequest__Output>
      CreateModelResponse: MessageTypeDefinition<_qstep_v1_CreateModelResponse, _qstep_v1_CreateModelResponse__Output>
      DType: EnumTypeDefinition
      DeleteModelRequest: MessageTypeDefinition<_qstep_v1_DeleteModelRequest, _qstep_v1_DeleteModelRequest__Output>
      DeleteModelResponse: MessageTypeDefinition<_qstep_v1_DeleteModelResponse, _qstep_v1_DeleteModelResponse__Output>
      DescribeRequest: MessageTypeDefinition<_qstep_v1_DescribeRequest, _qstep_v1_DescribeRequest__Output>
      DescribeResponse: MessageTypeDefinition<_qstep_v1_DescribeResponse, _qstep_v1_DescribeResponse__Output>
      DeviceInfo: MessageTypeDefinition<_qstep_v1_DeviceInfo, _qstep_v1_DeviceInfo__Output>
      ElementType: EnumTypeDefinition
      GradientSpec: MessageTypeDefinition<_qstep_v1_GradientSpec, _qstep_v1_GradientSpec__Output>
      Hyperparameters: MessageTypeDefinition<_qstep_v1_Hyperparameters, _qstep_v1_Hyperparameters__Output>
      LaneSlice: MessageTypeDefinition<_qstep_v1_LaneSlice, _qstep_v1_LaneSlice__Output>
      Layout: MessageTypeDefinition<_qstep_v1_Layout, _qstep_v1_Layout__Output>
      Limits: MessageTypeDefinition<_qstep_v1_Limits, _qstep_v1_Limits__Output>
      ListModelsRequest: MessageTypeDefinition<_qstep_v1_ListModelsRequest, _qstep_v1_ListModelsRequest__Output>
      ListModelsResponse: MessageTypeDefinition<_qstep_v1_ListModelsResponse, _qstep_v1_ListModelsResponse__Output>
      MemoryBytes: MessageTypeDefinition<_qstep_v1_MemoryBytes, _qstep_v1_MemoryBytes__Output>
      ModelDescription: MessageTypeDefinition<_qstep_v1_ModelDescription, _qstep_v1_ModelDescription__Output>
      ModelSummary: MessageTypeDefinition<_qstep_v1_ModelSummary, _qstep_v1_ModelSummary__Output>
      NonFinitePolicy: EnumTypeDefinition
      Optimizer: EnumTypeDefinition
      OptimizerCapability: MessageTypeDefinition<_qstep_v1_OptimizerCapability, _qstep_v1_OptimizerCapability__Output>
      OptimizerConfig: MessageTypeDefinition<_qstep_v1_OptimizerConfig, _qstep_v1_OptimizerConfig__Output>
      ParamDescription: MessageTypeDefinition<_qstep_v1_ParamDescription, _qstep_v1_ParamDescription__Output>
      ParamOverride: MessageTypeDefinition<_qstep_v1_ParamOverride, _qstep_v1_ParamOverride__Output>
      ParamResult: MessageTypeDefinition<_qstep_v1_ParamResult, _qstep_v1_ParamResult__Output>
      ParamSnapshot: MessageTypeDefinition<_qstep_v1_ParamSnapshot, _qstep_v1_ParamSnapshot__Output>
      ParameterSpec: MessageTypeDefinition<_qstep_v1_ParameterSpec, _qstep_v1_ParameterSpec__Output>
      Qstep: SubtypeConstructor<typeof grpc.Client, _qstep_v1_QstepClient> & { service: _qstep_v1_QstepDefinition }
      RestoreHeader: MessageTypeDefinition<_qstep_v1_RestoreHeader, _qstep_v1_RestoreHeader__Output>
      RestoreRequest: MessageTypeDefinition<_qstep_v1_RestoreRequest, _qstep_v1_RestoreRequest__Output>
      RestoreResponse: MessageTypeDefinition<_qstep_v1_RestoreResponse, _qstep_v1_RestoreResponse__Output>
      ServerInfoRequest: MessageTypeDefinition<_qstep_v1_ServerInfoRequest, _qstep_v1_ServerInfoRequest__Output>
      ServerInfoResponse: MessageTypeDefinition<_qstep_v1_ServerInfoResponse, _qstep_v1_ServerInfoResponse__Output>
      SnapshotHeader: MessageTypeDefinition<_qstep_v1_SnapshotHeader, _qstep_v1_SnapshotHeader__Output>
      SnapshotHeaderMore: MessageTypeDefinition<_qstep_v1_SnapshotHeaderMore, _qstep_v1_SnapshotHeaderMore__Output>
      SnapshotRequest: MessageTypeDefinition<_qstep_v1_SnapshotRequest, _qstep_v1_SnapshotRequest__Output>
      SnapshotResponse: MessageTypeDefinition<_qstep_v1_SnapshotResponse, _qstep_v1_SnapshotResponse__Output>
      StateFormat: EnumTypeDefinition
      StateMode: EnumTypeDefinition
      StepCommit: MessageTypeDefinition<_qstep_v1_StepCommit, _qstep_v1_StepCommit__Output>
      StepHeader: MessageTypeDefinition<_qstep_v1_StepHeader, _qstep_v1_StepHeader__Output>
      StepHeaderMore: MessageTypeDefinition<_qstep_v1_StepHeaderMore, _qstep_v1_StepHeaderMore__Output>
      StepLane: MessageTypeDefinition<_qstep_v1_StepLane, _qstep_v1_StepLane__Output>
      StepRequest: MessageTypeDefinition<_qstep_v1_StepRequest, _qstep_v1_StepRequest__Output>
      StepResponse: MessageTypeDefinition<_qstep_v1_StepResponse, _qstep_v1_StepResponse__Output>
      StepResult: MessageTypeDefinition<_qstep_v1_StepResult, _qstep_v1_StepResult__Output>
      StepResultMore: MessageTypeDefinition<_qstep_v1_StepResultMore, _qstep_v1_StepResultMore__Output>
      TensorChunk: MessageTypeDefinition<_qstep_v1_TensorChunk, _qstep_v1_TensorChunk__Output>
      TensorData: MessageTypeDefinition<_qstep_v1_TensorData, _qstep_v1_TensorData__Output>
      TensorDescriptor: MessageTypeDefinition<_qstep_v1_TensorDescriptor, _qstep_v1_TensorDescriptor__Output>
      TensorRole: EnumTypeDefinition
      UploadHeader: MessageTypeDefinition<_qstep_v1_UploadHeader, _qstep_v1_UploadHeader__Output>
      UploadRequest: MessageTypeDefinition<_qstep_v1_UploadRequest, _qstep_v1_UploadRequest__Output>
      UploadResponse: MessageTypeDefinition<_qstep_v1_UploadResponse, _qstep_v1_UploadResponse__Output>
    }
  }
}

