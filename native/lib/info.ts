// What the loaded addon is: its version (the package version it was built from) and whether it has CUDA.
import { binding } from './loader';

export const engineVersion: string = binding.version;
export const cudaBuilt: boolean = binding.cudaBuilt;

/**
 * Keeps up to `bytes` of freed heap memory in the process for reuse instead of returning it to the OS at every free
 * (glibc's M_TRIM_THRESHOLD; the server sets it, docs/service.md "Direct transport": Copies). False where the C
 * library is not glibc.
 */
export function setHeapTrimThreshold(bytes: number): boolean {
  return binding.setHeapTrimThreshold(bytes);
}
