// The CPU-only build: same API, and a clear answer that there is no CUDA backend.
#include "cuda_backend.h"

namespace qstep {

bool cuda_built() { return false; }

CudaProbe cuda_probe() { return CudaProbe{false, 0, "this build of qstep has no CUDA backend (nvcc was absent)"}; }

Status make_cuda_backend(int, std::unique_ptr<Backend>&) {
  return Status::Error(Code::NO_DEVICE, "no CUDA device: this build of qstep has no CUDA backend (nvcc was absent)");
}

}  // namespace qstep
