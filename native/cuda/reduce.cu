// Deterministic sums on CUDA: the squared gradient norm of percentile clipping (docs/math.md §9), the parameter norm and
// the update norm of LAMB/LARS (docs/math.md §11). bnb adds these with atomics (7.7: not bit-deterministic); here every
// thread adds its grid-stride share in double, each block adds its threads in a fixed tree, and one block adds
// the block partials in a fixed order. The grid depends on n only, so a sum has the same bits on every run and
// every device. The norm terms are element_norm_term<Op>, the function the CPU's fp32_norm / blockwise8_norm /
// static8_norm call.
#include <cuda_runtime.h>

#include "../kernels/element.h"
#include "../kernels/ops.h"
#include "cuda_check.h"
#include "device_util.cuh"

namespace qstep {

template <typename T>
struct SquareTerm {
  const T* x;
  __device__ float operator()(int64_t i) const {
    const float v = load<T>(x[i]);
    return v * v;
  }
};

// The decoded old state of element i, per state mode.
template <int K>
struct Fp32State {
  DevView v;
  __device__ void operator()(int64_t i, float (&s)[K]) const {
#pragma unroll
    for (int k = 0; k < K; ++k) s[k] = v.f32[k][i];
  }
};
template <int K>
struct Blockwise8State {
  DevView v;
  __device__ void operator()(int64_t i, float (&s)[K]) const {
    const int64_t b = i / v.block;
#pragma unroll
    for (int k = 0; k < K; ++k) s[k] = v.cb[k]->code[v.codes[k][i]] * v.scales[k][b];
  }
};
template <int K>
struct Static8State {
  DevView v;
  __device__ void operator()(int64_t i, float (&s)[K]) const {
#pragma unroll
    for (int k = 0; k < K; ++k) s[k] = v.cb[k]->code[v.codes[k][i]] * v.scales[k][0];
  }
};

template <class Op, typename T, class State>
struct NormTerm {
  StepConsts c;
  const T* g;
  State state;
  __device__ float operator()(int64_t i) const {
    float s[Op::kStreams];
    state(i, s);
    return element_norm_term<Op>(c, load<T>(g[i]), s);
  }
};

template <class F>
__global__ __launch_bounds__(kThreads) void reduce_kernel(F term, int64_t n, double* __restrict__ partial) {
  __shared__ double smem[kWarps];
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  double acc = 0.0;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) acc += double(term(i));
  const double t = block_sum(acc, smem);
  if (threadIdx.x == 0) partial[blockIdx.x] = t;
}

__global__ __launch_bounds__(kThreads) void finish_sum_kernel(const double* __restrict__ partial, int count,
                                                              double* __restrict__ out) {
  __shared__ double smem[kWarps];
  double acc = 0.0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
  const double t = block_sum(acc, smem);
  if (threadIdx.x == 0) *out = t;
}

// A function of n alone (never of the device), so that the summation order is fixed.
static unsigned reduce_grid(int64_t n) {
  const int64_t per_block = int64_t(kThreads) * 16;
  const int64_t want = (n + per_block - 1) / per_block;
  return unsigned(want < 1 ? 1 : (want > kReducePartials ? kReducePartials : want));
}

template <class F>
static Status run_sum(const F& term, int64_t n, double* partial, double* out, const LaunchCtx& ctx) {
  const unsigned grid = reduce_grid(n);
  reduce_kernel<F><<<grid, kThreads, 0, ctx.stream>>>(term, n, partial);
  QSTEP_LAUNCHED("reduce_kernel");
  finish_sum_kernel<<<1, kThreads, 0, ctx.stream>>>(partial, int(grid), out);
  return launch_status("finish_sum_kernel");
}

Status launch_sum_squares(DType d, const void* x, int64_t n, double* partial, double* out, const LaunchCtx& ctx) {
  return with_dtype(d, [&](auto tag) {
    using T = decltype(tag);
    return run_sum(SquareTerm<T>{static_cast<const T*>(x)}, n, partial, out, ctx);
  });
}

Status launch_norm_pass(OpKind op, DType d, StateMode mode, const StepConsts& c, const void* g, const DevView& v,
                        double* partial, double* out, const LaunchCtx& ctx) {
  return with_op(op, [&](auto o) {
    return with_dtype(d, [&](auto tag) -> Status {
      using Op = decltype(o);
      using T = decltype(tag);
      if constexpr (!Op::kHasNormTerm) {
        return Status::Error(Code::INTERNAL, "this optimizer has no update-norm term");
      } else {
        constexpr int K = Op::kStreams;
        const T* gt = static_cast<const T*>(g);
        switch (mode) {
          case StateMode::FP32:
            return run_sum(NormTerm<Op, T, Fp32State<K>>{c, gt, {v}}, v.n, partial, out, ctx);
          case StateMode::BLOCKWISE8:
            return run_sum(NormTerm<Op, T, Blockwise8State<K>>{c, gt, {v}}, v.n, partial, out, ctx);
          case StateMode::STATIC8:
            return run_sum(NormTerm<Op, T, Static8State<K>>{c, gt, {v}}, v.n, partial, out, ctx);
        }
        return Status::Error(Code::INTERNAL, "bad state mode");
      }
    });
  });
}

}  // namespace qstep
