// CUDA errors become Status values (house style 5): a failed allocation is OUT_OF_MEMORY, a missing driver or
// device is NO_DEVICE, anything else (a bad launch, a device fault) is INTERNAL with the runtime's own words.
// Every launch is followed by launch_status() (llm.c's cudaCheck(cudaGetLastError()) without the exit()).
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "qstep/status.h"

namespace qstep {

inline Status cuda_status(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::Ok();
  (void)cudaGetLastError();  // clear a non-sticky error (e.g. a failed allocation) so later checks see their own
  std::string m = std::string(what) + ": " + cudaGetErrorString(e) + " (cuda error " + std::to_string(int(e)) + ")";
  switch (e) {
    case cudaErrorMemoryAllocation:
      return Status::Error(Code::OUT_OF_MEMORY, "device " + m);
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInvalidDevice:
      return Status::Error(Code::NO_DEVICE, "no CUDA device: " + m);
    default:
      return Status::Error(Code::INTERNAL, "CUDA " + m);
  }
}

// After a <<<...>>> launch: configuration errors show up here at once; faults inside the kernel surface at the
// next synchronising call, which is checked the same way.
inline Status launch_status(const char* kernel) { return cuda_status(cudaGetLastError(), kernel); }

#define QSTEP_CUDA(expr) QSTEP_RETURN_IF_ERROR(::qstep::cuda_status((expr), #expr))
#define QSTEP_LAUNCHED(name) QSTEP_RETURN_IF_ERROR(::qstep::launch_status(name))

}  // namespace qstep
