// The CPU backend: the embedded default. Runs the shared per-element math on a thread pool.
#pragma once

#include <memory>

#include "../engine/backend.h"

namespace qstep {

// threads <= 0: one per hardware thread.
std::unique_ptr<Backend> make_cpu_backend(int threads);

}  // namespace qstep
