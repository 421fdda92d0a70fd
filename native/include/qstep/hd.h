// QSTEP_HD marks functions compiled for both host (g++) and device (nvcc): the per-element math is written once
// and shared by the CPU and CUDA backends (house style 2).
#pragma once

#if defined(__CUDACC__)
#define QSTEP_HD __host__ __device__ __forceinline__
#else
#define QSTEP_HD inline __attribute__((always_inline))
#endif
