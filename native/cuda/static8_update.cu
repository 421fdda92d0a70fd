// static8 state mode on CUDA: the intended two-pass algorithm of docs/math.md §8.1 (none of the quirks of 8.3), the CUDA
// twin of formats/static8.h. Pass 1 computes every element's new state from the state decoded with the old max and
// reduces max |new state| per stream: one partial per CUDA block, then one block folds the partials. fp32 max is
// order-independent, so the global max is exact and deterministic. Pass 2 recomputes the same new state, updates
// the parameter from it and encodes it against the new max; a last one-thread kernel stores the new max.
#include <cuda_runtime.h>

#include "../kernels/element.h"
#include "../kernels/ops.h"
#include "cuda_check.h"
#include "device_util.cuh"

namespace qstep {

constexpr int kGroup = 4;  // elements per thread and loop iteration (one 4-byte load of codes)

template <class Op, typename T>
__global__ __launch_bounds__(kThreads) void static8_max_kernel(StepConsts c, const T* __restrict__ p,
                                                               const T* __restrict__ g, DevView v, bool wide,
                                                               float* __restrict__ partial) {
  using R = Rounding<T, false>;
  constexpr int K = Op::kStreams, V = kGroup;
  __shared__ Codebook cb[K];
  __shared__ float red[K][kWarps];
  load_codebooks<K>(cb, v);
  __syncthreads();
  float old_scale[K], mx[K];
#pragma unroll
  for (int k = 0; k < K; ++k) { old_scale[k] = v.scales[k][0]; mx[k] = 0.f; }
  const int64_t n = v.n;
  for_each_group<V>(n, [&](int64_t i) {
    ElementGroup<K, T, uint8_t, V> e;
    e.load(p, g, v.codes, i, n, wide);
#pragma unroll
    for (int j = 0; j < V; ++j) {
      if (i + j >= n) break;
      float st[K];
#pragma unroll
      for (int k = 0; k < K; ++k) st[k] = cb[k].code[e.s[k][j]] * old_scale[k];
      element_step<Op, R>(c, load<T>(e.g[j]), load<T>(e.p[j]), st);
#pragma unroll
      for (int k = 0; k < K; ++k) mx[k] = fmaxf(mx[k], fabsf(st[k]));
    }
  });
  block_max_store<K>(mx, red, partial + blockIdx.x * K);
}

// One block: new_scale[k] = max over the partials of stream k.
template <int K>
__global__ __launch_bounds__(kThreads) void static8_fold_kernel(const float* __restrict__ partial, int count,
                                                                float* __restrict__ new_scale) {
  __shared__ float red[K][kWarps];
  float mx[K];
#pragma unroll
  for (int k = 0; k < K; ++k) mx[k] = 0.f;
  for (int i = threadIdx.x; i < count; i += blockDim.x) {
#pragma unroll
    for (int k = 0; k < K; ++k) mx[k] = fmaxf(mx[k], partial[i * K + k]);
  }
  block_max_store<K>(mx, red, new_scale);
}

template <class Op, typename T>
__global__ __launch_bounds__(kThreads) void static8_encode_kernel(StepConsts c, T* __restrict__ p,
                                                                  const T* __restrict__ g, DevView v, bool wide,
                                                                  const float* __restrict__ new_scale) {
  using R = Rounding<T, false>;
  constexpr int K = Op::kStreams, V = kGroup;
  __shared__ Codebook cb[K];
  load_codebooks<K>(cb, v);
  __syncthreads();
  float old_scale[K], scale[K], inv[K];
#pragma unroll
  for (int k = 0; k < K; ++k) {
    old_scale[k] = v.scales[k][0];
    scale[k] = new_scale[k];
    inv[k] = state_reciprocal(scale[k]);
  }
  const int64_t n = v.n;
  for_each_group<V>(n, [&](int64_t i) {
    ElementGroup<K, T, uint8_t, V> e;
    e.load(p, g, v.codes, i, n, wide);
#pragma unroll
    for (int j = 0; j < V; ++j) {
      float st[K];
#pragma unroll
      for (int k = 0; k < K; ++k) st[k] = cb[k].code[e.s[k][j]] * old_scale[k];
      e.p[j] = store<T>(element_step<Op, R>(c, load<T>(e.g[j]), load<T>(e.p[j]), st));
#pragma unroll
      for (int k = 0; k < K; ++k) e.s[k][j] = quantize_state(cb[k], st[k], scale[k], inv[k], stream_signed<Op>(k));
    }
    e.store(p, v.codes, i, n, wide);
  });
}

template <int K>
__global__ void static8_commit_kernel(DevView v, const float* __restrict__ new_scale) {
  if (threadIdx.x < K) v.scales[threadIdx.x][0] = new_scale[threadIdx.x];
}

Status launch_static8_update(OpKind op, DType d, const StepConsts& c, void* p, const void* g, const DevView& v,
                             float* scratch, const LaunchCtx& ctx) {
  float* partial = scratch;
  float* new_scale = scratch + kMaxPartials * 3;
  return with_op(op, [&](auto o) {
    return with_dtype(d, [&](auto t) {
      using Op = decltype(o);
      using T = decltype(t);
      constexpr int K = Op::kStreams;
      bool wide = aligned_to(p, kGroup * int(sizeof(T))) && aligned_to(g, kGroup * int(sizeof(T)));
      for (int k = 0; k < K; ++k) wide = wide && aligned_to(v.codes[k], kGroup);
      const int64_t groups = (v.n + kGroup - 1) / kGroup;
      unsigned grid = persistent_grid<static8_max_kernel<Op, T>>(groups, ctx.sms);
      if (grid > unsigned(kMaxPartials)) grid = kMaxPartials;
      static8_max_kernel<Op, T><<<grid, kThreads, 0, ctx.stream>>>(c, static_cast<const T*>(p),
                                                                   static_cast<const T*>(g), v, wide, partial);
      QSTEP_LAUNCHED("static8_max_kernel");
      static8_fold_kernel<K><<<1, kThreads, 0, ctx.stream>>>(partial, int(grid), new_scale);
      QSTEP_LAUNCHED("static8_fold_kernel");
      const unsigned encode_grid = persistent_grid<static8_encode_kernel<Op, T>>(groups, ctx.sms);
      static8_encode_kernel<Op, T><<<encode_grid, kThreads, 0, ctx.stream>>>(c, static_cast<T*>(p),
                                                                             static_cast<const T*>(g), v, wide,
                                                                             new_scale);
      QSTEP_LAUNCHED("static8_encode_kernel");
      static8_commit_kernel<K><<<1, 32, 0, ctx.stream>>>(v, new_scale);
      return launch_status("static8_commit_kernel");
    });
  });
}

}  // namespace qstep
