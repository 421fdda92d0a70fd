// Element-wise CUDA passes around the optimizer step: gradient dtype conversion (docs/math.md D12: a gradient may arrive
// in another float dtype and is converted on arrival), the non-finite count that gates the whole step before
// anything changes (docs/math.md D4), and the bandwidth baseline the benchmarks divide by (house style 21).
#include <cuda_runtime.h>

#include "../kernels/ops.h"
#include "cuda_check.h"
#include "device_util.cuh"

namespace qstep {

// ---- kernels ----------------------------------------------------------------------------------------------------

template <typename Src, typename Dst>
__global__ __launch_bounds__(kThreads) void convert_kernel(const Src* __restrict__ src, Dst* __restrict__ dst,
                                                           int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    dst[i] = store<Dst>(load<Src>(src[i]));
  }
}

// Same test as the CPU backend: NaN compares false, +-Inf exceeds FLT_MAX. Four elements per thread and loop.
template <typename T>
__global__ __launch_bounds__(kThreads) void count_non_finite_kernel(const T* __restrict__ g, int64_t n, bool wide,
                                                                    unsigned long long* out) {
  constexpr int V = 4;
  const int64_t groups = (n + V - 1) / V;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  unsigned bad = 0;
  for (int64_t q = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; q < groups; q += stride) {
    T x[V];
    load_group<V>(g, q * V, n, wide, x, T{});
#pragma unroll
    for (int j = 0; j < V; ++j) bad += !(fabsf(load<T>(x[j])) <= 3.4028234663852886e38f);
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) bad += __shfl_xor_sync(0xffffffffu, bad, o);
  if ((threadIdx.x & 31) == 0 && bad) atomicAdd(out, (unsigned long long)bad);  // integer adds: order-free
}

__global__ __launch_bounds__(kThreads) void bandwidth_kernel(float4* __restrict__ p, const float4* __restrict__ g,
                                                             float4* __restrict__ m, float4* __restrict__ v,
                                                             int64_t groups) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < groups; i += stride) {
    const float4 gi = g[i];
    float4 mi = m[i], vi = v[i], pi = p[i];
    mi.x = 0.5f * mi.x + gi.x; mi.y = 0.5f * mi.y + gi.y; mi.z = 0.5f * mi.z + gi.z; mi.w = 0.5f * mi.w + gi.w;
    vi.x = 0.5f * vi.x + gi.x; vi.y = 0.5f * vi.y + gi.y; vi.z = 0.5f * vi.z + gi.z; vi.w = 0.5f * vi.w + gi.w;
    pi.x -= 1e-9f * gi.x; pi.y -= 1e-9f * gi.y; pi.z -= 1e-9f * gi.z; pi.w -= 1e-9f * gi.w;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi;
  }
}

// ---- launchers --------------------------------------------------------------------------------------------------

Status launch_convert(DType from, const void* src, DType to, void* dst, int64_t n, const LaunchCtx& ctx) {
  if (n <= 0) return Status::Ok();
  return with_dtype(from, [&](auto s) {
    return with_dtype(to, [&](auto d) {
      using S = decltype(s);
      using D = decltype(d);
      const unsigned grid = persistent_grid<convert_kernel<S, D>>(n, ctx.sms);
      convert_kernel<S, D><<<grid, kThreads, 0, ctx.stream>>>(static_cast<const S*>(src), static_cast<D*>(dst), n);
      return launch_status("convert_kernel");
    });
  });
}

Status launch_count_non_finite(DType d, const void* g, int64_t n, unsigned long long* out, const LaunchCtx& ctx) {
  if (n <= 0) return Status::Ok();
  return with_dtype(d, [&](auto tag) {
    using T = decltype(tag);
    const bool wide = aligned_to(g, 4 * int(sizeof(T)));
    const unsigned grid = persistent_grid<count_non_finite_kernel<T>>((n + 3) / 4, ctx.sms);
    count_non_finite_kernel<T><<<grid, kThreads, 0, ctx.stream>>>(static_cast<const T*>(g), n, wide, out);
    return launch_status("count_non_finite_kernel");
  });
}

Status launch_bandwidth_pass(float* p, const float* g, float* m, float* v, int64_t n, const LaunchCtx& ctx) {
  const int64_t groups = n / 4;  // the caller sizes n as a multiple of 4 on 16-byte aligned buffers
  bandwidth_kernel<<<persistent_grid<bandwidth_kernel>(groups, ctx.sms), kThreads, 0, ctx.stream>>>(
      reinterpret_cast<float4*>(p), reinterpret_cast<const float4*>(g), reinterpret_cast<float4*>(m),
      reinterpret_cast<float4*>(v), groups);
  return launch_status("bandwidth_kernel");
}

}  // namespace qstep
