// A block of memory owned by a backend: host heap, a file-backed map (paged state on the CPU, docs/math.md §14/D11),
// device memory or CUDA managed memory. Backends allocate, fill and free it; the engine only passes it around.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qstep {

enum class Location { NONE = 0, HOST, HOST_MAPPED, DEVICE, MANAGED };

struct Storage {
  void* ptr = nullptr;
  size_t bytes = 0;
  Location loc = Location::NONE;
  int fd = -1;  // HOST_MAPPED: the (already unlinked) backing file
  bool own_map = false;  // HOST: an anonymous map of its own (munmap), else heap memory (free)

  bool paged() const { return loc == Location::HOST_MAPPED || loc == Location::MANAGED; }
  template <typename T> T* as() const { return static_cast<T*>(ptr); }
};

}  // namespace qstep
