// Original file: proto/qstep/v1/info.proto

import type { DeviceInfo as _qstep_v1_DeviceInfo, DeviceInfo__Output as _qstep_v1_DeviceInfo__Output } from '../../qstep/v1/DeviceInfo';
import type { Capabilities as _qstep_v1_Capabilities, Capabilities__Output as _qstep_v1_Capabilities__Output } from '../../qstep/v1/Capabilities';
import type { Limits as _qstep_v1_Limits, Limits__Output as _qstep_v1_Limits__Output } from '../../qstep/v1/Limits';

export interface ServerInfoResponse {
  'version'?: (string);
  'backend'?: (string);
  'threads'?: (number);
  'devices'?: (_qstep_v1_DeviceInfo)[];
  'capabilities'?: (_qstep_v1_Capabilities | null);
  'limits'?: (_qstep_v1_Limits | null);
}

export interface ServerInfoResponse__Output {
  'version': (string);
  'backend': (string);
  'threads': (number);
  'devices': (_qstep_v1_DeviceInfo__Output)[];
  'capabilities': (_qstep_v1_Capabilities__Output | null);
  'limits': (_qstep_v1_Limits__Output | null);
}
