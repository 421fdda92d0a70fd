// Original file: proto/qstep/v1/step.proto

import type { GradientSpec as _qstep_v1_GradientSpec, GradientSpec__Output as _qstep_v1_GradientSpec__Output } from '../../qstep/v1/GradientSpec';
import type { Hyperparameters as _qstep_v1_Hyperparameters, Hyperparameters__Output as _qstep_v1_Hyperparameters__Output } from '../../qstep/v1/Hyperparameters';
import type { LaneSlice as _qstep_v1_LaneSlice, LaneSlice__Output as _qstep_v1_LaneSlice__Output } from '../../qstep/v1/LaneSlice';

export interface StepHeaderMore {
  'gradients'?: (_qstep_v1_GradientSpec)[];
  'paramHyper'?: ({[key: string]: _qstep_v1_Hyperparameters});
  'laneSlices'?: (_qstep_v1_LaneSlice)[];
}

export interface StepHeaderMore__Output {
  'gradients': (_qstep_v1_GradientSpec__Output)[];
  'paramHyper': ({[key: string]: _qstep_v1_Hyperparameters__Output});
  'laneSlices': (_qstep_v1_LaneSlice__Output)[];
}
