// Public entry of the qstep client library. Loads no native code: a training worker needs only this.
export { connect, QstepClient } from './client';
export type * from './types';
export { QstepError, Status } from './errors';
export { tlsFromFiles, tokenFromFile } from './security';
export { serverModelStep } from './resync';
export type { Resynced } from './resync';
export { toFloat32, toUint16 } from './tensors';
export type { Tensor, TensorData, TensorInput, TensorMap } from './tensors';
export { writeSnapshotFile, restoreSnapshotFile, readSnapshotFileHeader } from './snapshot-file';
export { SafetensorsWriter, readSafetensorsHeader, readSafetensorsData } from '../proto/safetensors';
