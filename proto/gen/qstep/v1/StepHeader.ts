// Original file: proto/qstep/v1/step.proto

import type { GradientSpec as _qstep_v1_GradientSpec, GradientSpec__Output as _qstep_v1_GradientSpec__Output } from '../../qstep/v1/GradientSpec';
import type { DType as _qstep_v1_DType, DType__Output as _qstep_v1_DType__Output } from '../../qstep/v1/DType';
import type { Hyperparameters as _qstep_v1_Hyperparameters, Hyperparameters__Output as _qstep_v1_Hyperparameters__Output } from '../../qstep/v1/Hyperparameters';
import type { NonFinitePolicy as _qstep_v1_NonFinitePolicy, NonFinitePolicy__Output as _qstep_v1_NonFinitePolicy__Output } from '../../qstep/v1/NonFinitePolicy';
import type { StepLane as _qstep_v1_StepLane, StepLane__Output as _qstep_v1_StepLane__Output } from '../../qstep/v1/StepLane';
import type { Long } from '@grpc/proto-loader';

export interface StepHeader {
  'model'?: (string);
  'workerId'?: (string);
  'stepId'?: (number | string | Long);
  'gradients'?: (_qstep_v1_GradientSpec)[];
  'gradDtype'?: (_qstep_v1_DType);
  'hyper'?: (_qstep_v1_Hyperparameters | null);
  'paramHyper'?: ({[key: string]: _qstep_v1_Hyperparameters});
  'returnWeights'?: (boolean);
  'weightsDtype'?: (_qstep_v1_DType);
  'nonFinite'?: (_qstep_v1_NonFinitePolicy);
  'expectedModelStep'?: (number | string | Long);
  'lane'?: (_qstep_v1_StepLane | null);
  'headerParts'?: (number);
  '_expectedModelStep'?: "expectedModelStep";
}

export interface StepHeader__Output {
  'model': (string);
  'workerId': (string);
  'stepId': (number);
  'gradients': (_qstep_v1_GradientSpec__Output)[];
  'gradDtype': (_qstep_v1_DType__Output);
  'hyper': (_qstep_v1_Hyperparameters__Output | null);
  'paramHyper': ({[key: string]: _qstep_v1_Hyperparameters__Output});
  'returnWeights': (boolean);
  'weightsDtype': (_qstep_v1_DType__Output);
  'nonFinite': (_qstep_v1_NonFinitePolicy__Output);
  'expectedModelStep'?: (number);
  'lane': (_qstep_v1_StepLane__Output | null);
  'headerParts': (number);
  '_expectedModelStep'?: "expectedModelStep";
}
