// qstep CUDA emulator, kernel half: the execution model of native/cuda/ on the host. A launch runs its blocks one
// after another on the launching thread; a block's threads are fibers (ucontext) scheduled round robin, meeting at
// __syncthreads and exchanging warp shuffles through a per-warp slot array between two warp barriers. __shared__
// variables become function statics, sound because blocks never overlap (one launch at a time per process, as
// the backend's call lock gives). native/tests/emu/emu_launch.py rewrites each
// `kernel<<<grid, block, smem, stream>>>(args)` into `::emu::launch(grid, block, smem, stream, [&] { kernel(args); })`.
// Wide loads are checked for alignment, as the device would fault on a misaligned one.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "cuda_runtime_api.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __restrict__ __restrict

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct uint2 { unsigned x, y; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
struct alignas(16) float4 { float x, y, z, w; };

namespace emu {
extern thread_local dim3 thread_idx, block_idx, block_dim, grid_dim;
void sync_block();
uint64_t shuffle_xor(uint64_t bits, int offset);
void launch(dim3 grid, dim3 block, size_t smem, cudaStream_t s, const std::function<void()>& body);
void check_aligned(const void* p, size_t bytes, const char* what);
}  // namespace emu

#define threadIdx (::emu::thread_idx)
#define blockIdx (::emu::block_idx)
#define blockDim (::emu::block_dim)
#define gridDim (::emu::grid_dim)

inline void __syncthreads() { emu::sync_block(); }

template <typename V>
inline V __shfl_xor_sync(unsigned, V v, int offset) {
  static_assert(sizeof(V) <= 8, "shuffle of at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(V));
  bits = emu::shuffle_xor(bits, offset);
  V out;
  std::memcpy(&out, &bits, sizeof(V));
  return out;
}

inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  return std::atomic_ref<unsigned long long>(*p).fetch_add(v);
}
