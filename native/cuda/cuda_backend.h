// Entry points of the CUDA backend. In a build without nvcc, cuda_stub.cc answers "built without CUDA"; loading
// the addon never touches CUDA (the driver is first asked in cuda_probe).
#pragma once

#include <memory>
#include <string>

#include "../engine/backend.h"

namespace qstep {

struct CudaProbe {
  bool ok = false;
  int count = 0;
  std::string message;
};

bool cuda_built();
CudaProbe cuda_probe();
Status make_cuda_backend(int device, std::unique_ptr<Backend>& out);

}  // namespace qstep
