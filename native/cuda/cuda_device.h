// The CUDA backend's class, shared by its two translation units: cuda_backend.cu (device set-up, memory, values
// in and out) and cuda_step.cu (the optimizer step). Only native/cuda/ includes this; the rest of the engine sees
// the Backend interface through cuda_backend.h.
//
// One call runs at a time (mu_), on two explicit streams: copy_ moves bytes between host and device through the
// pinned ring, stream_ runs kernels; events order one after the other, so the upload of the next gradient overlaps
// the kernels of the previous one. Every call synchronises before it returns, so no work outlives its call.
#pragma once

#include <cuda_runtime_api.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "../engine/backend.h"
#include "launch.h"
#include "staging.h"

namespace qstep {

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {}
  Status init();
  ~CudaBackend() override;

  const char* kind() const override { return "cuda"; }
  int threads() const override { return 1; }  // one host thread drives the device
  bool device_info(DeviceInfo& out) const override;

  Status alloc(Storage& s, size_t bytes, bool paged, const std::string& paged_dir) override;
  // May run on the JS thread (a parameter's finalizer): never waits for a running call.
  void release(Storage& s) override;
  Status to_host(const Storage& s, size_t offset, void* dst, size_t bytes) override;
  Status from_host(Storage& s, size_t offset, const void* src, size_t bytes) override;
  Status write_param(ParamState& ps, int64_t offset, const void* src, DType src_dtype, int64_t count) override;
  Status read_param(ParamState& ps, int64_t offset, void* dst, DType dst_dtype, int64_t count) override;
  Status step(std::vector<StepWork>& work, bool error_on_non_finite, StepOutcome& out) override;
  Status bandwidth_probe(int64_t n, int iters, double& ms_per_pass) override;

 private:
  using DeviceBooks = std::map<const Codebook*, const Codebook*>;  // host codebook -> its copy in the arena

  LaunchCtx ctx() const { return LaunchCtx{stream_, sms_}; }
  Status enter();
  void drain_pending();
  Status copy_after_compute();
  Status compute_after_copy();
  Status finish(const char* what);
  Status prefetch(const ParamState& ps);
  DevView view_of(const ParamState& ps, const DeviceBooks& dev_cb) const;
  Status update_pass(const ParamState& ps, const StepConsts& c, const void* g, const DevView& v, float* s8);

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
  std::vector<void*> pending_managed_;  // managed frees that release() could not do without waiting
};

}  // namespace qstep
