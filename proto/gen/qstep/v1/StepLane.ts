// Original file: proto/qstep/v1/step.proto

import type { LaneSlice as _qstep_v1_LaneSlice, LaneSlice__Output as _qstep_v1_LaneSlice__Output } from '../../qstep/v1/LaneSlice';

export interface StepLane {
  'index'?: (number);
  'count'?: (number);
  'slices'?: (_qstep_v1_LaneSlice)[];
}

export interface StepLane__Output {
  'index': (number);
  'count': (number);
  'slices': (_qstep_v1_LaneSlice__Output)[];
}
