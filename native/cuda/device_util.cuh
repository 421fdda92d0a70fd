// Device-side helpers shared by the CUDA traversals: wide loads and stores, warp and block reductions, the
// Op-trait bridge for nvcc, and grid sizing. Included only by .cu files.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

#include "../formats/quantize.h"
#include "launch.h"

namespace qstep {

constexpr int kThreads = 256;            // threads per CUDA block everywhere
constexpr int kWarps = kThreads / 32;

// Op::kSigned is a constexpr array, which nvcc does not let device code read; its bits as one scalar it does.
template <class Op>
struct SignMask {
  static constexpr unsigned value = (Op::kSigned[0] ? 1u : 0u) |
                                    ((Op::kStreams > 1 && Op::kSigned[Op::kStreams > 1 ? 1 : 0]) ? 2u : 0u) |
                                    ((Op::kStreams > 2 && Op::kSigned[Op::kStreams > 2 ? 2 : 0]) ? 4u : 0u);
};
template <class Op>
__device__ __forceinline__ bool stream_signed(int k) {
  return (SignMask<Op>::value >> k) & 1u;
}

// A V-element group moved with one memory instruction (V * sizeof(E) is 1..16 bytes) or two (32 bytes).
template <int Bytes> struct RawWord;
template <> struct RawWord<1> { using type = uint8_t; };
template <> struct RawWord<2> { using type = uint16_t; };
template <> struct RawWord<4> { using type = uint32_t; };
template <> struct RawWord<8> { using type = uint2; };
template <> struct RawWord<16> { using type = uint4; };
template <> struct RawWord<32> { struct alignas(16) type { uint4 a, b; }; };

// Loads x[i .. i+V) into out; elements at or beyond n get `fill`. `wide` says every base pointer of the launch
// is aligned to a whole group, so a full group is one wide load.
template <int V, typename E>
__device__ __forceinline__ void load_group(const E* x, int64_t i, int64_t n, bool wide, E (&out)[V], E fill) {
  using W = typename RawWord<int(sizeof(E)) * V>::type;
  if (wide && i + V <= n) {
#if defined(QSTEP_CUDA_EMU)
    emu::check_aligned(x + i, alignof(W), "load_group");  // the device faults on a misaligned wide load
#endif
    const W w = *reinterpret_cast<const W*>(x + i);
    memcpy(out, &w, sizeof(W));
  } else {
#pragma unroll
    for (int j = 0; j < V; ++j) out[j] = i + j < n ? x[i + j] : fill;
  }
}

template <int V, typename E>
__device__ __forceinline__ void store_group(E* x, int64_t i, int64_t n, bool wide, const E (&in)[V]) {
  using W = typename RawWord<int(sizeof(E)) * V>::type;
  if (wide && i + V <= n) {
#if defined(QSTEP_CUDA_EMU)
    emu::check_aligned(x + i, alignof(W), "store_group");
#endif
    W w;
    memcpy(&w, in, sizeof(W));
    *reinterpret_cast<W*>(x + i) = w;
  } else {
#pragma unroll
    for (int j = 0; j < V; ++j) {
      if (i + j < n) x[i + j] = in[j];
    }
  }
}

// One thread's group of V consecutive elements of an elementwise traversal: parameter, gradient and the K state
// streams (fp32 values or 8-bit codes), loaded and stored together.
template <int K, typename T, typename S, int V>
struct ElementGroup {
  T p[V];
  T g[V];
  S s[K][V];

  __device__ __forceinline__ void load(const T* pp, const T* gg, S* const* streams, int64_t i, int64_t n, bool wide) {
    load_group<V>(pp, i, n, wide, p, T{});
    load_group<V>(gg, i, n, wide, g, T{});
#pragma unroll
    for (int k = 0; k < K; ++k) load_group<V>(streams[k], i, n, wide, s[k], S{});
  }

  __device__ __forceinline__ void store(T* pp, S* const* streams, int64_t i, int64_t n, bool wide) const {
    store_group<V>(pp, i, n, wide, p);
#pragma unroll
    for (int k = 0; k < K; ++k) store_group<V>(streams[k], i, n, wide, s[k]);
  }
};

// Grid-stride loop over the groups of V elements covering [0, n): f(i), i the group's first element.
template <int V, class F>
__device__ __forceinline__ void for_each_group(int64_t n, F&& f) {
  const int64_t groups = (n + V - 1) / V, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t q = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; q < groups; q += stride) f(q * V);
}

inline bool aligned_to(const void* p, int bytes) {
  return p == nullptr || (reinterpret_cast<uintptr_t>(p) % bytes) == 0;
}

__device__ __forceinline__ float warp_max(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}

// Block-wide max of each of K per-thread values (max is order-independent, so exact): thread k < K writes the
// maximum of stream k to out[k]. `red` is the block's shared scratch.
template <int K>
__device__ __forceinline__ void block_max_store(const float (&mx)[K], float (&red)[K][kWarps], float* out) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const float m = warp_max(mx[k]);
    if (lane == 0) red[k][warp] = m;
  }
  __syncthreads();
  if (threadIdx.x < K) {
    float m = 0.f;
    for (int w = 0; w < kWarps; ++w) m = fmaxf(m, red[threadIdx.x][w]);
    out[threadIdx.x] = m;
  }
}

__device__ __forceinline__ double warp_sum(double x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// Block-wide sum of one double per thread in a fixed order (warp butterflies, then warp 0 over the warp sums):
// the same inputs give the same bits on every run. Returns the total in thread 0.
__device__ __forceinline__ double block_sum(double x, double* smem /* kWarps */) {
  x = warp_sum(x);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) smem[warp] = x;
  __syncthreads();
  double t = 0.0;
  if (threadIdx.x == 0) {
#pragma unroll
    for (int w = 0; w < kWarps; ++w) t += smem[w];
  }
  return t;
}

// Copies K codebooks into shared memory (every thread of the block takes part; the caller syncs).
template <int K>
__device__ __forceinline__ void load_codebooks(Codebook (&dst)[K], const DevView& v) {
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const float* src = reinterpret_cast<const float*>(v.cb[k]);
    float* out = reinterpret_cast<float*>(&dst[k]);
    for (int i = threadIdx.x; i < 2 * kMapSize; i += blockDim.x) out[i] = src[i];
  }
}

// Blocks of `kernel` (kThreads each, static shared memory only) that fit on one multiprocessor at once, asked once
// per kernel: the grid of a grid-stride loop is exactly what the device holds resident, so no block waits for a
// second wave while the others idle at the end.
template <auto Kernel>
int resident_blocks() {
  static const int per_sm = [] {
    int n = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, Kernel, kThreads, 0) != cudaSuccess) {
      (void)cudaGetLastError();
      n = 0;
    }
    return n > 0 ? n : 4;
  }();
  return per_sm;
}

// Grid for a grid-stride loop over `items` work items of kThreads each: one resident wave, never more blocks than
// the work needs.
template <auto Kernel>
unsigned persistent_grid(int64_t items, int sms) {
  const int64_t want = (items + kThreads - 1) / kThreads;
  const int64_t cap = int64_t(sms) * resident_blocks<Kernel>();
  return unsigned(want < 1 ? 1 : (want < cap ? want : cap));
}

}  // namespace qstep
