// What a backend (CPU thread pool, CUDA device) provides to the engine. Every method returns a Status; none
// throws or exits. Calls on one ParamState are serialised by the caller holding ParamState::mu.
#pragma once

#include <string>
#include <vector>

#include "param_state.h"
#include "qstep/status.h"

namespace qstep {

struct StepWork {
  ParamState* ps = nullptr;
  const void* grad = nullptr;  // host bytes, grad_dtype, ps->spec.n elements
  DType grad_dtype = DType::F32;
  Hyper hyper;
  // Every element of grad was checked finite as it was staged (copy_checked) and has not changed since: the
  // backend may skip its own check pass unless a narrowing conversion (below) could overflow it to Inf.
  bool grad_finite = false;
};

// Converting from -> to can turn a finite value into Inf (fp32 -> fp16 overflows past 65504; fp32 or fp16 ->
// bf16 and bf16 -> fp16 may round or overflow to Inf). Widening to fp32 never does.
inline bool narrows(DType from, DType to) { return from != to && to != DType::F32; }

struct StepResult {
  int32_t step = 0;
  float gnorm_scale = 1.f;
  float update_scale = 1.f;
};

struct StepOutcome {
  bool skipped = false;
  std::vector<int> non_finite;  // indices into the work list
  std::vector<StepResult> results;
};

// The D4 outcome once a step's check found non-finite gradients (out.non_finite filled): NON_FINITE under policy
// 'error', else a skipped step reporting every parameter's unchanged counter. Nothing was changed either way.
inline Status non_finite_outcome(const std::vector<StepWork>& work, bool error_on_non_finite, StepOutcome& out) {
  if (error_on_non_finite) {
    return Status::Error(Code::NON_FINITE, "gradient of item " + std::to_string(out.non_finite[0]) +
                                               " holds NaN or Inf; nothing was changed");
  }
  out.skipped = true;
  for (const StepWork& w : work) out.results.push_back(StepResult{w.ps->step, 1.f, 1.f});
  return Status::Ok();
}

struct DeviceInfo {
  std::string name;
  size_t total_bytes = 0;
  size_t free_bytes = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* kind() const = 0;
  virtual int threads() const = 0;
  virtual bool device_info(DeviceInfo& out) const = 0;

  // Zero-filled memory; `paged` asks for pageable state (file-backed map on the CPU, managed memory on CUDA).
  virtual Status alloc(Storage& s, size_t bytes, bool paged, const std::string& paged_dir) = 0;
  virtual void release(Storage& s) = 0;
  // Makes an allocation's memory real so that later writes cannot fail or summon the OOM killer (issue 10,
  // "Memory admission"): host pages faulted in, a paged file's blocks reserved on disk. Keeps the contents. Runs
  // off the JS thread (it costs about a second per few GiB). Memory that is real from the start needs nothing.
  virtual Status commit(Storage& s) { (void)s; return Status::Ok(); }
  // Returns freed heap memory to the operating system (after a model is deleted). Nothing to do by default.
  virtual void trim() {}
  virtual Status to_host(const Storage& s, size_t offset, void* dst, size_t bytes) = 0;
  virtual Status from_host(Storage& s, size_t offset, const void* src, size_t bytes) = 0;
  // Bytes of a paged buffer resident in fast memory now (RAM for a file-backed map, the device for managed memory).
  virtual size_t resident_bytes(const Storage& s) const { return s.bytes; }

  // Parameter values with dtype conversion (round to nearest even when narrowing).
  virtual Status write_param(ParamState& ps, int64_t offset, const void* src, DType src_dtype, int64_t count) = 0;
  virtual Status read_param(ParamState& ps, int64_t offset, void* dst, DType dst_dtype, int64_t count) = 0;

  // One atomic step over several parameters (docs/math.md D4): all gradients are converted and checked for NaN/Inf
  // before anything changes. error_on_non_finite: return NON_FINITE instead of skipping.
  virtual Status step(std::vector<StepWork>& work, bool error_on_non_finite, StepOutcome& out) = 0;

  // Benchmark baseline: the memory traffic of an fp32 Adam step (read 4 arrays of n floats, write 3) with
  // trivial arithmetic, timed over `iters` repetitions on this backend's threads. Returns milliseconds per pass.
  virtual Status bandwidth_probe(int64_t n, int iters, double& ms_per_pass) {
    (void)n; (void)iters; (void)ms_per_pass;
    return Status::Error(Code::INVALID_ARGUMENT, std::string(kind()) + " backend has no bandwidth probe");
  }
};

}  // namespace qstep
