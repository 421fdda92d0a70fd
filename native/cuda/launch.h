// The CUDA launchers as the backend calls them: run-time kinds in, one templated kernel chosen by with_op /
// with_dtype (ops.h) out. Each launcher enqueues on the given stream, checks the launch, and returns a Status;
// none synchronises. Pointers are device (or managed) memory; sizes are 64-bit (house style 6).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "../formats/quantize.h"
#include "../formats/state_view.h"
#include "../kernels/consts.h"
#include "qstep/status.h"
#include "qstep/types.h"

namespace qstep {

// One parameter's state streams in device memory: the device twin of formats/state_view.h. cb[k] points at a
// device copy of stream k's Codebook (code values and decision midpoints).
// The device pointers of one parameter's state streams: the same view the CPU traversals take.
using DevView = StateView;

// Where and how wide to launch: the stream, and the device's multiprocessor count for persistent grids.
struct LaunchCtx {
  cudaStream_t stream = nullptr;
  int sms = 1;
};

// Deterministic sums: per-block partials over a grid that depends on n only, then one block adds the partials in
// a fixed order. `partial` holds kReducePartials doubles of scratch; the result lands in *out (device).
constexpr int kReducePartials = 1024;
// static8 pass 1 writes one maximum per CUDA block and stream.
constexpr int kMaxPartials = 1024;

// dst[i] = toDst(fromSrc(src[i])) (round to nearest even when narrowing).
Status launch_convert(DType from, const void* src, DType to, void* dst, int64_t n, const LaunchCtx& ctx);
// *out += number of NaN/Inf elements of g (g in dtype d). *out must be zeroed before.
Status launch_count_non_finite(DType d, const void* g, int64_t n, unsigned long long* out, const LaunchCtx& ctx);
// *out = sum of fromT(x[i])^2 (percentile clipping, docs/math.md §9; parameter norm, docs/math.md §11).
Status launch_sum_squares(DType d, const void* x, int64_t n, double* partial, double* out, const LaunchCtx& ctx);
// *out = LAMB/LARS squared update norm (docs/math.md §11) from the state before the update; only ops with a norm term.
Status launch_norm_pass(OpKind op, DType d, StateMode mode, const StepConsts& c, const void* g, const DevView& v,
                        double* partial, double* out, const LaunchCtx& ctx);

// The update pass of each state mode (docs/math.md §6, 7, 8.1). p, g in the parameter dtype d.
Status launch_fp32_update(OpKind op, DType d, const StepConsts& c, void* p, const void* g, const DevView& v,
                          const LaunchCtx& ctx);
Status launch_blockwise8_update(OpKind op, DType d, const StepConsts& c, void* p, const void* g, const DevView& v,
                                const LaunchCtx& ctx);
// static8: pass 1 (exact global max of the new state), pass 2 (update + encode), then the new max is stored.
// `scratch` holds kMaxPartials * 3 + 3 floats.
Status launch_static8_update(OpKind op, DType d, const StepConsts& c, void* p, const void* g, const DevView& v,
                             float* scratch, const LaunchCtx& ctx);

// Benchmark baseline: Adam's fp32 memory traffic (read 4 arrays of n floats, write 3) with trivial arithmetic.
Status launch_bandwidth_pass(float* p, const float* g, float* m, float* v, int64_t n, const LaunchCtx& ctx);

}  // namespace qstep
