// The CUDA backend: parameters, state and scales in device memory (managed memory for paged state, spec 14/D11),
// stepped by the kernels of this directory over the same per-element math as the CPU backend (spec D1). The order
// and semantics of a step mirror native/cpu/cpu_backend.cc: convert gradients to the parameter dtype, count
// non-finite elements of every gradient before anything changes (D4), then per parameter percentile clipping
// (spec 9), the LAMB/LARS norms (spec 11), and the state mode's update pass.
//
// One call runs at a time (mu_), on two explicit streams: copy_ moves bytes between host and device through the
// pinned ring, stream_ runs kernels; events order one after the other, so the upload of the next gradient overlaps
// the kernels of the previous one. Every call synchronises before it returns, so no work outlives its call.
#include "cuda_backend.h"

#include <cuda_runtime_api.h>

#include <cmath>
#include <map>
#include <mutex>
#include <vector>

#include "../engine/policy.h"
#include "../kernels/ops.h"
#include "cuda_check.h"
#include "launch.h"
#include "staging.h"

namespace qstep {
namespace {

// Device memory kept free beside paged (managed) state: managed memory beyond what the card has free can hang the
// GPU, not only the process (device README), so the request must fit with this margin.
constexpr size_t kManagedHeadroom = size_t(256) << 20;

std::string mib(size_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {}

  Status init() {
    QSTEP_CUDA(cudaSetDevice(device_));
    cudaDeviceProp prop{};
    QSTEP_CUDA(cudaGetDeviceProperties(&prop, device_));
    name_ = prop.name;
    sms_ = prop.multiProcessorCount > 0 ? prop.multiProcessorCount : 1;
    int v = 0;
    QSTEP_CUDA(cudaDeviceGetAttribute(&v, cudaDevAttrManagedMemory, device_));
    managed_ = v != 0;
    QSTEP_CUDA(cudaDeviceGetAttribute(&v, cudaDevAttrConcurrentManagedAccess, device_));
    concurrent_managed_ = v != 0;
    QSTEP_CUDA(cudaDeviceGetAttribute(&v, cudaDevAttrMemoryPoolsSupported, device_));
    if (!v) {
      return Status::Error(Code::NO_DEVICE, "no CUDA device: device " + name_ + " lacks stream-ordered allocation");
    }
    QSTEP_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    QSTEP_CUDA(cudaStreamCreateWithFlags(&copy_, cudaStreamNonBlocking));
    QSTEP_CUDA(cudaEventCreateWithFlags(&copied_, cudaEventDisableTiming));
    QSTEP_CUDA(cudaEventCreateWithFlags(&computed_, cudaEventDisableTiming));
    return Status::Ok();
  }

  ~CudaBackend() override {
    std::lock_guard<std::mutex> lk(mu_);
    (void)cudaSetDevice(device_);
    if (stream_) (void)cudaStreamSynchronize(stream_);
    if (copy_) (void)cudaStreamSynchronize(copy_);
    drain_pending();
    if (stream_) {
      ws_.release(stream_);
      (void)cudaStreamSynchronize(stream_);
    }
    for (cudaEvent_t e : {copied_, computed_}) if (e) (void)cudaEventDestroy(e);
    for (cudaStream_t s : {stream_, copy_}) if (s) (void)cudaStreamDestroy(s);
  }

  const char* kind() const override { return "cuda"; }
  int threads() const override { return 1; }  // one host thread drives the device

  bool device_info(DeviceInfo& out) const override {
    size_t free_b = 0, total_b = 0;
    if (cudaSetDevice(device_) != cudaSuccess || cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
      (void)cudaGetLastError();
      return false;
    }
    out.name = name_;
    out.total_bytes = total_b;
    out.free_bytes = free_b;
    return true;
  }

  Status alloc(Storage& s, size_t bytes, bool paged, const std::string&) override {
    s = Storage{};
    if (bytes == 0) return Status::Ok();
    std::lock_guard<std::mutex> lk(mu_);
    QSTEP_RETURN_IF_ERROR(enter());
    void* p = nullptr;
    if (paged) {
      if (!managed_) {
        return Status::Error(Code::OUT_OF_MEMORY, "device " + name_ + " has no managed memory for paged state");
      }
      size_t free_b = 0, total_b = 0;
      QSTEP_CUDA(cudaMemGetInfo(&free_b, &total_b));
      if (bytes + kManagedHeadroom > free_b) {
        return Status::Error(Code::OUT_OF_MEMORY, "paged state of " + mib(bytes) + " exceeds the free device memory (" +
                                                      mib(free_b) + ", keeping " + mib(kManagedHeadroom) + " spare)");
      }
      QSTEP_CUDA(cudaMallocManaged(&p, bytes, cudaMemAttachGlobal));
      s = Storage{p, bytes, Location::MANAGED, -1};
    } else {
      QSTEP_CUDA(cudaMallocAsync(&p, bytes, stream_));
      s = Storage{p, bytes, Location::DEVICE, -1};
    }
    Status st = cuda_status(cudaMemsetAsync(p, 0, bytes, stream_), "cudaMemsetAsync");
    if (st.ok()) st = cuda_status(cudaStreamSynchronize(stream_), "zero-filling new memory");
    if (!st.ok()) {
      if (s.loc == Location::MANAGED) (void)cudaFree(p);
      else (void)cudaFreeAsync(p, stream_);
      s = Storage{};
    }
    return st;
  }

  // May run on the JS thread (a parameter's finalizer): device memory goes back stream-ordered without blocking;
  // managed memory (cudaFree synchronises the device) is freed now if no call is running, else by the next call.
  void release(Storage& s) override {
    if (s.loc == Location::DEVICE) {
      (void)cudaSetDevice(device_);
      if (cudaFreeAsync(s.ptr, stream_) != cudaSuccess) (void)cudaGetLastError();
    } else if (s.loc == Location::MANAGED) {
      {
        std::lock_guard<std::mutex> lk(pending_mu_);
        pending_managed_.push_back(s.ptr);
      }
      if (mu_.try_lock()) {
        (void)cudaSetDevice(device_);
        drain_pending();
        mu_.unlock();
      }
    }
    s = Storage{};
  }

  Status to_host(const Storage& s, size_t offset, void* dst, size_t bytes) override {
    if (offset + bytes > s.bytes) return Status::Error(Code::INTERNAL, "read past a buffer");
    if (bytes == 0) return Status::Ok();
    std::lock_guard<std::mutex> lk(mu_);
    QSTEP_RETURN_IF_ERROR(enter());
    QSTEP_RETURN_IF_ERROR(copy_after_compute());
    QSTEP_RETURN_IF_ERROR(ring_.download(dst, s.as<uint8_t>() + offset, bytes, copy_));
    return finish("reading device memory");
  }

  Status from_host(Storage& s, size_t offset, const void* src, size_t bytes) override {
    if (offset + bytes > s.bytes) return Status::Error(Code::INTERNAL, "write past a buffer");
    if (bytes == 0) return Status::Ok();
    std::lock_guard<std::mutex> lk(mu_);
    QSTEP_RETURN_IF_ERROR(enter());
    QSTEP_RETURN_IF_ERROR(ring_.upload(s.as<uint8_t>() + offset, src, bytes, copy_));
    return finish("writing device memory");
  }

  Status write_param(ParamState& ps, int64_t offset, const void* src, DType src_dtype, int64_t count) override {
    if (offset < 0 || count < 0 || offset + count > ps.spec.n) return Status::Error(Code::INVALID_ARGUMENT, "range");
    if (count == 0) return Status::Ok();
    std::lock_guard<std::mutex> lk(mu_);
    QSTEP_RETURN_IF_ERROR(enter());
    uint8_t* dst = ps.param.as<uint8_t>() + size_t(offset) * ps.elem_bytes();
    const size_t src_bytes = size_t(count) * size_t(dtype_bytes(src_dtype));
    if (src_dtype == ps.spec.dtype) {
      QSTEP_RETURN_IF_ERROR(ring_.upload(dst, src, src_bytes, copy_));
    } else {
      QSTEP_RETURN_IF_ERROR(ws_.reserve(src_bytes, stream_));
      QSTEP_RETURN_IF_ERROR(copy_after_compute());
      QSTEP_RETURN_IF_ERROR(ring_.upload(ws_.at(0), src, src_bytes, copy_));
      QSTEP_RETURN_IF_ERROR(compute_after_copy());
      QSTEP_RETURN_IF_ERROR(launch_convert(src_dtype, ws_.at(0), ps.spec.dtype, dst, count, ctx()));
    }
    return finish("writing parameter values");
  }

  Status read_param(ParamState& ps, int64_t offset, void* dst, DType dst_dtype, int64_t count) override {
    if (offset < 0 || count < 0 || offset + count > ps.spec.n) return Status::Error(Code::INVALID_ARGUMENT, "range");
    if (count == 0) return Status::Ok();
    std::lock_guard<std::mutex> lk(mu_);
    QSTEP_RETURN_IF_ERROR(enter());
    const uint8_t* src = ps.param.as<uint8_t>() + size_t(offset) * ps.elem_bytes();
    const size_t dst_bytes = size_t(count) * size_t(dtype_bytes(dst_dtype));
    if (dst_dtype == ps.spec.dtype) {
      QSTEP_RETURN_IF_ERROR(copy_after_compute());
      QSTEP_RETURN_IF_ERROR(ring_.download(dst, src, dst_bytes, copy_));
    } else {
      QSTEP_RETURN_IF_ERROR(ws_.reserve(dst_bytes, stream_));
      QSTEP_RETURN_IF_ERROR(launch_convert(ps.spec.dtype, src, dst_dtype, ws_.at(0), count, ctx()));
      QSTEP_RETURN_IF_ERROR(copy_after_compute());
      QSTEP_RETURN_IF_ERROR(ring_.download(dst, ws_.at(0), dst_bytes, copy_));
    }
    return finish("reading parameter values");
  }

  Status step(std::vector<StepWork>& work, bool error_on_non_finite, StepOutcome& out) override;

  // Benchmark baseline (Backend::bandwidth_probe): Adam-shaped traffic over n floats per array, timed with events.
  Status bandwidth_probe(int64_t n, int iters, double& ms_per_pass) {
    std::lock_guard<std::mutex> lk(mu_);
    QSTEP_RETURN_IF_ERROR(enter());
    n = (n + 3) / 4 * 4;
    const size_t bytes = size_t(n) * 4;
    Carve cv;
    const size_t op = cv.take(bytes), og = cv.take(bytes), om = cv.take(bytes), ov = cv.take(bytes);
    QSTEP_RETURN_IF_ERROR(ws_.reserve(cv.total, stream_));
    QSTEP_CUDA(cudaMemsetAsync(ws_.at(0), 0, cv.total, stream_));
    float* p = reinterpret_cast<float*>(ws_.at(op));
    float* m = reinterpret_cast<float*>(ws_.at(om));
    float* v = reinterpret_cast<float*>(ws_.at(ov));
    const float* g = reinterpret_cast<const float*>(ws_.at(og));
    QSTEP_RETURN_IF_ERROR(launch_bandwidth_pass(p, g, m, v, n, ctx()));  // warm-up
    cudaEvent_t t0 = nullptr, t1 = nullptr;
    QSTEP_CUDA(cudaEventCreate(&t0));
    QSTEP_CUDA(cudaEventCreate(&t1));
    Status st = cuda_status(cudaEventRecord(t0, stream_), "cudaEventRecord");
    for (int i = 0; st.ok() && i < iters; ++i) st = launch_bandwidth_pass(p, g, m, v, n, ctx());
    if (st.ok()) st = cuda_status(cudaEventRecord(t1, stream_), "cudaEventRecord");
    if (st.ok()) st = cuda_status(cudaEventSynchronize(t1), "bandwidth probe");
    float ms = 0.f;
    if (st.ok()) st = cuda_status(cudaEventElapsedTime(&ms, t0, t1), "cudaEventElapsedTime");
    (void)cudaEventDestroy(t0);
    (void)cudaEventDestroy(t1);
    ms_per_pass = double(ms) / iters;
    return st;
  }

 private:
  LaunchCtx ctx() const { return LaunchCtx{stream_, sms_}; }

  // Start of every call under mu_: this thread's current device, and managed frees left over by release().
  Status enter() {
    QSTEP_CUDA(cudaSetDevice(device_));
    drain_pending();
    return Status::Ok();
  }

  void drain_pending() {
    std::vector<void*> todo;
    {
      std::lock_guard<std::mutex> lk(pending_mu_);
      todo.swap(pending_managed_);
    }
    for (void* p : todo) {
      if (cudaFree(p) != cudaSuccess) (void)cudaGetLastError();
    }
  }

  Status copy_after_compute() {
    QSTEP_CUDA(cudaEventRecord(computed_, stream_));
    QSTEP_CUDA(cudaStreamWaitEvent(copy_, computed_, 0));
    return Status::Ok();
  }

  Status compute_after_copy() {
    QSTEP_CUDA(cudaEventRecord(copied_, copy_));
    QSTEP_CUDA(cudaStreamWaitEvent(stream_, copied_, 0));
    return Status::Ok();
  }

  // End of a call: both streams drained; a fault inside a kernel surfaces here.
  Status finish(const char* what) {
    QSTEP_RETURN_IF_ERROR(cuda_status(cudaStreamSynchronize(copy_), what));
    return cuda_status(cudaStreamSynchronize(stream_), what);
  }

  Status prefetch(const ParamState& ps) {
    if (!concurrent_managed_) return Status::Ok();  // pages then fault in on access (spec 14)
    cudaMemLocation to{};
    to.type = cudaMemLocationTypeDevice;
    to.id = device_;
    for (const Storage* s : {&ps.state1, &ps.state2}) {
      if (s->loc == Location::MANAGED) QSTEP_CUDA(cudaMemPrefetchAsync(s->ptr, s->bytes, to, 0, stream_));
    }
    return Status::Ok();
  }

  DevView view_of(const ParamState& ps, const std::map<const Codebook*, const Codebook*>& dev_cb) const {
    DevView v;
    v.n = ps.spec.n;
    v.block = ps.spec.block;
    v.blocks = ps.blocks;
    const int64_t n = ps.spec.n;
    for (int k = 0; k < ps.streams; ++k) {
      const bool in1 = k < ps.rows1;
      const int64_t row = in1 ? k : 0;
      const Storage& st = in1 ? ps.state1 : ps.state2;
      if (ps.quantized()) {
        v.codes[k] = st.as<uint8_t>() + row * n;
        v.scales[k] = (in1 ? ps.scales1 : ps.scales2).as<float>() + row * ps.blocks;
        v.cb[k] = dev_cb.at(in1 ? ps.cb1.get() : ps.cb2.get());
      } else {
        v.f32[k] = st.as<float>() + row * n;
      }
    }
    return v;
  }

  Status update_pass(const ParamState& ps, const StepConsts& c, const void* g, const DevView& v, float* s8) {
    void* p = ps.param.ptr;
    switch (ps.spec.mode) {
      case StateMode::FP32: return launch_fp32_update(ps.spec.op, ps.spec.dtype, c, p, g, v, ctx());
      case StateMode::BLOCKWISE8: return launch_blockwise8_update(ps.spec.op, ps.spec.dtype, c, p, g, v, ctx());
      case StateMode::STATIC8: return launch_static8_update(ps.spec.op, ps.spec.dtype, c, p, g, v, s8, ctx());
    }
    return Status::Error(Code::INTERNAL, "bad state mode");
  }

  const int device_;
  std::string name_;
  int sms_ = 1;
  bool managed_ = false, concurrent_managed_ = false;
  cudaStream_t stream_ = nullptr, copy_ = nullptr;
  cudaEvent_t copied_ = nullptr, computed_ = nullptr;
  std::mutex mu_;  // one call at a time: the streams, the arena and the ring are shared
  DeviceArena ws_;
  PinnedRing ring_;
  std::mutex pending_mu_;
  std::vector<void*> pending_managed_;
};

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
  std::map<const Codebook*, const Codebook*> dev_cb;
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
    QSTEP_RETURN_IF_ERROR(launch_count_non_finite(ps.spec.dtype, g, n, counts + w, ctx()));
  }
  QSTEP_CUDA(cudaMemcpyAsync(pinned, counts, W * sizeof(unsigned long long), cudaMemcpyDeviceToHost, stream_));
  QSTEP_RETURN_IF_ERROR(finish("checking gradients"));
  const auto* bad = static_cast<const unsigned long long*>(pinned);
  for (size_t w = 0; w < W; ++w) {
    if (bad[w]) out.non_finite.push_back(int(w));
  }
  if (!out.non_finite.empty()) {
    if (error_on_non_finite) {
      return Status::Error(Code::NON_FINITE, "gradient of item " + std::to_string(out.non_finite[0]) +
                                                 " holds NaN or Inf; nothing was changed");
    }
    out.skipped = true;
    for (auto& w : work) out.results.push_back(StepResult{w.ps->step, 1.f, 1.f});
    return Status::Ok();
  }

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
  for (size_t w = 0; w < W; ++w) {  // percentile clipping (spec 9): squared gradient norm
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
  for (size_t w = 0; w < W; ++w) {  // LAMB/LARS (spec 11): parameter norm and update norm before the update
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
      cs[w].update_scale = trust_scale(unorm, pnorm, work[w].hyper.max_unorm, cs[w].eps, ps.streams == 2);
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

}  // namespace

bool cuda_built() { return true; }

// The first CUDA call of the process happens here, never at load time. Without a driver, cudaGetDeviceCount
// answers cudaErrorInsufficientDriver (35) or cudaErrorNoDevice (100): reported, not fatal.
CudaProbe cuda_probe() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return CudaProbe{false, 0, std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e) + " (cuda error " +
                                   std::to_string(int(e)) + ")"};
  }
  if (count < 1) return CudaProbe{false, 0, "cudaGetDeviceCount found no device"};
  cudaDeviceProp prop{};
  std::string name = cudaGetDeviceProperties(&prop, 0) == cudaSuccess ? prop.name : "unknown";
  return CudaProbe{true, count, std::to_string(count) + " CUDA device(s); device 0: " + name};
}

Status make_cuda_backend(int device, std::unique_ptr<Backend>& out) {
  const CudaProbe p = cuda_probe();
  if (!p.ok) return Status::Error(Code::NO_DEVICE, "no CUDA device: " + p.message);
  if (device < 0 || device >= p.count) {
    return Status::Error(Code::NO_DEVICE, "no CUDA device: ordinal " + std::to_string(device) + " requested, " +
                                              std::to_string(p.count) + " present");
  }
  auto b = std::make_unique<CudaBackend>(device);
  QSTEP_RETURN_IF_ERROR(b->init());
  out = std::move(b);
  return Status::Ok();
}

}  // namespace qstep
