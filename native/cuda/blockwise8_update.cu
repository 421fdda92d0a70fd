// blockwise8 state mode on CUDA (docs/math.md §7): the CUDA twin of formats/blockwise8.h. One CUDA block of 256 threads
// per quantization block: 1 value per thread for B = 256, 8 consecutive values per thread for B = 2048 (the
// reduction width is the CUDA block, so B must equal 256 * V). Per block: decode with the old absmax, run
// element_step<Op, Rounding<T, false>>, take the exact max |new state| (warp shuffles, then shared memory; padded
// lanes of a partial last block included, 7.6), update the parameter from the unquantized state, store the new
// absmax and encode against it with the shared quantize_state (x = s * (1/absmax), binary search over the midpoints held in shared
// memory, sign fix for signed streams). No cross-block communication, so the pass is deterministic (7.7).
//
// The grid is persistent: each CUDA block walks quantization blocks b, b + gridDim.x, ... so the codebooks are
// copied to shared memory once per CUDA block, and the next block's inputs are loaded before the current one is
// reduced, keeping loads in flight across the two barriers of the reduction.
#include <cuda_runtime.h>

#include "../kernels/element.h"
#include "../kernels/ops.h"
#include "cuda_check.h"
#include "device_util.cuh"

namespace qstep {

// The inputs of one quantization block as one thread holds them.
template <int K, typename T, int V>
struct BlockInputs {
  T p[V];
  T g[V];
  uint8_t q[K][V];
  float scale[K];
};

template <int K, typename T, int V>
__device__ __forceinline__ void fetch_block(BlockInputs<K, T, V>& in, const T* p, const T* g, const DevView& v,
                                            int64_t b, bool wide) {
  const int64_t i = b * (kThreads * V) + int64_t(threadIdx.x) * V;
  load_group<V>(p, i, v.n, wide, in.p, T{});
  load_group<V>(g, i, v.n, wide, in.g, T{});
#pragma unroll
  for (int k = 0; k < K; ++k) {
    load_group<V>(v.codes[k], i, v.n, wide, in.q[k], uint8_t(0));
    in.scale[k] = v.scales[k][b];
  }
}

template <class Op, typename T, int V>
__global__ __launch_bounds__(kThreads) void blockwise8_kernel(StepConsts c, T* __restrict__ p,
                                                              const T* __restrict__ g, DevView v, bool wide) {
  using R = Rounding<T, false>;
  constexpr int K = Op::kStreams;
  constexpr int64_t B = int64_t(kThreads) * V;
  __shared__ Codebook cb[K];
  __shared__ float red[2][K][kWarps];  // per-warp maxima, double-buffered by iteration parity
  load_codebooks<K>(cb, v);
  __syncthreads();
  const int64_t n = v.n;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int64_t b = blockIdx.x;
  BlockInputs<K, T, V> cur;
  if (b < v.blocks) fetch_block<K, T, V>(cur, p, g, v, b, wide);
  for (int parity = 0; b < v.blocks; b += gridDim.x, parity ^= 1) {
    BlockInputs<K, T, V> next;
    if (b + gridDim.x < v.blocks) fetch_block<K, T, V>(next, p, g, v, b + gridDim.x, wide);
    const int64_t start = b * B;
    const int64_t i = start + int64_t(threadIdx.x) * V;
    float s[K][V];
    float mx[K];
#pragma unroll
    for (int k = 0; k < K; ++k) mx[k] = 0.f;
#pragma unroll
    for (int j = 0; j < V; ++j) {
      float st[K];
#pragma unroll
      for (int k = 0; k < K; ++k) st[k] = cb[k].code[cur.q[k][j]] * cur.scale[k];
      if (i + j < n) {
        cur.p[j] = store<T>(element_step<Op, R>(c, load<T>(cur.g[j]), load<T>(cur.p[j]), st));
#pragma unroll
        for (int k = 0; k < K; ++k) mx[k] = fmaxf(mx[k], fabsf(st[k]));
      }
#pragma unroll
      for (int k = 0; k < K; ++k) s[k][j] = st[k];
    }
    if (start + B > n) {
      // Padded lanes (7.6): g = 0, p = 0, code 128 (signed) or 0 (unsigned), as blockwise8_pad_max on the CPU.
      float st[K];
#pragma unroll
      for (int k = 0; k < K; ++k) st[k] = cb[k].code[stream_signed<Op>(k) ? 128 : 0] * cur.scale[k];
      element_step<Op, Rounding<float, false>>(c, 0.f, 0.f, st);
#pragma unroll
      for (int k = 0; k < K; ++k) mx[k] = fmaxf(mx[k], fabsf(st[k]));
    }
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const float m = warp_max(mx[k]);
      if (lane == 0) red[parity][k][warp] = m;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < K; ++k) {
      float m = 0.f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) m = fmaxf(m, red[parity][k][w]);
      mx[k] = m;
    }
    if (threadIdx.x == 0) {
#pragma unroll
      for (int k = 0; k < K; ++k) v.scales[k][b] = mx[k];
    }
    store_group<V>(p, i, n, wide, cur.p);
#pragma unroll
    for (int k = 0; k < K; ++k) {
      uint8_t out[V];
      const bool sgn = stream_signed<Op>(k);
      const float inv = state_reciprocal(mx[k]);
#pragma unroll
      for (int j = 0; j < V; ++j) out[j] = quantize_state(cb[k], s[k][j], mx[k], inv, sgn);
      store_group<V>(v.codes[k], i, n, wide, out);
    }
    cur = next;
  }
}

Status launch_blockwise8_update(OpKind op, DType d, const StepConsts& c, void* p, const void* g, const DevView& v,
                                const LaunchCtx& ctx) {
  if (v.block != kDefaultBlockSize && v.block != kCompatBlockSize) {
    return Status::Error(Code::INTERNAL, "blockwise8 on CUDA needs block 256 or 2048");
  }
  return with_op(op, [&](auto o) {
    return with_dtype(d, [&](auto t) {
      using Op = decltype(o);
      using T = decltype(t);
      auto run = [&](auto vtag) {
        constexpr int V = decltype(vtag)::value;
        bool wide = aligned_to(p, V * int(sizeof(T))) && aligned_to(g, V * int(sizeof(T)));
        for (int k = 0; k < Op::kStreams; ++k) wide = wide && aligned_to(v.codes[k], V);
        // One CUDA block per quantization block, as many at once as the device holds (persistent grid).
        const int64_t cap = int64_t(ctx.sms) * resident_blocks<blockwise8_kernel<Op, T, V>>();
        const unsigned grid = unsigned(v.blocks < cap ? v.blocks : cap);
        blockwise8_kernel<Op, T, V><<<grid, kThreads, 0, ctx.stream>>>(c, static_cast<T*>(p),
                                                                       static_cast<const T*>(g), v, wide);
        return launch_status("blockwise8_kernel");
      };
      static_assert(kDefaultBlockSize == kThreads && kCompatBlockSize == 8 * kThreads, "B = 256 threads x V");
      return v.block == kDefaultBlockSize ? run(std::integral_constant<int, 1>{})
                                          : run(std::integral_constant<int, 8>{});
    });
  });
}

}  // namespace qstep
