// What the loaded addon is: its version (the package version it was built from) and whether it has CUDA.
import { binding } from './loader';

export const engineVersion: string = binding.version;
export const cudaBuilt: boolean = binding.cudaBuilt;
