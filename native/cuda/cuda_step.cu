// The optimizer step on CUDA. Order and semantics mirror native/cpu/cpu_backend.cc: convert gradients to the
// parameter dtype, count non-finite elements of every gradient before anything changes (D4), then per parameter
// percentile clipping (docs/math.md §9), the LAMB/LARS norms (docs/math.md §11), and the state mode's update pass (docs/math.md §6, 7, 8.1).
// The host decisions between passes (percentile_scale, trust_scale of engine/policy.h) are batched over all
// parameters of the step, one read-back each.
#include <cuda_runtime_api.h>

#include <cmath>

#include "../engine/policy.h"
#include "../kernels/ops.h"
#include "cuda_check.h"
#include "cuda_device.h"

namespace qstep {
namespace {

// A gradient the caller already holds on this device (the benchmarks and the check program) is used in place;
// host bytes go through the pinned ring.
bool on_device(const void* p) {
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}

}  // namespace

Status CudaBackend::step(std::vector<StepWork>& work, bool error_on_non_finite, StepOutcome& out) {
  out = StepOutcome{};
  for (auto& w : work) {
    if (w.ps->freed) return Status::Error(Code::FREED, "parameter was freed");
  }
  std::lock_guard<std::mutex> lk(mu_);
  QSTEP_RETURN_IF_ERROR(enter());
  const size_t W = work.size();

  // Scratch for the whole step: every gradient stays on the device until the update, because all of them are
  // checked before any is applied (D4).
  struct Grad {
    bool host = false, convert = false;
    size_t raw = 0, conv = 0;
  };
  std::vector<Grad> gr(W);
  DeviceBooks dev_cb;
  std::vector<const Codebook*> books;
  Carve cv;
  for (size_t w = 0; w < W; ++w) {
    const ParamState& ps = *work[w].ps;
    const size_t n = size_t(ps.spec.n);
    gr[w].host = !on_device(work[w].grad);
    gr[w].convert = work[w].grad_dtype != ps.spec.dtype;
    if (gr[w].host) gr[w].raw = cv.take(n * size_t(dtype_bytes(work[w].grad_dtype)));
    if (gr[w].convert) gr[w].conv = cv.take(n * ps.elem_bytes());
    if (ps.quantized()) {
      for (const Codebook* b : {ps.cb1.get(), ps.has_state2 ? ps.cb2.get() : nullptr}) {
        if (b && !dev_cb.count(b)) {
          dev_cb[b] = nullptr;
          books.push_back(b);
        }
      }
    }
  }
  const size_t at_books = cv.take(books.size() * sizeof(Codebook));
  const size_t at_count = cv.take(W * sizeof(unsigned long long));
  const size_t at_sums = cv.take(3 * W * sizeof(double));
  const size_t at_partial = cv.take(kReducePartials * sizeof(double));
  const size_t at_s8 = cv.take((kMaxPartials * 3 + 3) * sizeof(float));
  QSTEP_RETURN_IF_ERROR(ws_.reserve(cv.total, stream_));
  auto* counts = reinterpret_cast<unsigned long long*>(ws_.at(at_count));
  auto* sums = reinterpret_cast<double*>(ws_.at(at_sums));
  auto* partial = reinterpret_cast<double*>(ws_.at(at_partial));
  auto* s8 = reinterpret_cast<float*>(ws_.at(at_s8));
  void* pinned = nullptr;
  QSTEP_RETURN_IF_ERROR(ring_.small(W * (sizeof(unsigned long long) + 3 * sizeof(double)) + 64, &pinned));

  // 1. Codebooks, then each gradient: upload (copy_), convert to the parameter dtype and count NaN/Inf (stream_).
  QSTEP_CUDA(cudaMemsetAsync(counts, 0, W * sizeof(unsigned long long), stream_));
  QSTEP_RETURN_IF_ERROR(copy_after_compute());
  for (size_t i = 0; i < books.size(); ++i) {
    auto* dst = reinterpret_cast<Codebook*>(ws_.at(at_books)) + i;
    QSTEP_RETURN_IF_ERROR(ring_.upload(dst, books[i], sizeof(Codebook), copy_));
    dev_cb[books[i]] = dst;
  }
  std::vector<const void*> grads(W);
  for (size_t w = 0; w < W; ++w) {
    const ParamState& ps = *work[w].ps;
    const int64_t n = ps.spec.n;
    const void* g = work[w].grad;
    if (gr[w].host) {
      QSTEP_RETURN_IF_ERROR(ring_.upload(ws_.at(gr[w].raw), g, size_t(n) * dtype_bytes(work[w].grad_dtype), copy_));
      g = ws_.at(gr[w].raw);
    }
    QSTEP_RETURN_IF_ERROR(compute_after_copy());
    if (gr[w].convert) {
      QSTEP_RETURN_IF_ERROR(launch_convert(work[w].grad_dtype, g, ps.spec.dtype, ws_.at(gr[w].conv), n, ctx()));
      g = ws_.at(gr[w].conv);
    }
    grads[w] = g;
    if (work[w].grad_finite && !narrows(work[w].grad_dtype, ps.spec.dtype)) continue;  // checked when staged
    QSTEP_RETURN_IF_ERROR(launch_count_non_finite(ps.spec.dtype, g, n, counts + w, ctx()));
  }
  QSTEP_CUDA(cudaMemcpyAsync(pinned, counts, W * sizeof(unsigned long long), cudaMemcpyDeviceToHost, stream_));
  QSTEP_RETURN_IF_ERROR(finish("checking gradients"));
  const auto* bad = static_cast<const unsigned long long*>(pinned);
  for (size_t w = 0; w < W; ++w) {
    if (bad[w]) out.non_finite.push_back(int(w));
  }
  if (!out.non_finite.empty()) return non_finite_outcome(work, error_on_non_finite, out);

  // 2. Constants and views; host decisions between passes are batched over all parameters, one read-back each.
  std::vector<StepConsts> cs(W);
  std::vector<DevView> views(W);
  for (size_t w = 0; w < W; ++w) {
    const ParamState& ps = *work[w].ps;
    cs[w] = make_consts(ps.spec.op, work[w].hyper, ps.step + 1);
    views[w] = view_of(ps, dev_cb);
  }
  auto read_sums = [&]() -> Status {
    QSTEP_CUDA(cudaMemcpyAsync(pinned, sums, 3 * W * sizeof(double), cudaMemcpyDeviceToHost, stream_));
    return finish("reducing norms");
  };
  const double* host_sums = static_cast<const double*>(pinned);
  bool any = false;
  for (size_t w = 0; w < W; ++w) {  // percentile clipping (docs/math.md §9): squared gradient norm
    const ParamState& ps = *work[w].ps;
    if (ps.spec.percentile >= 100) continue;
    any = true;
    QSTEP_RETURN_IF_ERROR(launch_sum_squares(ps.spec.dtype, grads[w], ps.spec.n, partial, sums + 3 * w, ctx()));
  }
  if (any) {
    QSTEP_RETURN_IF_ERROR(read_sums());
    for (size_t w = 0; w < W; ++w) {
      ParamState& ps = *work[w].ps;
      if (ps.spec.percentile >= 100) continue;
      cs[w].gnorm_scale = percentile_scale(ps.gnorm_hist, ps.step + 1, float(host_sums[3 * w]), ps.spec.percentile);
    }
  }
  auto trusted = [&](const ParamState& ps) {
    return ps.spec.trust && with_op(ps.spec.op, [](auto op) { return decltype(op)::kHasNormTerm; });
  };
  any = false;
  for (size_t w = 0; w < W; ++w) {  // LAMB/LARS (docs/math.md §11): parameter norm and update norm before the update
    const ParamState& ps = *work[w].ps;
    if (!trusted(ps)) continue;
    any = true;
    QSTEP_RETURN_IF_ERROR(prefetch(ps));
    QSTEP_RETURN_IF_ERROR(launch_sum_squares(ps.spec.dtype, ps.param.ptr, ps.spec.n, partial, sums + 3 * w + 1, ctx()));
    QSTEP_RETURN_IF_ERROR(launch_norm_pass(ps.spec.op, ps.spec.dtype, ps.spec.mode, cs[w], grads[w], views[w], partial,
                                           sums + 3 * w + 2, ctx()));
  }
  if (any) {
    QSTEP_RETURN_IF_ERROR(read_sums());
    for (size_t w = 0; w < W; ++w) {
      ParamState& ps = *work[w].ps;
      if (!trusted(ps)) continue;
      const float pnorm = float(std::sqrt(host_sums[3 * w + 1]));
      const float unorm = float(host_sums[3 * w + 2]);
      ps.unorm = unorm;
      cs[w].update_scale = trust_scale(unorm, pnorm, work[w].hyper.max_unorm, cs[w].eps, !op_trust_adds_eps(ps.spec.op));
    }
  }

  // 3. The update passes. A device fault here leaves the step partly applied; it is reported as INTERNAL.
  for (size_t w = 0; w < W; ++w) {
    const ParamState& ps = *work[w].ps;
    QSTEP_RETURN_IF_ERROR(prefetch(ps));
    QSTEP_RETURN_IF_ERROR(update_pass(ps, cs[w], grads[w], views[w], s8));
  }
  QSTEP_RETURN_IF_ERROR(finish("the optimizer step (parameters may be partly updated)"));
  for (size_t w = 0; w < W; ++w) {
    ParamState& ps = *work[w].ps;
    ps.step = cs[w].t;
    out.results.push_back(StepResult{cs[w].t, cs[w].gnorm_scale, cs[w].update_scale});
  }
  return Status::Ok();
}

Status CudaBackend::prefetch(const ParamState& ps) {
  if (!concurrent_managed_) return Status::Ok();  // pages then fault in on access (docs/math.md §14)
  cudaMemLocation to{};
  to.type = cudaMemLocationTypeDevice;
  to.id = device_;
  for (const Storage* s : {&ps.state1, &ps.state2}) {
    if (s->loc == Location::MANAGED) QSTEP_CUDA(cudaMemPrefetchAsync(s->ptr, s->bytes, to, 0, stream_));
  }
  return Status::Ok();
}

DevView CudaBackend::view_of(const ParamState& ps, const DeviceBooks& dev_cb) const {
  return state_view(ps, [&](const Codebook* cb) { return dev_cb.at(cb); });
}

Status CudaBackend::update_pass(const ParamState& ps, const StepConsts& c, const void* g, const DevView& v, float* s8) {
  void* p = ps.param.ptr;
  switch (ps.spec.mode) {
    case StateMode::FP32: return launch_fp32_update(ps.spec.op, ps.spec.dtype, c, p, g, v, ctx());
    case StateMode::BLOCKWISE8: return launch_blockwise8_update(ps.spec.op, ps.spec.dtype, c, p, g, v, ctx());
    case StateMode::STATIC8: return launch_static8_update(ps.spec.op, ps.spec.dtype, c, p, g, v, s8, ctx());
  }
  return Status::Error(Code::INTERNAL, "bad state mode");
}

}  // namespace qstep
