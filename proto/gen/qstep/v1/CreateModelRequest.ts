// Original file: proto/qstep/v1/model.proto

import type { ParameterSpec as _qstep_v1_ParameterSpec, ParameterSpec__Output as _qstep_v1_ParameterSpec__Output } from '../../qstep/v1/ParameterSpec';
import type { OptimizerConfig as _qstep_v1_OptimizerConfig, OptimizerConfig__Output as _qstep_v1_OptimizerConfig__Output } from '../../qstep/v1/OptimizerConfig';
import type { ParamOverride as _qstep_v1_ParamOverride, ParamOverride__Output as _qstep_v1_ParamOverride__Output } from '../../qstep/v1/ParamOverride';
import type { CheckpointPolicy as _qstep_v1_CheckpointPolicy, CheckpointPolicy__Output as _qstep_v1_CheckpointPolicy__Output } from '../../qstep/v1/CheckpointPolicy';

export interface CreateModelRequest {
  'name'?: (string);
  'parameters'?: (_qstep_v1_ParameterSpec)[];
  'optimizer'?: (_qstep_v1_OptimizerConfig | null);
  'overrides'?: ({[key: string]: _qstep_v1_ParamOverride});
  'checkpoint'?: (_qstep_v1_CheckpointPolicy | null);
  'parts'?: (number);
}

export interface CreateModelRequest__Output {
  'name': (string);
  'parameters': (_qstep_v1_ParameterSpec__Output)[];
  'optimizer': (_qstep_v1_OptimizerConfig__Output | null);
  'overrides': ({[key: string]: _qstep_v1_ParamOverride__Output});
  'checkpoint': (_qstep_v1_CheckpointPolicy__Output | null);
  'parts': (number);
}
