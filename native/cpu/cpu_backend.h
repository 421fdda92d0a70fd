// The CPU backend: the embedded default. Runs the shared per-element math on a thread pool.
#pragma once

#include <memory>

#include "../engine/backend.h"

namespace qstep {

// threads <= 0: one per hardware thread. paged_budget_bytes > 0: after a step, paged state beyond this many
// resident bytes is written back to its file and dropped from RAM (0: leave it to the kernel's page cache).
std::unique_ptr<Backend> make_cpu_backend(int threads, size_t paged_budget_bytes = 0);

}  // namespace qstep
