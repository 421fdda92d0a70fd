// fp32 state mode on CUDA (docs/math.md §6): the CUDA twin of formats/fp32.h. One pass; each thread takes groups of four
// consecutive elements with one wide load per array (16 bytes of fp32 state, 8 or 16 of parameter/gradient),
// grid-stride over a persistent grid. The element math is element_step<Op, Rounding<T, true>>, the same call the
// CPU traversal makes (house style 1-2), so the two backends agree to fp32 rounding.
#include <cuda_runtime.h>

#include "../kernels/element.h"
#include "../kernels/ops.h"
#include "cuda_check.h"
#include "device_util.cuh"

namespace qstep {

template <class Op, typename T>
__global__ __launch_bounds__(kThreads) void fp32_update_kernel(StepConsts c, T* __restrict__ p,
                                                               const T* __restrict__ g, DevView v, bool wide) {
  using R = Rounding<T, true>;
  constexpr int K = Op::kStreams;
  constexpr int V = 4;
  const int64_t n = v.n;
  for_each_group<V>(n, [&](int64_t i) {
    ElementGroup<K, T, float, V> e;
    e.load(p, g, v.f32, i, n, wide);
#pragma unroll
    for (int j = 0; j < V; ++j) {
      float st[K];
#pragma unroll
      for (int k = 0; k < K; ++k) st[k] = e.s[k][j];
      e.p[j] = store<T>(element_step<Op, R>(c, load<T>(e.g[j]), load<T>(e.p[j]), st));
#pragma unroll
      for (int k = 0; k < K; ++k) e.s[k][j] = st[k];
    }
    e.store(p, v.f32, i, n, wide);
  });
}

Status launch_fp32_update(OpKind op, DType d, const StepConsts& c, void* p, const void* g, const DevView& v,
                          const LaunchCtx& ctx) {
  return with_op(op, [&](auto o) {
    return with_dtype(d, [&](auto t) {
      using Op = decltype(o);
      using T = decltype(t);
      bool wide = aligned_to(p, 4 * int(sizeof(T))) && aligned_to(g, 4 * int(sizeof(T)));
      for (int k = 0; k < Op::kStreams; ++k) wide = wide && aligned_to(v.f32[k], 16);
      const unsigned grid = persistent_grid<fp32_update_kernel<Op, T>>((v.n + 3) / 4, ctx.sms);
      fp32_update_kernel<Op, T><<<grid, kThreads, 0, ctx.stream>>>(c, static_cast<T*>(p), static_cast<const T*>(g), v,
                                                                   wide);
      return launch_status("fp32_update_kernel");
    });
  });
}

}  // namespace qstep
